package engine

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// nextHop prepares u.req to follow the redirect in u.resp and returns the
// client for it. It returns a nil client when the response is not a
// redirect to follow, with a failure message when the task ran out of
// redirects. current is the client that sent the response, and hop counts
// the redirects already followed, from 0.
//
// Each hop is a request of its own, so the user records it with its own
// latency and the target receives exactly the counted requests.
func (u *user) nextHop(current client, hop int) (client, string) {
	h := &u.engine.plan.HTTP
	code := u.resp.StatusCode()
	if h.MaxRedirects == 0 || !isRedirect(code) {
		return nil, ""
	}
	location := u.resp.Header.Peek(fasthttp.HeaderLocation)
	if len(location) == 0 {
		// Without a Location there is nowhere to go, so the 3xx response
		// is the final response.
		return nil, ""
	}
	if hop >= h.MaxRedirects {
		return nil, fmt.Sprintf("too many redirects: stopped after %d (http.max_redirects); raise it or fix the redirect loop", h.MaxRedirects)
	}

	// From here on u.req no longer matches its task's template.
	u.last = -1
	uri := u.req.URI()
	scheme, host := string(uri.Scheme()), string(uri.Host())
	uri.UpdateBytes(location)
	rewriteMethod(u.req, code)

	nextScheme, nextHost := string(uri.Scheme()), string(uri.Host())
	if nextScheme == scheme && strings.EqualFold(nextHost, host) {
		return current, ""
	}
	if h.Host != "" && nextScheme == scheme && strings.EqualFold(nextHost, h.Host) {
		// A redirect to the overridden Host goes to the same target
		// address, with the same Host header.
		uri.SetHost(host)
		return current, ""
	}
	if nextScheme != "http" && nextScheme != "https" {
		return nil, fmt.Sprintf("redirect to unsupported scheme %q", nextScheme)
	}

	// Another host gets its own Host header, and no credentials or
	// cookies meant for the first one.
	u.req.UseHostHeader = false
	u.req.Header.Del(fasthttp.HeaderAuthorization)
	u.req.Header.DelAllCookies()
	return u.engine.clients.get(nextScheme, nextHost, ""), ""
}

// isRedirect reports whether code is a redirect status that has a
// Location to follow.
func isRedirect(code int) bool {
	switch code {
	case fasthttp.StatusMovedPermanently, fasthttp.StatusFound, fasthttp.StatusSeeOther,
		fasthttp.StatusTemporaryRedirect, fasthttp.StatusPermanentRedirect:
		return true
	}
	return false
}

// rewriteMethod turns req into a GET without a body where browsers and
// net/http do so: after 303 for every method but HEAD, and after 301 and
// 302 for POST. 307 and 308 keep the method and body.
func rewriteMethod(req *fasthttp.Request, code int) {
	method := string(req.Header.Method())
	toGet := code == fasthttp.StatusSeeOther && method != fasthttp.MethodHead ||
		(code == fasthttp.StatusMovedPermanently || code == fasthttp.StatusFound) && method == fasthttp.MethodPost
	if !toGet {
		return
	}
	req.Header.SetMethod(fasthttp.MethodGet)
	req.ResetBody()
	req.Header.Del(fasthttp.HeaderContentType)
}
