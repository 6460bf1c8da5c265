package engine

import (
	"time"

	"github.com/valyala/fasthttp"
)

// cookieJar stores the cookies of one virtual user: for each host, the
// value of each cookie name. A user's goroutine is its only reader and
// writer.
//
// NOTE: the jar is simpler than a browser's (RFC 6265). It keys cookies
// by the host of the request URL and ignores Domain, Path, Secure and
// SameSite, so a cookie goes back on every request to the host that set
// it. A cookie is deleted when its value is empty, its Max-Age is 0 or
// less, or its Expires has passed. A cookie whose expiry lies in the
// future is kept for the rest of the run, even after it expires.
type cookieJar struct {
	hosts  map[string]map[string]string
	cookie fasthttp.Cookie
}

func newCookieJar() *cookieJar {
	return &cookieJar{hosts: make(map[string]map[string]string)}
}

// apply adds the stored cookies of host to req. A nil jar adds none.
func (j *cookieJar) apply(host []byte, req *fasthttp.Request) {
	if j == nil {
		return
	}
	for name, value := range j.hosts[string(host)] {
		req.Header.SetCookie(name, value)
	}
}

// store saves the cookies that resp sets for host. It reports whether a
// cookie was deleted, in which case the user's request must be rebuilt
// from its template to drop the cookie.
func (j *cookieJar) store(host []byte, resp *fasthttp.Response) (deleted bool) {
	if j == nil {
		return false
	}
	now := time.Now()
	resp.Header.VisitAllCookie(func(_, header []byte) {
		c := &j.cookie
		c.Reset()
		if c.ParseBytes(header) != nil || len(c.Key()) == 0 {
			return
		}
		cookies := j.hosts[string(host)]
		expire := c.Expire()
		expired := expire != fasthttp.CookieExpireUnlimited && expire.Before(now)
		if len(c.Value()) == 0 || c.MaxAge() < 0 || expired {
			if _, ok := cookies[string(c.Key())]; ok {
				delete(cookies, string(c.Key()))
				deleted = true
			}
			return
		}
		if cookies == nil {
			cookies = make(map[string]string)
			j.hosts[string(host)] = cookies
		}
		cookies[string(c.Key())] = string(c.Value())
	})
	return deleted
}

// jar returns the user's cookie jar, created on first use, or nil when
// the plan turns cookies off.
func (u *user) jar() *cookieJar {
	if u.cookies == nil && u.engine.plan.HTTP.Cookies {
		u.cookies = newCookieJar()
	}
	return u.cookies
}
