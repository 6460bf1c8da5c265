package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/plan"
)

// clientPool holds one client per scheme, host address and TLS server
// name, shared by the tasks and by the redirects of an engine. It is safe
// for concurrent use.
type clientPool struct {
	http    plan.HTTP
	users   int
	timeout time.Duration
	tls     *tls.Config // built once from the plan, without a server name
	allow   *allowlist.List

	mu      sync.Mutex
	clients map[string]client // guarded by mu
}

// newClientPool prepares the clients of plan p. It returns an error when
// the plan's CA bundle or client certificate cannot be used.
func newClientPool(p *plan.Plan, allow *allowlist.List) (*clientPool, error) {
	cfg, err := newTLSConfig(p.HTTP)
	if err != nil {
		return nil, err
	}
	return &clientPool{
		allow:   allow,
		http:    p.HTTP,
		users:   p.Users,
		timeout: p.Timeout,
		tls:     cfg,
		clients: make(map[string]client),
	}, nil
}

// newTLSConfig builds the TLS settings that every client of a plan shares.
func newTLSConfig(h plan.HTTP) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: h.InsecureSkipVerify}
	if h.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(h.CA)) {
			return nil, errors.New("http.ca_file contains no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if h.Cert != "" || h.Key != "" {
		pair, err := tls.X509KeyPair([]byte(h.Cert), []byte(h.Key))
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// get returns the client for scheme ("http" or "https") and host, which
// may lack a port. A non-empty serverName replaces the host name in TLS
// server name indication and certificate checks. The client speaks
// HTTP/2 when the plan sets http.http2, and HTTP/1.1 otherwise.
func (cp *clientPool) get(scheme, host, serverName string) client {
	isTLS := scheme == "https"
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "80"
		if isTLS {
			port = "443"
		}
		addr = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	key := scheme + "://" + addr
	if isTLS && serverName != "" {
		key += " server_name=" + serverName
	}

	cp.mu.Lock()
	defer cp.mu.Unlock()
	c := cp.clients[key]
	if c == nil {
		if cp.http.HTTP2 {
			c = cp.newHTTP2Client(scheme, addr, serverName)
		} else {
			hc := newClient(addr, isTLS, cp.users)
			cp.configure(hc, serverName)
			c = hc
		}
		cp.clients[key] = c
	}
	return c
}

// configure applies the plan's connection cap, TLS settings and dialer
// to a new client.
func (cp *clientPool) configure(c *fasthttp.HostClient, serverName string) {
	if cp.http.MaxConnections > 0 {
		c.MaxConns = cp.http.MaxConnections
		c.MaxConnWaitTimeout = cp.timeout
	}
	if c.IsTLS {
		cfg := cp.tls.Clone()
		cfg.ServerName = serverName
		c.TLSConfig = cfg
	}
	// fasthttp's default dialer caches DNS answers for a minute (v1.79.0,
	// tcpdialer.go). net.Dialer resolves the name again for every new
	// connection, so a target that moves behind DNS gets the new address.
	c.DialTimeout = cp.dial
}

// dial opens a TCP connection to addr, resolving its host name each time.
// Unlike fasthttp's default dialer it also dials IPv6. With an allow list,
// a host whose name the list does not match may only be reached at an
// address the list allows, checked on the address actually dialled.
func (cp *clientPool) dial(addr string, timeout time.Duration) (net.Conn, error) {
	return cp.dialer(addr, timeout).Dial("tcp", addr)
}

// dialer returns a dialer for addr that applies the allow list, if any,
// to the address it connects to.
func (cp *clientPool) dialer(addr string, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	host, _, err := net.SplitHostPort(addr)
	if cp.allow != nil && (err != nil || !cp.allow.MatchesName(host)) {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ip, _, _ := net.SplitHostPort(address)
			a, err := netip.ParseAddr(ip)
			if err != nil || !cp.allow.AllowsAddr(a) {
				return fmt.Errorf("target %s at %s is %w %s", host, ip, allowlist.ErrNotAllowed, cp.allow)
			}
			return nil
		}
	}
	return d
}

// serverNameOf returns the host part of a Host header value, the name
// that TLS should verify when the plan overrides the Host header.
func serverNameOf(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// setHTTPOptions applies the plan's Host override and compression to a
// task's request template. headers are the task's own headers, which win
// over Accept-Encoding.
func setHTTPOptions(req *fasthttp.Request, headers map[string]string, h plan.HTTP) {
	if h.Host != "" {
		req.Header.SetHost(h.Host)
		req.UseHostHeader = true
	}
	if !h.Compression {
		return
	}
	for name := range headers {
		if strings.EqualFold(name, "Accept-Encoding") {
			return
		}
	}
	// NOTE: bodies are not decompressed, because the engine reads no
	// body. Bytes count the encoded body as received, and a corrupt
	// compressed body goes unnoticed.
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
}
