package plan

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits of steps, extraction and checks.
const (
	// MaxExtracts is the maximum number of variables that one request
	// extracts.
	MaxExtracts = 100
	// MaxStatuses is the maximum number of statuses in expect.status.
	MaxStatuses = 100
	// MaxPatternSize is the maximum length in bytes of a JSON path,
	// regular expression or body_contains text.
	MaxPatternSize = 4096
)

var (
	stepKeys    = []string{"name", "method", "url", "headers", "body", "body_file", "extract", "expect"}
	extractKeys = []string{"json", "header", "regex"}
	expectKeys  = []string{"status", "body_contains"}
)

// Step is one request of a task with steps.
type Step struct {
	// Name is unique within its task and contains only the characters
	// of a task name.
	Name string `json:"name" msgpack:"name"`
	// Method, URL, Headers, Body, BodyFile, Extract and Expect mean what
	// the fields of the same names in Task mean.
	Method   string            `json:"method" msgpack:"method"`
	URL      string            `json:"url" msgpack:"url"`
	Headers  map[string]string `json:"headers" msgpack:"headers"`
	Body     string            `json:"body" msgpack:"body"`
	BodyFile string            `json:"body_file,omitempty" msgpack:"body_file,omitempty"`
	Extract  []Extract         `json:"extract,omitempty" msgpack:"extract,omitempty"`
	Expect   Expect            `json:"expect,omitzero" msgpack:"expect"`
}

// Extract sets a variable from a response. Exactly one of JSON, Header
// and Regex is set.
type Extract struct {
	// Variable is the name that ${Variable} refers to.
	Variable string `json:"variable" msgpack:"variable"`
	// JSON is a path such as $.data.items[0].id into a JSON body.
	JSON string `json:"json,omitempty" msgpack:"json,omitempty"`
	// Header is the name of a response header, whose first value is
	// taken.
	Header string `json:"header,omitempty" msgpack:"header,omitempty"`
	// Regex is a Go regular expression matched against the body. The
	// first capture group is taken, or the whole match without groups.
	Regex string `json:"regex,omitempty" msgpack:"regex,omitempty"`
}

// Source describes the extractor for messages, such as "json $.token".
func (x Extract) Source() string {
	switch {
	case x.JSON != "":
		return "json " + x.JSON
	case x.Header != "":
		return "header " + x.Header
	}
	return "regex " + x.Regex
}

// Expect checks a response. A response that fails a check fails its
// request.
type Expect struct {
	// Status lists the statuses that pass. When it is empty, a status of
	// 400 or more fails and every other passes.
	Status []int `json:"status,omitempty" msgpack:"status,omitempty"`
	// BodyContains, when set, is text that the body must contain.
	BodyContains string `json:"body_contains,omitempty" msgpack:"body_contains,omitempty"`
}

// request is the part of a task or a step that describes one HTTP
// request and the handling of its response.
type request struct {
	method   string
	url      string
	headers  map[string]string
	body     string
	bodyFile string
	extract  []Extract
	expect   Expect
}

// request reads the request keys of the mapping n at path, whose keys are
// f. where names the request in messages, such as "task home" or "step
// login of task login_flow".
func (d *decoder) request(n *yaml.Node, f map[string]entry, path string, t target, where string) request {
	r := request{method: DefaultMethod}
	if e, ok := f["method"]; ok {
		r.method = d.method(e.value, path+".method")
	}
	if e, ok := f["url"]; ok {
		r.url = d.taskURL(e.value, path+".url", t)
	} else {
		d.addf(n, path+".url", "missing key url; give an absolute URL such as http://127.0.0.1:8080/ or a path such as / together with target")
	}
	if e, ok := f["headers"]; ok {
		r.headers = d.headers(e.value, path+".headers")
	}
	if e, ok := f["body"]; ok {
		r.body = d.body(e.value, path+".body")
	}
	if e, ok := f["body_file"]; ok {
		if _, hasBody := f["body"]; hasBody {
			d.addf(e.key, path+".body_file", "body and body_file are both set; keep one of them")
		} else if body, ok := d.file(e.value, path+".body_file", MaxBodySize); ok {
			r.body, r.bodyFile = body, e.value.Value
		}
	}
	if e, ok := f["extract"]; ok {
		r.extract = d.extract(e.value, path+".extract", where)
	}
	if e, ok := f["expect"]; ok {
		r.expect = d.expect(e.value, path+".expect")
	}
	return r
}

// steps reads the steps list of the task at path, whose keys are f, and
// reports every key that a task with steps must leave to its steps.
func (d *decoder) steps(f map[string]entry, path string, t target, task string) []Step {
	for _, k := range stepKeys[1:] {
		if e, ok := f[k]; ok {
			d.addf(e.key, path+"."+k, "%s and steps are both set; a task with steps sets %s in each step, so move it into a step or remove steps", k, k)
		}
	}

	e := f["steps"]
	key := path + ".steps"
	v := e.value
	switch {
	case v.Kind == yaml.AliasNode:
		return nil
	case v.Kind != yaml.SequenceNode:
		d.addf(v, key, "%s: steps must be a list of requests, each with a name and a url", invalid(v))
		return nil
	case len(v.Content) == 0:
		d.addf(e.key, key, "steps is empty; add at least one step with a name and a url, or remove steps and give the task a url")
		return nil
	case len(v.Content) > MaxSteps:
		d.addf(e.key, key, "task has %d steps, over the limit of %d; split it into several tasks", len(v.Content), MaxSteps)
		return nil
	}

	names := make(map[string]string, len(v.Content))
	steps := make([]Step, 0, len(v.Content))
	for i, n := range v.Content {
		steps = append(steps, d.step(n, fmt.Sprintf("%s[%d]", key, i), t, task, names))
	}
	return steps
}

// step reads one step at path, such as tasks[0].steps[1]. names maps the
// step names of the task seen so far to where they were used first.
func (d *decoder) step(n *yaml.Node, path string, t target, task string, names map[string]string) Step {
	if n.Kind == yaml.AliasNode {
		return Step{}
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n, path, "%s: each step must be a mapping with at least the keys name and url", invalid(n))
		return Step{}
	}
	f := d.fields(n, path, stepKeys)
	name := d.stepName(n, f, path, names)
	r := d.request(n, f, path, t, fmt.Sprintf("step %s of task %s", name, task))
	return Step{
		Name:     name,
		Method:   r.method,
		URL:      r.url,
		Headers:  r.headers,
		Body:     r.body,
		BodyFile: r.bodyFile,
		Extract:  r.extract,
		Expect:   r.expect,
	}
}

// stepName reads the name of the step at path and checks that no earlier
// step of its task uses it.
func (d *decoder) stepName(n *yaml.Node, f map[string]entry, path string, names map[string]string) string {
	key := path + ".name"
	e, ok := f["name"]
	if !ok {
		d.addf(n, key, "missing key name; give the step a name that is unique within its task, such as login")
		return ""
	}
	s, ok := d.text(e.value, key, "name must be a string such as login")
	if !ok {
		return ""
	}
	switch {
	case s == "":
		d.addf(e.value, key, "%s: name must not be empty; give the step a name that is unique within its task, such as login", invalid(e.value))
	case !IsValidName(s):
		d.addf(e.value, key, "%s: name may contain only letters A-Z and a-z, digits, '_', '.' and '-', because it becomes a metric label", invalid(e.value))
	case names[s] != "":
		d.addf(e.value, key, "duplicate step name %q, already used by %s; give each step of a task its own name", s, names[s])
	default:
		names[s] = fmt.Sprintf("%s at line %d", path, e.value.Line)
	}
	return s
}

// extract reads an extract mapping of variable names to extractors, such
// as {token: {json: $.token}}. where names the request that extracts them.
func (d *decoder) extract(v *yaml.Node, key, where string) []Extract {
	const rule = "extract must be a mapping of variable names to extractors, such as {token: {json: $.token}}"
	if v.Kind == yaml.AliasNode {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return nil
	}
	if len(v.Content)/2 > MaxExtracts {
		d.addf(v, key, "request extracts %d variables, over the limit of %d; remove some", len(v.Content)/2, MaxExtracts)
		return nil
	}

	var out []Extract
	seen := make(map[string]int, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Kind == yaml.AliasNode {
			continue
		}
		if k.Kind != yaml.ScalarNode || !IsVariableName(k.Value) {
			d.addf(k, key, "invalid variable name %s: use letters, digits and '_', starting with a letter or '_', such as token", headerKeyText(k))
			continue
		}
		name, path := k.Value, key+"."+k.Value
		if line, dup := seen[name]; dup {
			d.addf(k, path, "duplicate variable %q, already extracted at line %d; remove one of them", name, line)
			continue
		}
		seen[name] = k.Line
		if slices.Contains(BuiltinVariables, name) {
			d.addf(k, path, "%q is a built-in variable; give the extracted variable another name", name)
			continue
		}
		// The name is defined even when its extractor is invalid, so that
		// its uses are not reported as unknown as well.
		d.defineExtracted(name, where)
		if x, ok := d.extractor(val, path); ok {
			x.Variable = name
			out = append(out, x)
		}
	}
	return out
}

// extractor reads one extractor: a mapping with exactly one of the keys
// json, header and regex.
func (d *decoder) extractor(v *yaml.Node, key string) (Extract, bool) {
	const rule = "an extractor must be a mapping with one of the keys json, header or regex, such as {json: $.token}"
	if v.Kind == yaml.AliasNode {
		return Extract{}, false
	}
	if v.Kind != yaml.MappingNode {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return Extract{}, false
	}
	f := d.fields(v, key, extractKeys)
	switch len(f) {
	case 0:
		if len(v.Content) == 0 {
			d.addf(v, key, "%s: %s", invalid(v), rule)
		}
		return Extract{}, false
	case 1:
	default:
		d.addf(v, key, "extractor sets %d of json, header and regex; keep exactly one", len(f))
		return Extract{}, false
	}

	var x Extract
	ok := false
	if e, found := f["json"]; found {
		x.JSON, ok = d.jsonPath(e.value, key+".json")
	}
	if e, found := f["header"]; found {
		x.Header, ok = d.text(e.value, key+".header", "header must be a response header name such as X-Token")
		if ok && !isToken(x.Header) {
			d.addf(e.value, key+".header", "%s: header must be a response header name such as X-Token, made of letters, digits and !#$%%&'*+-.^_`|~ only", invalid(e.value))
			ok = false
		}
	}
	if e, found := f["regex"]; found {
		x.Regex, ok = d.regex(e.value, key+".regex")
	}
	return x, ok
}

// jsonPath reads a JSON path and checks that GJSONPath can convert it.
func (d *decoder) jsonPath(v *yaml.Node, key string) (string, bool) {
	s, ok := d.pattern(v, key, "json must be a JSON path such as $.data.items[0].id")
	if !ok {
		return "", false
	}
	if _, err := GJSONPath(s); err != nil {
		d.addf(v, key, "%s: %v", invalid(v), err)
		return "", false
	}
	return s, true
}

// regex reads a Go regular expression and checks that it compiles.
func (d *decoder) regex(v *yaml.Node, key string) (string, bool) {
	s, ok := d.pattern(v, key, `regex must be a Go regular expression such as 'id=(\d+)'`)
	if !ok {
		return "", false
	}
	if err := checkRegex(s); err != nil {
		d.addf(v, key, "%s: invalid regular expression: %v", invalid(v), err)
		return "", false
	}
	return s, true
}

// pattern reads a non-empty string of at most MaxPatternSize bytes.
func (d *decoder) pattern(v *yaml.Node, key, rule string) (string, bool) {
	s, ok := d.text(v, key, rule)
	switch {
	case !ok:
		return "", false
	case s == "":
		d.addf(v, key, "%s: %s must not be empty; %s", invalid(v), leaf(key), rule)
		return "", false
	case len(s) > MaxPatternSize:
		d.addf(v, key, "%s is %d bytes, over the limit of %d bytes; shorten it", leaf(key), len(s), MaxPatternSize)
		return "", false
	}
	return s, true
}

// expect reads an expect mapping with the keys status and body_contains.
func (d *decoder) expect(v *yaml.Node, key string) Expect {
	if v.Kind == yaml.AliasNode {
		return Expect{}
	}
	if v.Kind != yaml.MappingNode {
		d.addf(v, key, "%s: expect must be a mapping with the keys status and body_contains, such as {status: [200]}", invalid(v))
		return Expect{}
	}
	f := d.fields(v, key, expectKeys)
	var x Expect
	if e, ok := f["status"]; ok {
		x.Status = d.statuses(e.value, key+".status")
	}
	if e, ok := f["body_contains"]; ok {
		x.BodyContains, _ = d.pattern(e.value, key+".body_contains", "body_contains must be the text that the body must contain, such as token")
	}
	return x
}

// statuses reads a status code or a list of them. It returns nil when
// the value is invalid.
func (d *decoder) statuses(v *yaml.Node, key string) []int {
	items := []*yaml.Node{v}
	switch {
	case v.Kind == yaml.AliasNode:
		return nil
	case v.Kind == yaml.SequenceNode && len(v.Content) == 0:
		d.addf(v, key, "status is empty; list the statuses that pass, such as [200, 201], or remove status")
		return nil
	case v.Kind == yaml.SequenceNode && len(v.Content) > MaxStatuses:
		d.addf(v, key, "status lists %d codes, over the limit of %d", len(v.Content), MaxStatuses)
		return nil
	case v.Kind == yaml.SequenceNode:
		items = v.Content
	}

	var out []int
	ok := true
	for _, n := range items {
		code, valid := d.count(n, key, 100, 599, "200")
		switch {
		case !valid:
			ok = false
		case slices.Contains(out, int(code)):
			d.addf(n, key, "duplicate status %d; list each status once", code)
			ok = false
		default:
			out = append(out, int(code))
		}
	}
	if !ok {
		return nil
	}
	return out
}

// ExpectedStatuses formats statuses for a failure message: "200",
// "200 or 201", "200, 201 or 204".
func ExpectedStatuses(statuses []int) string {
	var b strings.Builder
	for i, code := range statuses {
		switch {
		case i == 0:
		case i == len(statuses)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, code)
	}
	return b.String()
}
