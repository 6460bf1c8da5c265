package task

import (
	"context"
	"fmt"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/vuhost"
)

// VU is the virtual user that runs a Func. The worker creates one VU per
// user and passes it to every execution of that user. A VU is not safe for
// concurrent use: call its methods from the goroutine that runs the Func.
type VU struct {
	host vuhost.Host
	req  fasthttp.Request
	resp fasthttp.Response
}

// Response is the response to a request sent with VU.Do.
type Response struct {
	// StatusCode is the HTTP status code, such as 200.
	StatusCode int
	// Header contains the response headers, keyed by canonical name.
	Header http.Header
	// Body is a copy of the response body, which the caller may keep.
	Body []byte
}

// ID returns the user's number within its worker, from 0.
func (vu *VU) ID() int { return vu.host.ID() }

// Iteration returns how many tasks this user ran before the current
// execution, counting every task of the plan: 0 in the user's first.
func (vu *VU) Iteration() int64 { return vu.host.Iteration() }

// Do sends a request with method, url, body and headers, and returns the
// final response. headers and body may be nil. Redirects are followed as
// the plan's http.max_redirects allows, and the plan's cookies, Host
// override and request timeout apply as for HTTP tasks. http.compression
// does not apply: set the Accept-Encoding header to request compressed
// bodies, which Do then decodes. Do returns an error for a body in an
// encoding other than gzip, deflate, br or zstd.
//
// Every request sent, redirects included, is recorded under the plan task.
// A status of 400 or more counts as a failed request but is not an error:
// Do returns the response and a nil error, and the Func decides. Do returns
// an error when the request could not be sent or timed out (also counted as
// a failure), when url is not a valid http or https URL, and with ctx's
// error, sending nothing, when ctx is done.
func (vu *VU) Do(ctx context.Context, method, url string, body []byte, headers map[string]string) (*Response, error) {
	req, resp := &vu.req, &vu.resp
	req.Reset()
	resp.Reset()
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	for name, value := range headers {
		req.Header.Set(name, value)
	}
	if body != nil {
		req.SetBody(body)
	}
	if err := vu.host.Do(ctx, req, resp); err != nil {
		return nil, err
	}

	// BodyUncompressed decodes gzip, deflate, br and zstd bodies, returns
	// a body without Content-Encoding unchanged and fails on any other.
	body, err := resp.BodyUncompressed()
	if err != nil {
		return nil, fmt.Errorf("%s %s: decode %s body: %w", method, url, resp.Header.ContentEncoding(), err)
	}
	out := &Response{
		StatusCode: resp.StatusCode(),
		Header:     make(http.Header),
		Body:       append([]byte(nil), body...),
	}
	for name, value := range resp.Header.All() {
		out.Header.Add(string(name), string(value))
	}
	return out, nil
}

// Get sends a GET request to url and returns the status code and a copy
// of the body. It records the request and returns errors as Do does.
func (vu *VU) Get(ctx context.Context, url string) (status int, body []byte, err error) {
	resp, err := vu.Do(ctx, fasthttp.MethodGet, url, nil, nil)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Body, nil
}
