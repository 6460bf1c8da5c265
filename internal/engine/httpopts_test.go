package engine

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/stats"
)

// runPlan parses the plan, runs it to its end on one share and returns
// the statistics of all tasks together.
func runPlan(t *testing.T, format string, args ...any) stats.Task {
	t.Helper()
	p := parsePlan(t, format, args...)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	return total(e.Collect())
}

// counter counts requests by path.
type counter struct {
	mu    sync.Mutex
	paths map[string]int
}

func (c *counter) add(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paths == nil {
		c.paths = make(map[string]int)
	}
	c.paths[path]++
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

func TestRedirectsCountedPerHop(t *testing.T) {
	var other counter
	otherServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.add(r.URL.Path)
	}))
	t.Cleanup(otherServer.Close)

	var seen counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Method + " " + r.URL.Path)
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusSeeOther)
		case "/b":
			http.Redirect(w, r, "c", http.StatusFound)
		case "/c":
			http.Redirect(w, r, otherServer.URL+"/d", http.StatusTemporaryRedirect)
		}
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 2
iterations: 10
http:
  max_redirects: 5
tasks:
  - name: post
    method: POST
    body: x
    url: /a
`, server.URL)

	if got.Requests != 40 {
		t.Errorf("Collect counts %d requests, want 40 (4 hops of 10 iterations)", got.Requests)
	}
	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	for _, key := range []string{"POST /a", "GET /b", "GET /c"} {
		if n := seen.get(key); n != 10 {
			t.Errorf("target received %d requests %q, want 10", n, key)
		}
	}
	if n := other.get("/d"); n != 10 {
		t.Errorf("other host received %d requests for /d, want 10", n)
	}
}

func TestRedirectsOverLimitFail(t *testing.T) {
	var seen counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.URL.Path)
		http.Redirect(w, r, "/loop", http.StatusFound)
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 1
iterations: 3
http:
  max_redirects: 2
tasks:
  - name: loop
    url: /loop
`, server.URL)

	if got.Requests != 9 {
		t.Errorf("Collect counts %d requests, want 9 (3 hops of 3 iterations)", got.Requests)
	}
	if got.Failures != 3 {
		t.Errorf("Collect counts %d failures, want 3", got.Failures)
	}
	if n := seen.get("/loop"); n != 9 {
		t.Errorf("target received %d requests, want 9", n)
	}
	for msg := range got.Errors {
		if !strings.Contains(msg, "too many redirects") {
			t.Errorf("error message %q does not mention too many redirects", msg)
		}
	}
}

func TestRedirectsNotFollowedByDefault(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, "target: %s\nusers: 1\niterations: 4\ntasks:\n  - name: r\n    url: /\n", server.URL)

	if got.Requests != 4 || got.Failures != 0 {
		t.Errorf("Collect counts %d requests and %d failures, want 4 and 0", got.Requests, got.Failures)
	}
}

func TestHostOverrideSentToTarget(t *testing.T) {
	var hosts counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts.add(r.Host)
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "http://shop.example.test/end", http.StatusFound)
		}
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 1
iterations: 3
http:
  host: shop.example.test
  max_redirects: 1
tasks:
  - name: start
    url: /start
`, server.URL)

	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if n := hosts.get("shop.example.test"); n != 6 {
		t.Errorf("target received Host shop.example.test %d times, want 6: %v", n, hosts.paths)
	}
}

func TestCompressionAcceptsGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(strings.Repeat("barrage ", 100)))
	_ = zw.Close()
	compressed := buf.Bytes()

	var encodings counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.add(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(compressed)
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 1
iterations: 5
http:
  compression: true
tasks:
  - name: zip
    url: /
`, server.URL)

	if n := encodings.get("gzip, deflate, br"); n != 5 {
		t.Errorf("target saw Accept-Encoding \"gzip, deflate, br\" %d times, want 5: %v", n, encodings.paths)
	}
	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if want := uint64(5 * len(compressed)); got.Bytes != want {
		t.Errorf("Collect counts %d bytes, want %d, the compressed size", got.Bytes, want)
	}
}

func TestCompressionOffSendsNoAcceptEncoding(t *testing.T) {
	var encodings counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.add(r.Header.Get("Accept-Encoding"))
	}))
	t.Cleanup(server.Close)

	runPlan(t, "target: %s\nusers: 1\niterations: 2\ntasks:\n  - name: a\n    url: /\n", server.URL)

	if n := encodings.get(""); n != 2 {
		t.Errorf("target saw no Accept-Encoding %d times, want 2: %v", n, encodings.paths)
	}
}

// writePEM writes PEM blocks of the given type to a file in dir and
// returns its path.
func writePEM(t *testing.T, dir, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSVerification(t *testing.T) {
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(server.Close)
	ca := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", server.Certificate().Raw)

	tests := []struct {
		name         string
		http         string
		wantFailures uint64
	}{
		{"ca_file verifies the target", "ca_file: " + ca, 0},
		{"insecure_skip_verify accepts a self-signed target", "insecure_skip_verify: true", 0},
		{"system roots reject a self-signed target", "compression: false", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runPlan(t, "target: %s\nusers: 1\niterations: 3\nhttp:\n  %s\ntasks:\n  - name: a\n    url: /\n",
				server.URL, tt.http)
			if got.Requests != 3 {
				t.Errorf("Collect counts %d requests, want 3", got.Requests)
			}
			if got.Failures != tt.wantFailures {
				t.Errorf("Collect counts %d failures, want %d: %v", got.Failures, tt.wantFailures, got.Errors)
			}
		})
	}
}

func TestTLSClientCertificatePresented(t *testing.T) {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test client CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}

	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "barrage-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTemplate, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	keyFile := writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)

	var names counter
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names.add(r.Proto + " " + r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(caCert)
	server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	server.EnableHTTP2 = true
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	t.Cleanup(server.Close)

	for _, proto := range []struct{ name, http2 string }{{"HTTP/1.1", "false"}, {"HTTP/2.0", "true"}} {
		t.Run(proto.name, func(t *testing.T) {
			got := runPlan(t, `
target: %s
users: 1
iterations: 3
http:
  http2: %s
  insecure_skip_verify: true
  cert_file: %s
  key_file: %s
tasks:
  - name: a
    url: /
`, server.URL, proto.http2, certFile, keyFile)

			if got.Failures != 0 {
				t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
			}
			if n := names.get(proto.name + " barrage-client"); n != 3 {
				t.Errorf("target saw the client certificate over %s %d times, want 3: %v", proto.name, n, names.paths)
			}

			without := runPlan(t, "target: %s\nusers: 1\niterations: 2\nhttp:\n  http2: %s\n  insecure_skip_verify: true\ntasks:\n  - name: a\n    url: /\n",
				server.URL, proto.http2)
			if without.Failures != 2 {
				t.Errorf("without a client certificate Collect counts %d failures, want 2", without.Failures)
			}
		})
	}
}

func TestCookiesKeptPerUser(t *testing.T) {
	var mu sync.Mutex
	issued := 0
	issuedTo := make(map[string]int)
	sessions := make(map[string]map[string]bool) // user -> session cookies seen
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		user := r.URL.Query().Get("user")
		c, err := r.Cookie("session")
		if err != nil {
			issued++
			issuedTo[user]++
			http.SetCookie(w, &http.Cookie{Name: "session", Value: strings.Repeat("s", issued)})
			return
		}
		if sessions[user] == nil {
			sessions[user] = make(map[string]bool)
		}
		sessions[user][c.Value] = true
	}))
	t.Cleanup(server.Close)

	const users = 3
	got := runPlan(t, `
target: %s
users: %d
spawn_rate: 1000
iterations: 30
tasks:
  - name: a
    url: /?user=${user}
`, server.URL, users)

	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	// Users that start after the iterations ran out get no cookie.
	if issued == 0 || issued > users {
		t.Errorf("target issued %d session cookies, want 1 to %d, one per user", issued, users)
	}
	for user, n := range issuedTo {
		if n != 1 {
			t.Errorf("target issued %d session cookies to user %s, want 1", n, user)
		}
	}
	seen := make(map[string]bool)
	for user, values := range sessions {
		if len(values) != 1 {
			t.Errorf("user %s sent %d different session cookies, want 1: %v", user, len(values), values)
		}
		for v := range values {
			if seen[v] {
				t.Errorf("session cookie %q was sent by more than one user", v)
			}
			seen[v] = true
		}
	}

	issued = 0
	mu.Unlock()
	runPlan(t, "target: %s\nusers: 1\niterations: 3\nhttp:\n  cookies: false\ntasks:\n  - name: a\n    url: /\n", server.URL)
	mu.Lock()
	if issued != 3 {
		t.Errorf("with cookies off the target issued %d session cookies, want 3", issued)
	}
}

func TestBodyFileSent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payload.json")
	const payload = `{"items": [1, 2, 3]}`
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	var bodies counter
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		bodies.add(string(body))
	}))
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 1
iterations: 2
tasks:
  - name: post
    method: POST
    url: /
    body_file: %s
`, server.URL, path)

	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if n := bodies.get(payload); n != 2 {
		t.Errorf("target received the file's content %d times, want 2: %v", n, bodies.paths)
	}
}

func TestMaxConnectionsCapsConnections(t *testing.T) {
	var mu sync.Mutex
	open, peak := 0, 0
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
	}))
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case http.StateNew:
			open++
			peak = max(peak, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	server.Start()
	t.Cleanup(server.Close)

	got := runPlan(t, `
target: %s
users: 10
spawn_rate: 1000
iterations: 100
http:
  max_connections: 2
tasks:
  - name: a
    url: /
`, server.URL)

	if got.Requests != 100 || got.Failures != 0 {
		t.Errorf("Collect counts %d requests and %d failures, want 100 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > 2 {
		t.Errorf("target saw %d connections open at once, want at most 2", peak)
	}
}
