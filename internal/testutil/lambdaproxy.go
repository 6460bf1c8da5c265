package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxyQueue bounds the invocations that a LambdaProxy holds; more are
// rejected with 429, as Lambda throttles.
const proxyQueue = 64

// LambdaProxy forwards invocations from the AWS SDK to a runtime interface
// emulator and adds the two things the emulator lacks (version
// v0.0.0-20261030222936-bef5c4ba774d):
//
//   - Asynchronous invocations. The emulator ignores the header
//     X-Amz-Invocation-Type and responds to every invocation with 200 once the
//     function returned. The proxy responds to an Event invocation with 202 at
//     once, as Lambda does, and forwards it later.
//   - Queueing. The emulator serves one invocation at a time, and a second
//     one sent while the first runs makes it crash with a nil pointer
//     dereference. The proxy forwards invocations one after the other.
//
// Every invocation still runs in the real emulator. The proxy listens on
// a loopback port and closes when the test ends.
type LambdaProxy struct {
	// URL is the proxy's base URL, the endpoint to give the SDK.
	URL string

	emulator string
	queue    chan invocation
	done     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	events  [][]byte // bodies of the invocations received
	results []string // bodies of the emulator's responses
}

type invocation struct {
	path  string
	id    string
	body  []byte
	reply chan<- forwarded // nil for an Event invocation
}

type forwarded struct {
	status int
	body   []byte
}

// NewLambdaProxy starts a proxy in front of the emulator at emulatorURL.
func NewLambdaProxy(t testing.TB, emulatorURL string) *LambdaProxy {
	t.Helper()
	p := &LambdaProxy{
		emulator: emulatorURL,
		queue:    make(chan invocation, proxyQueue),
		done:     make(chan struct{}),
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = srv.URL
	p.wg.Add(1)
	go p.forward()
	t.Cleanup(func() {
		srv.Close()
		close(p.done)
		p.wg.Wait()
	})
	return p
}

// Events returns the bodies of the invocations received so far.
func (p *LambdaProxy) Events() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.events...)
}

// Results returns the emulator's responses so far, in order.
func (p *LambdaProxy) Results() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.results...)
}

func (p *LambdaProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/invocations") {
		http.Error(w, "not an invocation", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := newRequestID()
	inv := invocation{path: r.URL.Path, id: id, body: body}
	async := r.Header.Get("X-Amz-Invocation-Type") == "Event"
	var reply chan forwarded
	if !async {
		reply = make(chan forwarded, 1)
		inv.reply = reply
	}
	select {
	case p.queue <- inv:
	default:
		http.Error(w, `{"message":"queue full"}`, http.StatusTooManyRequests)
		return
	}
	p.mu.Lock()
	p.events = append(p.events, body)
	p.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", id)
	if async {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	select {
	case f := <-reply:
		w.WriteHeader(f.status)
		w.Write(f.body)
	case <-r.Context().Done():
	}
}

// forward sends the queued invocations to the emulator one at a time.
func (p *LambdaProxy) forward() {
	defer p.wg.Done()
	client := &http.Client{Timeout: 15 * time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.done
		cancel()
	}()
	for {
		var inv invocation
		select {
		case inv = <-p.queue:
		case <-p.done:
			return
		}
		f := forwarded{status: http.StatusBadGateway}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.emulator+inv.path, bytes.NewReader(inv.body))
		if err == nil {
			req.Header.Set("X-Amzn-RequestId", inv.id)
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				f.status = resp.StatusCode
				f.body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		}
		if err != nil {
			f.body = []byte(err.Error())
		}
		p.mu.Lock()
		p.results = append(p.results, string(f.body))
		p.mu.Unlock()
		if inv.reply != nil {
			inv.reply <- f
		}
	}
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
