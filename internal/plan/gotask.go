package plan

// requestKeys are the task keys that describe HTTP requests, which a
// task with go must not set.
var requestKeys = []string{"method", "url", "headers", "body", "body_file", "extract", "expect", "steps"}

// goName reads the go key of the task at path, whose keys are f: the name
// of a function registered with package task. It reports every request
// key that the task sets as well. The worker, not the plan, checks that
// the function exists, because only the worker's binary contains it.
func (d *decoder) goName(f map[string]entry, path string) string {
	for _, k := range requestKeys {
		if e, ok := f[k]; ok {
			d.addf(e.key, path+"."+k, "%s and go are both set; a task either sends a request or runs a Go function, so remove %s or go", k, k)
		}
	}

	key := path + ".go"
	e := f["go"]
	s, ok := d.text(e.value, key, "go must be the name of a function registered with task.Register, such as login")
	if !ok {
		return ""
	}
	if !IsValidName(s) {
		d.addf(e.value, key, "%s: go must name a registered function with letters A-Z and a-z, digits, '_', '.' and '-' only", invalid(e.value))
		return ""
	}
	return s
}
