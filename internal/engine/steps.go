package engine

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/plan"
)

// maxCheckedBody bounds the decompressed size of a response body that
// checks and extraction read, so that a small compressed body cannot take
// all memory. A body that decodes to more fails its step.
const maxCheckedBody = 64 << 20

// step is one request of a task, ready to send: its request built once,
// the client of its host, and what to do with the response. A task without
// steps has one step without a name.
type step struct {
	slot     int    // index of the step's statistics in a shard
	name     string // empty for the one request of a task without steps
	template fasthttp.Request
	client   client

	// Templates of the parts with variables, nil or empty without them.
	url     *varTemplate
	headers []headerTemplate
	body    *varTemplate

	expect   expectation
	extracts []extractor
	// readsBody is set when a check or an extractor reads the body.
	readsBody bool
}

// headerTemplate is a request header whose value has variables.
type headerTemplate struct {
	name  string
	value *varTemplate
}

// expectation is the check of a step's final response.
type expectation struct {
	statuses []int
	// expected completes the failure message of a status that is not
	// listed, such as ", expected 200 or 201".
	expected     string
	bodyContains []byte
	// bodyFailure is the failure message of a body without bodyContains.
	bodyFailure string
}

// extractor sets a variable from a response.
type extractor struct {
	variable int    // index in the variableTable
	jsonPath string // gjson syntax
	header   string
	regex    *regexp.Regexp
	// failure is the message of a response where nothing was found.
	failure string
}

// newStep prepares the request s. where names it in messages, such as
// "step login of task login_flow" or "task home".
func newStep(s plan.Step, where string, clients *clientPool, vars *variableTable) (*step, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", s.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", s.URL)
	}
	prepared := &step{name: s.Name, client: clients.get(u.Scheme, u.Host, serverNameOf(clients.http.Host))}
	req := &prepared.template
	req.SetRequestURI(s.URL)
	req.Header.SetMethod(s.Method)
	for name, value := range s.Headers {
		req.Header.Set(name, value)
	}
	if s.Body != "" {
		req.SetBodyString(s.Body)
	}
	setHTTPOptions(req, s.Headers, clients.http)

	if err := prepared.parseVariables(s, vars); err != nil {
		return nil, err
	}
	if err := prepared.parseResponseHandling(s, where, vars); err != nil {
		return nil, err
	}
	return prepared, nil
}

// parseVariables prepares the templates of the url, header values and
// body of s. A body read from a file is sent as it is.
func (s *step) parseVariables(ps plan.Step, vars *variableTable) error {
	var err error
	if s.url, err = parseURLTemplate(ps.URL, vars); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	names := make([]string, 0, len(ps.Headers))
	for name := range ps.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		value, err := parseURLTemplate(ps.Headers[name], vars)
		if err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
		if value != nil {
			s.headers = append(s.headers, headerTemplate{name: name, value: value})
		}
	}
	if ps.BodyFile == "" {
		if s.body, err = parseURLTemplate(ps.Body, vars); err != nil {
			return fmt.Errorf("body: %w", err)
		}
	}
	return nil
}

// parseResponseHandling prepares the checks and extractors of ps.
func (s *step) parseResponseHandling(ps plan.Step, where string, vars *variableTable) error {
	if len(ps.Expect.Status) > 0 {
		s.expect.statuses = ps.Expect.Status
		s.expect.expected = ", expected " + plan.ExpectedStatuses(ps.Expect.Status)
	}
	if ps.Expect.BodyContains != "" {
		s.expect.bodyContains = []byte(ps.Expect.BodyContains)
		s.expect.bodyFailure = fmt.Sprintf("response body does not contain %q", ps.Expect.BodyContains)
		s.readsBody = true
	}

	for _, x := range ps.Extract {
		ref, ok := vars.lookup(x.Variable)
		if !ok || ref.kind != storedVar {
			return fmt.Errorf("extract: invalid variable %q", x.Variable)
		}
		ex := extractor{
			variable: ref.index,
			header:   x.Header,
			failure:  fmt.Sprintf("%s: extract %s: %s found nothing in the response", where, x.Variable, x.Source()),
		}
		switch {
		case x.JSON != "":
			path, err := plan.GJSONPath(x.JSON)
			if err != nil {
				return fmt.Errorf("extract %s: %w", x.Variable, err)
			}
			ex.jsonPath = path
			s.readsBody = true
		case x.Regex != "":
			re, err := regexp.Compile(x.Regex)
			if err != nil {
				return fmt.Errorf("extract %s: %w", x.Variable, err)
			}
			ex.regex = re
			s.readsBody = true
		case x.Header == "":
			return fmt.Errorf("extract %s: no json, header or regex", x.Variable)
		}
		s.extracts = append(s.extracts, ex)
	}
	return nil
}

// hasVariables reports whether the step's request has variables.
func (s *step) hasVariables() bool {
	return s.url != nil || len(s.headers) > 0 || s.body != nil
}

// runStep sends the request of step s, following redirects, checks the
// final response and extracts its variables. It records every request
// sent and reports whether the step passed. A variable without a value
// fails the step before anything is sent, and counts as one failed
// request of no latency. A panic is recovered and counted as a failed
// request.
func (u *user) runStep(s *step) (passed bool) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			u.last = -1
			u.record(s.slot, time.Since(start), 0, fmt.Sprintf("panic: %v", r))
			passed = false
		}
	}()

	u.acquireBuffers()
	if u.last != s.slot {
		s.template.CopyTo(u.req)
		u.last = s.slot
	}
	if s.hasVariables() {
		if missing := u.applyVariables(s); missing >= 0 {
			u.record(s.slot, 0, 0, u.engine.vars.missing[missing])
			return false
		}
	}
	jar := u.jar()

	// Every redirect that nextHop accepts is sent and recorded as one
	// more request of the step.
	c := s.client
	for hop := 0; ; hop++ {
		jar.apply(u.req.URI().Host(), u.req)
		start = time.Now()
		err := c.DoDeadline(u.req, u.resp, u.engine.requestDeadline(start))
		elapsed := time.Since(start)

		var failure string
		if err != nil {
			failure = errorMessage(err)
			u.last = -1
			c = nil
		} else {
			if jar.store(u.req.URI().Host(), u.resp) {
				u.last = -1
			}
			c, failure = u.nextHop(c, hop)
			if c == nil && failure == "" {
				failure = u.checkResponse(s)
			}
		}
		u.record(s.slot, elapsed, len(u.resp.Body()), failure)
		u.resp.Reset()
		if c == nil {
			return failure == ""
		}
	}
}

// applyVariables sets the url, the header values and the body of u.req
// from the step's templates. It returns the index of a variable without a
// value, or -1 when every variable has one.
func (u *user) applyVariables(s *step) int {
	u.seq = 0
	var missing int
	if s.url != nil {
		if u.uri, missing = s.url.expand(u.uri[:0], u); missing >= 0 {
			return missing
		}
		u.req.SetRequestURIBytes(u.uri)
	}
	for _, h := range s.headers {
		if u.buf, missing = h.value.expand(u.buf[:0], u); missing >= 0 {
			return missing
		}
		u.req.Header.SetBytesV(h.name, u.buf)
	}
	if s.body != nil {
		if u.buf, missing = s.body.expand(u.buf[:0], u); missing >= 0 {
			return missing
		}
		u.req.SetBody(u.buf)
	}
	return -1
}

// checkResponse checks the final response of step s and extracts its
// variables. It returns the failure message, or "" when the response
// passed.
func (u *user) checkResponse(s *step) string {
	code := u.resp.StatusCode()
	switch {
	case len(s.expect.statuses) == 0 && code >= 400:
		return statusMessage(code)
	case len(s.expect.statuses) > 0 && !slices.Contains(s.expect.statuses, code):
		return statusMessage(code) + s.expect.expected
	}
	if !s.readsBody && len(s.extracts) == 0 {
		return ""
	}

	var body []byte
	if s.readsBody {
		var err error
		body, err = u.resp.BodyUncompressedWithLimit(maxCheckedBody)
		if err != nil {
			return "cannot decode the response body for checks: " + err.Error()
		}
	}
	if s.expect.bodyContains != nil && !bytes.Contains(body, s.expect.bodyContains) {
		return s.expect.bodyFailure
	}
	for i := range s.extracts {
		x := &s.extracts[i]
		value, ok := x.find(&u.resp.Header, body)
		if !ok {
			return x.failure
		}
		u.setValue(x.variable, value)
	}
	return ""
}

// find returns the value that x extracts from a response with header h
// and the decoded body, and whether it found one. A JSON path finds
// nothing when it is missing or null, a header when it is absent or empty,
// and a regular expression when it does not match.
func (x *extractor) find(h *fasthttp.ResponseHeader, body []byte) ([]byte, bool) {
	switch {
	case x.jsonPath != "":
		r := gjson.GetBytes(body, x.jsonPath)
		if !r.Exists() || r.Type == gjson.Null {
			return nil, false
		}
		if r.Type == gjson.String {
			return []byte(r.Str), true
		}
		return []byte(r.Raw), true
	case x.regex != nil:
		m := x.regex.FindSubmatch(body)
		switch {
		case m == nil:
			return nil, false
		case len(m) > 1:
			return m[1], true
		}
		return m[0], true
	}
	v := responseHeader(h, x.header)
	return v, len(v) > 0
}

// responseHeader returns the first value of the header name, whose case
// need not match the response's.
func responseHeader(h *fasthttp.ResponseHeader, name string) []byte {
	if v := h.Peek(name); len(v) > 0 {
		return v
	}
	for k, v := range h.All() {
		if strings.EqualFold(string(k), name) {
			return v
		}
	}
	return nil
}
