package engine

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/barrage-load/barrage/internal/allowlist"
)

// allowEngine prepares the only share of p with an allow list.
func allowEngine(t *testing.T, yaml string, patterns ...string) *Engine {
	t.Helper()
	allow, err := allowlist.Parse(patterns)
	if err != nil {
		t.Fatal(err)
	}
	p := parsePlan(t, "%s", yaml)
	e, err := New(p, onlyShare(p), Options{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAllowListBlocksOtherTargets(t *testing.T) {
	tg := newTarget(t)
	e := allowEngine(t, `
target: `+tg.server.URL+`
users: 2
iterations: 20
duration: 10s
tasks:
  - name: home
    url: /home
`, "10.0.0.0/8")
	runEngine(t, e)
	got := total(e.Collect())

	if n := tg.total.Load(); n != 0 {
		t.Errorf("target received %d requests from a worker allowed only 10.0.0.0/8", n)
	}
	if got.Failures != 20 {
		t.Errorf("failures = %d, want all 20 requests", got.Failures)
	}
	for msg := range got.Errors {
		if !strings.Contains(msg, "not allowed by --allow-target 10.0.0.0/8") {
			t.Errorf("error %q does not name the allow list", msg)
		}
	}
}

func TestAllowListByName(t *testing.T) {
	tg := newTarget(t)
	_, port, _ := net.SplitHostPort(tg.server.Listener.Addr().String())
	e := allowEngine(t, `
target: http://localhost:`+port+`
users: 1
iterations: 5
duration: 10s
tasks:
  - name: home
    url: /home
`, "localhost")
	runEngine(t, e)
	if n := tg.count("/home"); n != 5 {
		t.Errorf("target received %d requests for an allowed name, want 5", n)
	}
}

func TestAllowListRejectsRedirectElsewhere(t *testing.T) {
	// A listener on another loopback address counts any connection that
	// the redirect might make.
	other, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	defer other.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://"+other.Addr().String()+"/", http.StatusFound)
	}))
	defer srv.Close()

	e := allowEngine(t, `
target: `+srv.URL+`
users: 1
iterations: 3
duration: 10s
http:
  max_redirects: 5
tasks:
  - name: home
    url: /
`, "127.0.0.1")
	runEngine(t, e)
	got := total(e.Collect())

	if n := hits.Load(); n != 3 {
		t.Errorf("allowed target received %d requests, want 3", n)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the redirect's host accepted %d connections, want 0", n)
	}
	// Each iteration is the first request and its refused redirect.
	if got.Requests != 6 || got.Failures != 3 {
		t.Errorf("requests = %d and failures = %d, want 6 and 3", got.Requests, got.Failures)
	}
}

func TestAllowListAppliesToHTTP2(t *testing.T) {
	var hits atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	for name, srv := range map[string]*httptest.Server{
		"h2c":         newH2CServer(t, handler),
		"h2 over TLS": newH2TLSServer(t, handler),
	} {
		t.Run(name, func(t *testing.T) {
			e := allowEngine(t, `
target: `+srv.URL+`
users: 1
iterations: 4
duration: 10s
http:
  http2: true
  insecure_skip_verify: true
tasks:
  - name: home
    url: /
`, "10.0.0.0/8")
			runEngine(t, e)
			got := total(e.Collect())
			if got.Failures != 4 {
				t.Errorf("failures = %d, want all 4 requests: %v", got.Failures, got.Errors)
			}
			for msg := range got.Errors {
				if !strings.Contains(msg, "not allowed by --allow-target") {
					t.Errorf("error %q does not name the allow list", msg)
				}
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("targets received %d requests over HTTP/2 from a worker allowed only 10.0.0.0/8", n)
	}
}
