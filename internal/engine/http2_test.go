package engine

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// protoCounter counts the requests that a test server receives, by
// protocol ("HTTP/2.0") and by method and path ("GET /a").
type protoCounter struct {
	total  counter
	protos counter
	paths  counter
}

func (pc *protoCounter) add(r *http.Request) {
	pc.total.add("")
	pc.protos.add(r.Proto)
	pc.paths.add(r.Method + " " + r.URL.Path)
}

// newH2CServer starts a cleartext server that speaks HTTP/1.1 and
// HTTP/2 with prior knowledge, and is closed when the test ends.
func newH2CServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	server := httptest.NewUnstartedServer(h)
	server.Config.Protocols = new(http.Protocols)
	server.Config.Protocols.SetHTTP1(true)
	server.Config.Protocols.SetUnencryptedHTTP2(true)
	server.Start()
	t.Cleanup(server.Close)
	return server
}

// newH2TLSServer starts a TLS server that offers h2 and http/1.1 in
// ALPN, and is closed when the test ends.
func newH2TLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	server := httptest.NewUnstartedServer(h)
	server.EnableHTTP2 = true
	server.StartTLS()
	t.Cleanup(server.Close)
	return server
}

func TestHTTP2RequestsArriveOverHTTP2(t *testing.T) {
	tests := []struct {
		name  string
		start func(*testing.T, http.Handler) *httptest.Server
	}{
		{"https target through ALPN", newH2TLSServer},
		{"http target through h2c", newH2CServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen protoCounter
			server := tt.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.add(r)
				_, _ = io.WriteString(w, targetBody)
			}))

			const iterations = 300
			got := runPlan(t, `
target: %s
users: 8
spawn_rate: 1000
iterations: %d
http:
  http2: true
  insecure_skip_verify: true
tasks:
  - name: home
    url: /home?n=${seq}
`, server.URL, iterations)

			checkCounts(t, got)
			if got.Requests != iterations {
				t.Errorf("Collect counts %d requests, want %d", got.Requests, iterations)
			}
			if got.Failures != 0 {
				t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
			}
			if n := seen.total.get(""); n != iterations {
				t.Errorf("target received %d requests, want %d", n, iterations)
			}
			if n := seen.protos.get("HTTP/2.0"); n != iterations {
				t.Errorf("target received %d requests over HTTP/2, want all %d: %v", n, iterations, seen.protos.paths)
			}
			if want := uint64(iterations * len(targetBody)); got.Bytes != want {
				t.Errorf("Collect counts %d bytes, want %d", got.Bytes, want)
			}
		})
	}
}

// newTLSServerWithoutALPN starts an HTTP/1.1 server on TLS that selects
// no protocol in ALPN, as servers that ignore ALPN do.
func newTLSServerWithoutALPN(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	// The httptest server only provides the certificate and the URL.
	server := httptest.NewUnstartedServer(h)
	server.StartTLS()
	t.Cleanup(server.Close)
	server.Listener.Close()
	server.Config.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	cfg := &tls.Config{Certificates: server.TLS.Certificates}
	plain := &http.Server{Handler: h}
	go func() { _ = plain.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { plain.Close() })
	server.URL = "https://" + ln.Addr().String()
	return server
}

// newHTTP1TLSServer starts a TLS server that offers only http/1.1 in
// ALPN, and fails the handshake of a client that offers only h2.
func newHTTP1TLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	server := httptest.NewUnstartedServer(h)
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	t.Cleanup(server.Close)
	return server
}

// newHTTP1Server starts a cleartext server that speaks only HTTP/1.1.
func newHTTP1Server(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	server := httptest.NewServer(h)
	t.Cleanup(server.Close)
	return server
}

func TestHTTP2TargetWithoutHTTP2Fails(t *testing.T) {
	tests := []struct {
		name        string
		start       func(*testing.T, http.Handler) *httptest.Server
		wantMessage string
	}{
		{"TLS server that offers http/1.1 in ALPN", newHTTP1TLSServer, "TLS ALPN did not select h2"},
		{"TLS server that ignores ALPN", newTLSServerWithoutALPN, "TLS ALPN did not select h2"},
		{"cleartext HTTP/1.1 server", newHTTP1Server, "responded to the h2c connection preface with HTTP/1.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen protoCounter
			server := tt.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.add(r)
			}))

			const iterations = 20
			got := runPlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: %d
timeout: 5s
http:
  http2: true
  insecure_skip_verify: true
tasks:
  - name: home
    url: /home
`, server.URL, iterations)

			checkCounts(t, got)
			if got.Requests != iterations || got.Failures != iterations {
				t.Errorf("Collect counts %d requests and %d failures, want %d and %d: %v",
					got.Requests, got.Failures, iterations, iterations, got.Errors)
			}
			for msg, n := range got.Errors {
				if !strings.HasPrefix(msg, "HTTP/2 not supported by the target: ") || !strings.Contains(msg, tt.wantMessage) {
					t.Errorf("error %q (%d times) does not say %q", msg, n, tt.wantMessage)
				}
				if !strings.Contains(msg, "http.http2") {
					t.Errorf("error %q does not name the key http.http2", msg)
				}
			}
			// No request reaches a handler over HTTP/1.1. A Go HTTP/1.1
			// server hands the h2c preface "PRI * HTTP/2.0" to the
			// handler, once for each connection and so for each
			// failed request.
			if n := seen.paths.get("GET /home"); n != 0 {
				t.Errorf("target received %d requests for /home, want 0", n)
			}
			if n := seen.total.get(""); uint64(n) > got.Requests {
				t.Errorf("target received %d requests, more than the %d counted", n, got.Requests)
			}
		})
	}
}

func TestHTTP2CookiesAndRedirects(t *testing.T) {
	var seen protoCounter
	var mu sync.Mutex
	sessions := make(map[string]string) // user -> session cookie sent on /end
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		user := r.URL.Query().Get("user")
		switch r.URL.Path {
		case "/login":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "user-" + user})
			http.Redirect(w, r, "/end?user="+user, http.StatusSeeOther)
		case "/end":
			c, err := r.Cookie("session")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sessions[user] = "none"
				return
			}
			if old, ok := sessions[user]; ok && old != c.Value {
				sessions[user] = "changed"
				return
			}
			sessions[user] = c.Value
		}
	}))

	const iterations = 40
	got := runPlan(t, `
target: %s
users: 4
spawn_rate: 1000
iterations: %d
http:
  http2: true
  max_redirects: 2
tasks:
  - name: login
    method: POST
    body: name=someone
    url: /login?user=${user}
`, server.URL, iterations)

	checkCounts(t, got)
	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if got.Requests != 2*iterations {
		t.Errorf("Collect counts %d requests, want %d, 2 hops of %d iterations", got.Requests, 2*iterations, iterations)
	}
	if n := seen.paths.get("POST /login"); n != iterations {
		t.Errorf("target received %d POST /login, want %d", n, iterations)
	}
	if n := seen.paths.get("GET /end"); n != iterations {
		t.Errorf("target received %d GET /end after 303, want %d", n, iterations)
	}
	if n := seen.protos.get("HTTP/2.0"); n != 2*iterations {
		t.Errorf("target received %d requests over HTTP/2, want all %d", n, 2*iterations)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sessions) == 0 {
		t.Fatal("no user reached /end")
	}
	for user, value := range sessions {
		if want := "user-" + user; value != want {
			t.Errorf("user %s sent session cookie %q on /end, want %q", user, value, want)
		}
	}
}

func TestHTTP2RequestParts(t *testing.T) {
	type received struct {
		host, agent, encoding, contentType, body, method string
	}
	var mu sync.Mutex
	var requests []received
	server := newH2TLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests = append(requests, received{
			host: r.Host, agent: r.UserAgent(), encoding: r.Header.Get("Accept-Encoding"),
			contentType: r.Header.Get("Content-Type"), body: string(body), method: r.Method,
		})
		mu.Unlock()
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = io.WriteString(w, "not really gzip")
	}))
	ca := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", server.Certificate().Raw)

	// The certificate of httptest servers is valid for example.com, so
	// the Host override is also the verified TLS server name.
	got := runPlan(t, `
target: %s
users: 1
iterations: 3
http:
  http2: true
  ca_file: %s
  host: example.com
  compression: true
tasks:
  - name: post
    method: PUT
    url: /items
    headers: {Content-Type: application/json}
    body: '{"a": 1}'
`, server.URL, ca)

	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if want := uint64(3 * len("not really gzip")); got.Bytes != want {
		t.Errorf("Collect counts %d bytes, want %d, the body as it arrived", got.Bytes, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 3 {
		t.Fatalf("target received %d requests, want 3", len(requests))
	}
	want := received{
		host: "example.com", agent: userAgent, encoding: "gzip, deflate, br",
		contentType: "application/json", body: `{"a": 1}`, method: "PUT",
	}
	for i, r := range requests {
		if r != want {
			t.Errorf("request %d = %+v, want %+v", i, r, want)
		}
	}
}

func TestHTTP2VerifiesCertificate(t *testing.T) {
	var seen protoCounter
	server := newH2TLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
	}))
	server.Config.ErrorLog = log.New(io.Discard, "", 0)

	got := runPlan(t, "target: %s\nusers: 1\niterations: 3\nhttp:\n  http2: true\ntasks:\n  - name: a\n    url: /\n", server.URL)

	if got.Requests != 3 || got.Failures != 3 {
		t.Errorf("Collect counts %d requests and %d failures, want 3 and 3", got.Requests, got.Failures)
	}
	for msg := range got.Errors {
		if !strings.Contains(msg, "certificate") {
			t.Errorf("error %q does not mention the certificate", msg)
		}
	}
	if n := seen.total.get(""); n != 0 {
		t.Errorf("target received %d requests, want 0 from a client that rejects its certificate", n)
	}
}

func TestHTTP2CompressionOffSendsNoAcceptEncoding(t *testing.T) {
	var encodings counter
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.add(r.Header.Get("Accept-Encoding"))
	}))

	runPlan(t, "target: %s\nusers: 1\niterations: 2\nhttp:\n  http2: true\ntasks:\n  - name: a\n    url: /\n", server.URL)

	if n := encodings.get(""); n != 2 {
		t.Errorf("target saw no Accept-Encoding %d times, want 2: %v", n, encodings.paths)
	}
}

func TestHTTP2MaxConnections(t *testing.T) {
	tests := []struct {
		name           string
		maxConnections string
		wantPeak       int
	}{
		// 10 users on a target that allows 3 streams per connection need
		// 4 connections, and no more open.
		{"new connection when the streams run out", "", 4},
		{"max_connections caps the connections", "max_connections: 2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			open, peak := 0, 0
			var seen protoCounter
			server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.add(r)
				time.Sleep(5 * time.Millisecond)
			}))
			server.Config.Protocols = new(http.Protocols)
			server.Config.Protocols.SetUnencryptedHTTP2(true)
			server.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 3}
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

			// Users start 20ms apart, after the target's SETTINGS frame
			// with its stream limit arrived.
			got := runPlan(t, `
target: %s
users: 10
spawn_rate: 50
iterations: 300
http:
  http2: true
  %s
tasks:
  - name: a
    url: /
`, server.URL, tt.maxConnections)

			checkCounts(t, got)
			if got.Requests != 300 || got.Failures != 0 {
				t.Errorf("Collect counts %d requests and %d failures, want 300 and 0: %v", got.Requests, got.Failures, got.Errors)
			}
			if n := seen.protos.get("HTTP/2.0"); n != 300 {
				t.Errorf("target received %d requests over HTTP/2, want 300", n)
			}
			mu.Lock()
			defer mu.Unlock()
			// Both cases need more than one connection, because one
			// carries only 3 of the 10 users' requests at a time.
			if peak < 2 || peak > tt.wantPeak {
				t.Errorf("target saw %d connections open at once, want 2 to %d", peak, tt.wantPeak)
			}
		})
	}
}

func TestHTTP2Timeout(t *testing.T) {
	var seen protoCounter
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))

	got := runPlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: 4
timeout: 200ms
http:
  http2: true
tasks:
  - name: slow
    url: /slow
`, server.URL)

	checkCounts(t, got)
	if got.Requests != 4 || got.Failures != 4 {
		t.Errorf("Collect counts %d requests and %d failures, want 4 and 4", got.Requests, got.Failures)
	}
	if n := got.Errors["request timed out"]; n != 4 {
		t.Errorf("Collect counts %d timeouts, want 4: %v", n, got.Errors)
	}
	if n := seen.total.get(""); n != 4 {
		t.Errorf("target received %d requests, want 4", n)
	}
}

func TestHTTP2AbortedStreamsCountedOnce(t *testing.T) {
	var seen protoCounter
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		panic(http.ErrAbortHandler)
	}))

	got := runPlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: 10
http:
  http2: true
tasks:
  - name: aborted
    url: /abort
`, server.URL)

	checkCounts(t, got)
	if got.Requests != 10 || got.Failures != 10 {
		t.Errorf("Collect counts %d requests and %d failures, want 10 and 10: %v", got.Requests, got.Failures, got.Errors)
	}
	if n := seen.total.get(""); uint64(n) != got.Requests {
		t.Errorf("target received %d requests, Collect counts %d: %v", n, got.Requests, got.Errors)
	}
	if len(got.Errors) != 1 {
		t.Errorf("Collect has %d error messages, want 1 for the same failure: %v", len(got.Errors), got.Errors)
	}
}

func TestHTTP2ResolvesHostName(t *testing.T) {
	var seen protoCounter
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
	}))
	_, port, err := net.SplitHostPort(server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	got := runPlan(t, "target: http://localhost:%s\nusers: 1\niterations: 3\nhttp:\n  http2: true\ntasks:\n  - name: a\n    url: /\n", port)

	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if n := seen.protos.get("HTTP/2.0"); n != 3 {
		t.Errorf("target received %d requests over HTTP/2, want 3", n)
	}
}

func TestHTTP2GoTask(t *testing.T) {
	var seen protoCounter
	server := newH2CServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
	}))
	setBaseURL(server.URL)

	got := runPlan(t, `
users: 3
spawn_rate: 1000
iterations: 20
http:
  http2: true
tasks:
  - name: browse
    go: test.two-requests
`)

	checkCounts(t, got)
	if got.Requests != 40 || got.Failures != 0 {
		t.Errorf("Collect counts %d requests and %d failures, want 40 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
	if n := seen.paths.get("GET /first"); n != 20 {
		t.Errorf("target received %d GET /first, want 20", n)
	}
	if n := seen.paths.get("POST /second"); n != 20 {
		t.Errorf("target received %d POST /second, want 20", n)
	}
	if n := seen.protos.get("HTTP/2.0"); n != 40 {
		t.Errorf("target received %d requests over HTTP/2, want all 40", n)
	}
}
