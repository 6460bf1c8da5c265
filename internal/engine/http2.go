package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// errNotHTTP2 is wrapped by the errors of requests to a target that does
// not speak HTTP/2 when the plan sets http.http2.
var errNotHTTP2 = errors.New("HTTP/2 not supported by the target")

var (
	errNoALPN           = fmt.Errorf("%w: TLS ALPN did not select h2; enable HTTP/2 on the target or set http.http2: false", errNotHTTP2)
	errH2CAnsweredHTTP1 = fmt.Errorf("%w: it responded to the h2c connection preface with HTTP/1.x; enable h2c on the target or set http.http2: false", errNotHTTP2)
)

// h2Client sends the requests to one host over HTTP/2. Requests share
// connections as streams: a new connection opens only when each open one
// has as many streams in flight as the target allows, and
// http.max_connections caps the open connections. It is safe for
// concurrent use.
//
// Each connection is an http.ClientConn of its own rather than part of an
// http.Transport's pool, because Transport.RoundTrip sends a request again
// after some failures (REFUSED_STREAM, GOAWAY, Go 1.26), and the target
// must never receive more requests than the statistics count.
type h2Client struct {
	transport *http.Transport
	scheme    string // "http" or "https"
	addr      string // host:port
	maxConns  int    // 0 for no cap

	mu      sync.Mutex
	conns   []*http.ClientConn // guarded by mu
	dialing int                // connections being opened, guarded by mu

	freedMu sync.Mutex
	freed   chan struct{} // closed when a stream or connection may have freed; guarded by freedMu
}

// idleTimeout is how long an HTTP/2 connection stays open without a
// request in flight, as MaxIdleConnDuration of the HTTP/1.1 clients.
const idleTimeout = 4 * time.Second

// newHTTP2Client returns the HTTP/2 client of scheme and addr. For https
// it verifies serverName, or the host of addr when serverName is empty.
func (cp *clientPool) newHTTP2Client(scheme, addr, serverName string) *h2Client {
	t := &http.Transport{
		// Accept-Encoding comes from http.compression alone, and bodies
		// stay as they arrived.
		DisableCompression: true,
		IdleConnTimeout:    idleTimeout,
		Protocols:          new(http.Protocols),
	}
	if scheme == "https" {
		t.Protocols.SetHTTP2(true)
		cfg := cp.tls.Clone()
		cfg.ServerName = serverName
		cfg.NextProtos = []string{"h2"}
		t.DialTLSContext = cp.dialTLSHTTP2(cfg)
	} else {
		t.Protocols.SetUnencryptedHTTP2(true)
		t.DialContext = cp.dialH2C
	}
	return &h2Client{
		transport: t,
		scheme:    scheme,
		addr:      addr,
		maxConns:  cp.http.MaxConnections,
		freed:     make(chan struct{}),
	}
}

// DoDeadline sends req as an HTTP/2 request and copies the response's
// status, headers and body into resp. It waits for a free stream until
// deadline when http.max_connections connections are open and busy.
func (c *h2Client) DoDeadline(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	resp.Reset()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	hreq, err := newHTTPRequest(ctx, req)
	if err != nil {
		return err
	}
	cc, err := c.reserve(ctx)
	if err != nil {
		return err
	}
	hresp, err := cc.RoundTrip(hreq)
	if err != nil {
		return streamError(err)
	}
	err = copyResponse(resp, hresp)
	hresp.Body.Close()
	if err != nil {
		return streamError(err)
	}
	return nil
}

// reserve returns a connection with a stream reserved for one request,
// opening a connection when none has a free stream and the cap allows.
func (c *h2Client) reserve(ctx context.Context) (*http.ClientConn, error) {
	for {
		freed := c.freedSignal()
		c.mu.Lock()
		if cc := c.reserveLocked(); cc != nil {
			c.mu.Unlock()
			return cc, nil
		}
		// One connection opens at a time, and the requests that arrive
		// meanwhile wait for its streams.
		open := len(c.conns) + c.dialing
		capped := c.maxConns > 0 && open >= c.maxConns
		if c.dialing == 0 && !capped {
			c.dialing++
			c.mu.Unlock()
			return c.dial(ctx)
		}
		c.mu.Unlock()

		// dial and the state hooks of the connections close freed. The
		// timer only bounds the wait should a hook be missed.
		timer := time.NewTimer(20 * time.Millisecond)
		select {
		case <-freed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			if capped {
				return nil, fasthttp.ErrNoFreeConns
			}
			return nil, ctx.Err()
		}
		timer.Stop()
	}
}

// reserveLocked reserves a stream on the first open connection that has
// one free, and drops the connections that can take no more requests.
func (c *h2Client) reserveLocked() *http.ClientConn {
	var found *http.ClientConn
	kept := c.conns[:0]
	for _, cc := range c.conns {
		if cc.Err() != nil {
			continue
		}
		if found == nil && cc.Reserve() == nil {
			found = cc
		} else if cc.Available() == 0 && cc.InFlight() == 0 {
			// A connection that got a GOAWAY takes no new request but
			// stays open.
			cc.Close()
			continue
		}
		kept = append(kept, cc)
	}
	clear(c.conns[len(kept):])
	c.conns = kept
	return found
}

// dial opens a connection and reserves a stream on it. The caller has
// counted the connection in c.dialing.
func (c *h2Client) dial(ctx context.Context) (*http.ClientConn, error) {
	var dialed *h2cConn
	cc, err := c.transport.NewClientConn(context.WithValue(ctx, dialedKey{}, &dialed), c.scheme, c.addr)
	if err == nil && dialed != nil {
		// An h2c target proves that it speaks HTTP/2 with its first
		// bytes, before any request is sent on the connection.
		if err = dialed.awaitFirstBytes(ctx); err != nil {
			cc.Close()
		}
	}
	// NOTE: until it reads the target's SETTINGS frame, a new connection
	// allows 100 streams (Go 1.26). A target with a lower limit refuses
	// the streams above it with REFUSED_STREAM, and those requests fail.
	c.mu.Lock()
	c.dialing--
	if err == nil {
		err = cc.Reserve()
		c.conns = append(c.conns, cc)
	}
	c.mu.Unlock()
	// The waiting requests may now take a stream of the new connection,
	// or open a connection themselves after a failure.
	c.signal()
	if err != nil {
		return nil, err
	}
	cc.SetStateHook(func(*http.ClientConn) { c.signal() })
	return cc, nil
}

// freedSignal returns the channel that the next signal closes.
func (c *h2Client) freedSignal() <-chan struct{} {
	c.freedMu.Lock()
	defer c.freedMu.Unlock()
	return c.freed
}

// signal wakes the requests that wait for a free stream. It is called
// from the connections' state hooks, so it must not take c.mu, which is
// held while calling methods of the connections.
func (c *h2Client) signal() {
	c.freedMu.Lock()
	close(c.freed)
	c.freed = make(chan struct{})
	c.freedMu.Unlock()
}

// newHTTPRequest converts req into a net/http request bound to ctx.
func newHTTPRequest(ctx context.Context, req *fasthttp.Request) (*http.Request, error) {
	var body io.Reader
	if b := req.Body(); len(b) > 0 {
		// The transport may still read the body after RoundTrip returns,
		// when the user already reuses req, so it reads a copy.
		body = bytes.NewReader(bytes.Clone(b))
	}
	uri := req.URI()
	uri.DisablePathNormalizing = true
	hreq, err := http.NewRequestWithContext(ctx, string(req.Header.Method()), string(uri.FullURI()), body)
	if err != nil {
		return nil, err
	}
	if host := req.Header.Host(); req.UseHostHeader && len(host) > 0 {
		hreq.Host = string(host)
	}
	for name, value := range req.Header.All() {
		switch http.CanonicalHeaderKey(string(name)) {
		case fasthttp.HeaderHost, fasthttp.HeaderContentLength, fasthttp.HeaderConnection, fasthttp.HeaderTransferEncoding:
			// net/http sets these from the request's fields.
			continue
		}
		hreq.Header.Add(string(name), string(value))
	}
	if hreq.Header.Get(fasthttp.HeaderUserAgent) == "" {
		hreq.Header.Set(fasthttp.HeaderUserAgent, userAgent)
	}
	return hreq, nil
}

// copyBuffers holds the buffers that copyResponse reads bodies with.
var copyBuffers = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// copyResponse copies the status, headers and body of src into dst.
func copyResponse(dst *fasthttp.Response, src *http.Response) error {
	dst.SetStatusCode(src.StatusCode)
	for name, values := range src.Header {
		for _, value := range values {
			dst.Header.Add(name, value)
		}
	}
	buf := copyBuffers.Get().(*[16 << 10]byte)
	defer copyBuffers.Put(buf)
	_, err := io.CopyBuffer(dst.BodyWriter(), src.Body, buf[:])
	return err
}

// streamError drops the stream ID from the message of an HTTP/2 stream
// error, such as "stream error: stream ID 3; INTERNAL_ERROR; received
// from peer", so that the same error of many requests reads the same.
func streamError(err error) error {
	rest, ok := strings.CutPrefix(err.Error(), "stream error: stream ID ")
	if !ok {
		return err
	}
	_, cause, ok := strings.Cut(rest, "; ")
	if !ok {
		return err
	}
	return &messageError{msg: "stream error: " + cause, err: err}
}

// messageError replaces the message of err and keeps err for errors.Is
// and errors.As.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// dialTLSHTTP2 returns a dial function that opens TLS connections with
// cfg and accepts only those where ALPN selected h2. Without the check, a
// target that ignores ALPN would get HTTP/1.1.
func (cp *clientPool) dialTLSHTTP2(cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &tls.Dialer{Config: cfg, NetDialer: cp.dialer(addr, 0)}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			// A server without h2 among its protocols ends the handshake
			// with the alert no_application_protocol (RFC 7301).
			var opErr *net.OpError
			if errors.As(err, &opErr) && opErr.Op == "remote error" && strings.Contains(opErr.Err.Error(), "no application protocol") {
				return nil, errNoALPN
			}
			return nil, err
		}
		tc := conn.(*tls.Conn)
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			tc.Close()
			return nil, errNoALPN
		}
		return tc, nil
	}
}

// dialedKey is the context key under which h2Client.dial receives the
// connection that dialH2C opens, as a **h2cConn.
type dialedKey struct{}

// dialH2C opens a TCP connection for HTTP/2 with prior knowledge,
// resolving the host name each time as dial does, and applying the allow
// list.
func (cp *clientPool) dialH2C(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := cp.dialer(addr, 0).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	h2c := &h2cConn{Conn: conn, first: make(chan struct{})}
	if dialed, ok := ctx.Value(dialedKey{}).(**h2cConn); ok {
		*dialed = h2c
	}
	return h2c, nil
}

// h2cConn is a connection for HTTP/2 with prior knowledge that checks
// the first bytes the target sends. An HTTP/2 server starts with a
// SETTINGS frame, whose first byte, the top byte of its length, is 0 for
// any length that a client accepts, while an HTTP/1.x response starts
// with "HTTP/". When the target responds with HTTP/1.x, the first read
// fails with errH2CAnsweredHTTP1.
type h2cConn struct {
	net.Conn
	checked  bool          // only the connection's reader reads and writes it
	first    chan struct{} // closed when the first read returned
	firstErr error         // the first read's error, set before first closes
}

func (c *h2cConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.checked {
		return n, err
	}
	c.checked = true
	switch {
	case n > 0 && p[0] == 'H':
		n, err = 0, errH2CAnsweredHTTP1
	case n == 0 && err == io.EOF:
		err = fmt.Errorf("%w: it closed the connection after the h2c connection preface", errNotHTTP2)
	}
	c.firstErr = err
	close(c.first)
	return n, err
}

// awaitFirstBytes waits until the target sent its first bytes, and
// returns the error of that read, or ctx's error when ctx is done first.
func (c *h2cConn) awaitFirstBytes(ctx context.Context) error {
	select {
	case <-c.first:
		return c.firstErr
	case <-ctx.Done():
		return ctx.Err()
	}
}
