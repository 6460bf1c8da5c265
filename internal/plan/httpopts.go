package plan

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Limits of the http block and of files that a plan names.
const (
	// MaxRedirects is the maximum value of http.max_redirects.
	MaxRedirects = 100
	// MaxFileSize is the maximum size in bytes of a CA bundle, client
	// certificate or key file.
	MaxFileSize = 1 << 20
)

var httpKeys = []string{"max_redirects", "max_connections", "compression", "host", "insecure_skip_verify", "ca_file", "cert_file", "key_file", "cookies", "http2"}

// HTTP is the part of a plan that sets how requests are sent, for every
// task. Files that the plan names are read by Parse and carried as their
// contents, so workers do not need them.
type HTTP struct {
	// MaxRedirects is how many redirects a request follows, or 0 to
	// follow none. Each redirect is a request of the same task.
	MaxRedirects int `json:"max_redirects" msgpack:"max_redirects"`
	// MaxConnections caps the connections of one worker to one host, or
	// is 0 for one connection per user.
	MaxConnections int `json:"max_connections" msgpack:"max_connections"`
	// Compression makes requests accept gzip, deflate and br encoded
	// responses.
	Compression bool `json:"compression" msgpack:"compression"`
	// Host, when set, replaces the Host header of every request.
	Host string `json:"host" msgpack:"host"`
	// InsecureSkipVerify turns off verification of the target's TLS
	// certificate.
	InsecureSkipVerify bool `json:"insecure_skip_verify" msgpack:"insecure_skip_verify"`
	// CA is a PEM bundle of certificate authorities that verify the
	// target, read from ca_file. Empty means the system's roots.
	CA string `json:"ca" msgpack:"ca"`
	// Cert and Key are the PEM client certificate and key for mutual
	// TLS, read from cert_file and key_file. Both are set or neither.
	Cert string `json:"cert" msgpack:"cert"`
	Key  string `json:"key" msgpack:"key"`
	// Cookies gives every virtual user a cookie jar. Parse sets it to
	// true unless the plan sets cookies: false.
	Cookies bool `json:"cookies" msgpack:"cookies"`
	// HTTP2 sends every request over HTTP/2: to https targets through
	// TLS ALPN, to http targets as h2c with prior knowledge. A target
	// that does not speak HTTP/2 fails the requests. False means
	// HTTP/1.1.
	HTTP2 bool `json:"http2" msgpack:"http2"`
}

// httpOptions reads the optional http mapping.
func (d *decoder) httpOptions(f map[string]entry) HTTP {
	h := HTTP{Cookies: true}
	e, ok := f["http"]
	if !ok || e.value.Kind == yaml.AliasNode {
		return h
	}
	if e.value.Kind != yaml.MappingNode {
		d.addf(e.value, "http", "%s: http must be a mapping with keys such as max_redirects and compression", invalid(e.value))
		return h
	}

	hf := d.fields(e.value, "http", httpKeys)
	if e, ok := hf["max_redirects"]; ok {
		n, _ := d.count(e.value, "http.max_redirects", 0, MaxRedirects, "5")
		h.MaxRedirects = int(n)
	}
	if e, ok := hf["max_connections"]; ok {
		n, _ := d.count(e.value, "http.max_connections", 1, math.MaxInt32, "200")
		h.MaxConnections = int(n)
	}
	if e, ok := hf["compression"]; ok {
		h.Compression = d.flag(e.value, "http.compression")
	}
	if e, ok := hf["host"]; ok {
		h.Host = d.hostHeader(e.value, "http.host")
	}
	if e, ok := hf["insecure_skip_verify"]; ok {
		h.InsecureSkipVerify = d.flag(e.value, "http.insecure_skip_verify")
	}
	if e, ok := hf["cookies"]; ok {
		h.Cookies = d.flag(e.value, "http.cookies")
	}
	if e, ok := hf["http2"]; ok {
		h.HTTP2 = d.flag(e.value, "http.http2")
	}
	d.tlsFiles(e.value, hf, &h)
	return h
}

// tlsFiles reads ca_file, cert_file and key_file of the http mapping m
// and checks that they contain what their keys promise.
func (d *decoder) tlsFiles(m *yaml.Node, hf map[string]entry, h *HTTP) {
	if e, ok := hf["ca_file"]; ok {
		if pem, ok := d.file(e.value, "http.ca_file", MaxFileSize); ok {
			if x509.NewCertPool().AppendCertsFromPEM([]byte(pem)) {
				h.CA = pem
			} else {
				d.addf(e.value, "http.ca_file", "%s: file contains no PEM certificate; give a PEM bundle of CA certificates", invalid(e.value))
			}
		}
	}

	eCert, hasCert := hf["cert_file"]
	eKey, hasKey := hf["key_file"]
	switch {
	case hasCert && !hasKey:
		d.addf(m, "http.key_file", "missing key key_file; cert_file needs the client key too")
	case hasKey && !hasCert:
		d.addf(m, "http.cert_file", "missing key cert_file; key_file needs the client certificate too")
	}
	var cert, key string
	certOK, keyOK := false, false
	if hasCert {
		cert, certOK = d.file(eCert.value, "http.cert_file", MaxFileSize)
	}
	if hasKey {
		key, keyOK = d.file(eKey.value, "http.key_file", MaxFileSize)
	}
	if !certOK || !keyOK {
		return
	}
	if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
		d.addf(eCert.value, "http.cert_file", "%s: invalid client certificate and key: %v", invalid(eCert.value), err)
		return
	}
	h.Cert, h.Key = cert, key
}

// flag reads a boolean.
func (d *decoder) flag(v *yaml.Node, key string) bool {
	rule := leaf(key) + " must be true or false"
	if !d.scalar(v, key, rule) {
		return false
	}
	var b bool
	if v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return false
	}
	return b
}

// hostHeader reads a Host header value: a host name or address with an
// optional port.
func (d *decoder) hostHeader(v *yaml.Node, key string) string {
	const rule = "host must be a host name such as shop.example.test or shop.example.test:8080"
	s, ok := d.text(v, key, rule)
	if !ok {
		return ""
	}
	if s == "" || strings.ContainsAny(s, "/?#@ ") || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		d.addf(v, key, "%s: %s, without a scheme, path or spaces", invalid(v), rule)
		return ""
	}
	return s
}

// file reads the file named by the value v, relative to the plan file's
// directory, and returns its contents.
func (d *decoder) file(v *yaml.Node, key string, maxSize int64) (string, bool) {
	name, ok := d.text(v, key, leaf(key)+" must be a file path such as data/payload.json")
	if !ok {
		return "", false
	}
	if name == "" {
		d.addf(v, key, "%s: %s must not be empty", invalid(v), leaf(key))
		return "", false
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.dir, path)
	}

	data, err := readLimited(path, maxSize)
	switch {
	case errors.Is(err, errTooLarge):
		d.addf(v, key, "file %s is over the limit of %d bytes; use a smaller file", path, maxSize)
	case errors.Is(err, fs.ErrNotExist):
		d.addf(v, key, "file not found: %v; paths are relative to the plan file's directory", err)
	case err != nil:
		d.addf(v, key, "cannot read file: %v", err)
	default:
		return string(data), true
	}
	return "", false
}

var errTooLarge = errors.New("file too large")

// readLimited reads the file at path, or returns errTooLarge when it has
// more than maxSize bytes.
func readLimited(path string, maxSize int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxSize {
		return nil, errTooLarge
	}
	return data, nil
}
