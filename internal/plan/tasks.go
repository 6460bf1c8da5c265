package plan

import (
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/barrage-load/barrage/internal/redact"
)

// tasks reads the tasks list of the top-level mapping m.
func (d *decoder) tasks(m *yaml.Node, f map[string]entry, t target) []Task {
	e, ok := f["tasks"]
	if !ok {
		d.addf(m, "tasks", "missing key tasks; add a list with at least one task, each with a name and a url")
		return nil
	}
	v := e.value
	switch {
	case v.Kind == yaml.AliasNode:
		return nil
	case v.Kind != yaml.SequenceNode:
		d.addf(v, "tasks", "%s: tasks must be a list of tasks, each with a name and a url", invalid(v))
		return nil
	case len(v.Content) == 0:
		d.addf(e.key, "tasks", "tasks is empty; add at least one task with a name and a url")
		return nil
	case len(v.Content) > MaxTasks:
		d.addf(e.key, "tasks", "plan has %d tasks, over the limit of %d; merge or remove tasks", len(v.Content), MaxTasks)
		return nil
	}

	names := make(map[string]string, len(v.Content))
	tasks := make([]Task, 0, len(v.Content))
	allZero, weightsKnown := true, true
	for i, n := range v.Content {
		task, weightOK := d.task(n, fmt.Sprintf("tasks[%d]", i), t, names)
		tasks = append(tasks, task)
		weightsKnown = weightsKnown && weightOK
		allZero = allZero && task.Weight == 0
	}
	if weightsKnown && allZero {
		d.addf(e.key, "tasks", "every task has weight 0, so no task would ever run; give at least one task a weight above 0")
	}
	return tasks
}

// task reads one task at path, such as tasks[2]. names maps the task names
// seen so far to the path and line of the task that used them first. The
// second result is false when the weight is unknown because the task or
// its weight is invalid.
func (d *decoder) task(n *yaml.Node, path string, t target, names map[string]string) (Task, bool) {
	if n.Kind == yaml.AliasNode {
		return Task{}, false
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n, path, "%s: each task must be a mapping with at least the keys name and url", invalid(n))
		return Task{}, false
	}

	f := d.fields(n, path, taskKeys)
	task := Task{Weight: DefaultWeight, Method: DefaultMethod}
	task.Name = d.taskName(n, f, path, names)

	weightOK := true
	if e, ok := f["weight"]; ok {
		w, ok := d.count(e.value, path+".weight", 0, MaxWeight, "3")
		task.Weight, weightOK = int(w), ok
	}
	_, isGo := f["go"]
	_, hasSteps := f["steps"]
	switch {
	case isGo:
		task.Method = ""
		task.Go = d.goName(f, path)
	case hasSteps:
		task.Method = ""
		task.Steps = d.steps(f, path, t, task.Name)
	default:
		r := d.request(n, f, path, t, "task "+task.Name)
		task.Method, task.URL, task.Headers = r.method, r.url, r.headers
		task.Body, task.BodyFile = r.body, r.bodyFile
		task.Extract, task.Expect = r.extract, r.expect
	}
	if e, ok := f["thresholds"]; ok {
		task.Thresholds = d.thresholds(e.value, path+".thresholds")
	}
	return task, weightOK
}

// taskName reads the name of the task at path and checks that no earlier
// task uses it.
func (d *decoder) taskName(n *yaml.Node, f map[string]entry, path string, names map[string]string) string {
	key := path + ".name"
	e, ok := f["name"]
	if !ok {
		d.addf(n, key, "missing key name; give the task a unique name such as home")
		return ""
	}
	const rule = "name must be a string such as home"
	s, ok := d.text(e.value, key, rule)
	if !ok {
		return ""
	}

	switch {
	case s == "":
		d.addf(e.value, key, "%s: name must not be empty; give the task a unique name such as home", invalid(e.value))
	case strings.IndexFunc(s, isNotLabelChar) >= 0:
		d.addf(e.value, key, "%s: name may contain only letters A-Z and a-z, digits, '_', '.' and '-', because it becomes a metric label", invalid(e.value))
	case names[s] != "":
		d.addf(e.value, key, "duplicate task name %q, already used by %s; give each task its own name", s, names[s])
	default:
		names[s] = fmt.Sprintf("%s at line %d", path, e.value.Line)
	}
	return s
}

// labelChars is every character allowed in a task name.
const labelChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

// isNotLabelChar reports whether r may not appear in a task name.
func isNotLabelChar(r rune) bool {
	return !strings.ContainsRune(labelChars, r)
}

// method reads an HTTP method and returns it in upper case.
func (d *decoder) method(v *yaml.Node, key string) string {
	const rule = "method must be an HTTP method such as GET or POST"
	s, ok := d.text(v, key, rule)
	if !ok {
		return ""
	}
	if !isToken(s) {
		d.addf(v, key, "%s: %s, made of letters, digits and !#$%%&'*+-.^_`|~ only", invalid(v), rule)
		return ""
	}
	if strings.EqualFold(s, "CONNECT") {
		d.addf(v, key, "%s: CONNECT opens a tunnel and sends no request of its own; use GET, POST or another method", invalid(v))
		return ""
	}
	return strings.ToUpper(s)
}

// isToken reports whether s is a non-empty HTTP token as defined in
// RFC 9110, section 5.6.2, which method and header names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		isAlnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !isAlnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// taskURL reads a task URL and returns it as an absolute URL. A path that
// starts with "/" is appended to the target's path.
func (d *decoder) taskURL(v *yaml.Node, key string, t target) string {
	const rule = "url must be an absolute http or https URL such as http://127.0.0.1:8080/ or a path such as /home"
	s, ok := d.text(v, key, rule)
	if !ok {
		return ""
	}
	v = masked(v, redact.URL(v.Value))

	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		switch {
		case !t.set:
			d.addf(v, key, "%s: a path needs target; set target such as http://127.0.0.1:8080 or write the full URL", invalid(v))
			return ""
		case t.base == nil:
			// The invalid target was already reported.
			return ""
		}
		s = strings.TrimSuffix(t.base.String(), "/") + s
	}

	u, err := url.Parse(s)
	switch {
	case err != nil:
		d.addf(v, key, "%s: %s", invalid(v), rule)
	case u.Scheme == "":
		d.addf(v, key, "%s: url must start with \"/\" or be an absolute http or https URL such as http://127.0.0.1:8080/", invalid(v))
	case u.Scheme != "http" && u.Scheme != "https":
		d.addf(v, key, "%s: scheme %q is not supported; use http or https", invalid(v), u.Scheme)
	case u.Host == "":
		d.addf(v, key, "%s: url has no host; write it as http://host:port/path", invalid(v))
	case strings.IndexFunc(s, isURLSpaceOrControl) >= 0:
		// Sent as written, such a URL would split the request line, and
		// the target would reject it before counting it.
		d.addf(v, key, "%s: url contains a space or a control character; percent-encode it, a space as %%20", invalid(v))
	default:
		if !d.scanVariables(v, key, s) {
			return ""
		}
		// The URL is kept as written, so that ${name} variables stay
		// readable for the engine instead of percent-encoded.
		return s
	}
	return ""
}

// isURLSpaceOrControl reports whether r may not appear in a URL as sent.
func isURLSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f
}

// headers reads a task's header mapping. It returns nil for an empty
// mapping.
func (d *decoder) headers(v *yaml.Node, key string) map[string]string {
	if v.Kind == yaml.AliasNode {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.addf(v, key, "%s: headers must be a mapping of header names to values, such as {Accept: text/html}", invalid(v))
		return nil
	}
	if len(v.Content)/2 > MaxHeaders {
		d.addf(v, key, "task has %d headers, over the limit of %d; remove some", len(v.Content)/2, MaxHeaders)
		return nil
	}

	out := make(map[string]string, len(v.Content)/2)
	lines := make(map[string]int, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		name, ok := d.headerName(k, key)
		if !ok {
			continue
		}
		path := key + "." + name
		canonical := strings.ToLower(name)
		if line, seen := lines[canonical]; seen {
			d.addf(k, path, "duplicate header %q, already set at line %d (header names ignore case); remove one of them", name, line)
			continue
		}
		lines[canonical] = k.Line
		if value, ok := d.headerValue(val, path, redact.SecretName(name)); ok && d.scanVariables(val, path, value) {
			out[name] = value
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// headerName reads the key k of a header mapping at path key.
func (d *decoder) headerName(k *yaml.Node, key string) (string, bool) {
	if k.Kind == yaml.AliasNode {
		return "", false
	}
	if k.Kind != yaml.ScalarNode || !isToken(k.Value) {
		d.addf(k, key, "invalid header name %s: use letters, digits and !#$%%&'*+-.^_`|~ only, such as Content-Type", headerKeyText(k))
		return "", false
	}
	return k.Value, true
}

// headerKeyText shows a header key in a message.
func headerKeyText(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", k.Value)
	}
	return "(" + kindName(k) + ")"
}

// headerValue reads a header value, which must not contain control
// characters other than tab because they could split the request. The
// messages about a secret value show a mask instead of the value.
func (d *decoder) headerValue(v *yaml.Node, key string, secret bool) (string, bool) {
	s, ok := d.text(v, key, "header value must be a string such as text/html")
	if !ok {
		return "", false
	}
	shown := v
	if secret {
		shown = masked(v, redact.Mask)
	}
	for _, r := range s {
		if r != '\t' && (r < 0x20 || r == 0x7f) {
			d.addf(v, key, "%s: header value must not contain control characters such as newlines", invalid(shown))
			return "", false
		}
	}
	return s, true
}

// body reads a task's request body.
func (d *decoder) body(v *yaml.Node, key string) string {
	s, ok := d.text(v, key, "body must be a string; quote a body such as '{\"a\": 1}', or use a YAML block scalar (|) for several lines")
	if !ok {
		return ""
	}
	if len(s) > MaxBodySize {
		d.addf(v, key, "body is %d bytes, over the limit of %d bytes; shorten it", len(s), MaxBodySize)
		return ""
	}
	if !d.scanVariables(v, key, s) {
		return ""
	}
	return s
}

// masked returns a copy of the scalar v whose value reads shown, for
// messages about a value that holds a secret. The copy keeps v's line and
// column. The value itself is taken from the original node.
func masked(v *yaml.Node, shown string) *yaml.Node {
	if v.Kind != yaml.ScalarNode || shown == v.Value {
		return v
	}
	c := *v
	c.Value = shown
	return &c
}
