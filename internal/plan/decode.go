package plan

import (
	"math"
	"net/url"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/barrage-load/barrage/internal/redact"
)

// Keys allowed in each mapping of a plan, in the order the plan format
// documents them.
var (
	planKeys    = []string{"name", "target", "users", "rate", "spawn_rate", "duration", "stages", "iterations", "max_rps", "timeout", "think_time", "graceful_stop", "workers", "thresholds", "http", "data", "tasks"}
	workersKeys = []string{"min", "join_timeout"}
	taskKeys    = []string{"name", "weight", "method", "url", "go", "steps", "headers", "body", "body_file", "extract", "expect", "think_time", "thresholds"}
)

// target is the plan's base URL as far as tasks need it.
type target struct {
	// set is true when the plan has a target key, valid or not.
	set bool
	// base is the parsed target, or nil when it is unset or invalid.
	base *url.URL
}

// plan decodes the top-level mapping m.
func (d *decoder) plan(m *yaml.Node) *Plan {
	f := d.fields(m, "", planKeys)
	p := &Plan{
		Name:         DefaultName,
		Timeout:      DefaultTimeout,
		GracefulStop: DefaultGracefulStop,
	}

	if e, ok := f["name"]; ok {
		p.Name, _ = d.runName(e.value)
	}
	t := d.target(f)
	if t.base != nil {
		p.Target = t.base.String()
	}
	var dataNode *yaml.Node
	p.Data, dataNode = d.data(f)
	d.limits(m, f, p)
	d.stages(f, p)
	d.openModel(f, p)
	p.Workers = d.workers(f)
	if e, ok := f["thresholds"]; ok {
		p.Thresholds = d.thresholds(e.value, "thresholds")
	}
	p.HTTP = d.httpOptions(f)
	p.Tasks = d.tasks(m, f, t)
	if _, hasData := f["data"]; !hasData || p.Data != nil {
		// The columns of invalid data are unknown, so no use of a
		// variable can be checked against them.
		d.checkVariableUses(p.Data, dataNode)
	}
	d.timing(f, p)
	return p
}

// runName reads the plan name, which must contain text and no control
// characters because the run id is derived from it.
func (d *decoder) runName(v *yaml.Node) (string, bool) {
	const rule = "name must be a string such as shop"
	s, ok := d.text(v, "name", rule)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		d.addf(v, "name", "%s: name must not be empty; remove the key to use the default %q", invalid(v), DefaultName)
		return "", false
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		d.addf(v, "name", "%s: name must not contain control characters such as newlines or tabs", invalid(v))
		return "", false
	}
	return s, true
}

// target reads the optional base URL. It must be an absolute http or
// https URL with a host and without a query or fragment, because task
// paths are appended to it.
func (d *decoder) target(f map[string]entry) target {
	e, ok := f["target"]
	if !ok {
		return target{}
	}
	const rule = "target must be an absolute http or https URL such as http://127.0.0.1:8080"
	s, ok := d.text(e.value, "target", rule)
	if !ok {
		return target{set: true}
	}
	e.value = masked(e.value, redact.URL(s))

	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme == "":
		d.addf(e.value, "target", "%s: %s", invalid(e.value), rule)
	case u.Scheme != "http" && u.Scheme != "https":
		d.addf(e.value, "target", "%s: scheme %q is not supported; use http or https", invalid(e.value), u.Scheme)
	case u.Host == "":
		d.addf(e.value, "target", "%s: target has no host; write it as http://host:port", invalid(e.value))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		d.addf(e.value, "target", "%s: target must not have a query or fragment; put them in the task URLs", invalid(e.value))
	default:
		return target{set: true, base: u}
	}
	return target{set: true}
}

// limits reads the keys that size and bound the run: users, rate,
// spawn_rate, duration, iterations, max_rps and timeout.
func (d *decoder) limits(m *yaml.Node, f map[string]entry, p *Plan) {
	// With stages or rate, users is optional: stages or openModel fill it in.
	_, hasStages := f["stages"]
	_, hasRate := f["rate"]
	if e, ok := f["users"]; ok {
		n, _ := d.count(e.value, "users", 1, MaxUsers, "100")
		p.Users = int(n)
	} else if !hasStages && !hasRate {
		d.addf(m, "users", "missing key users; set the number of concurrent virtual users, for example users: 100")
	}
	if e, ok := f["rate"]; ok {
		p.Rate, _ = d.arrivalRate(e.value, "rate")
	}

	p.SpawnRate = float64(p.Users)
	if e, ok := f["spawn_rate"]; ok {
		p.SpawnRate, _ = d.rate(e.value, "spawn_rate", "10 or 0.5")
	}

	eDuration, hasDuration := f["duration"]
	if hasDuration {
		p.Duration, _ = d.duration(eDuration.value, "duration")
	}
	eIterations, hasIterations := f["iterations"]
	if hasIterations {
		p.Iterations, _ = d.count(eIterations.value, "iterations", 1, math.MaxInt64, "10000")
	}
	if !hasDuration && !hasIterations && !hasStages && !p.Data.IsOnce() {
		d.addf(m, "", "missing duration and iterations; set duration (for example duration: 5m), iterations (for example iterations: 10000) or both")
	}
	if p.Data.IsOnce() {
		// Each row is used once, so the run has at most one iteration per
		// row.
		rows := int64(len(p.Data.Rows))
		if p.Iterations == 0 || p.Iterations > rows {
			p.Iterations = rows
		}
	}

	if e, ok := f["max_rps"]; ok {
		p.MaxRPS, _ = d.rate(e.value, "max_rps", "500 or 2.5")
	}
	if e, ok := f["timeout"]; ok {
		p.Timeout, _ = d.duration(e.value, "timeout")
	}
}

// workers reads the optional workers mapping.
func (d *decoder) workers(f map[string]entry) Workers {
	w := Workers{Min: DefaultMinWorkers, JoinTimeout: DefaultJoinTimeout}
	e, ok := f["workers"]
	if !ok || e.value.Kind == yaml.AliasNode {
		return w
	}
	if e.value.Kind != yaml.MappingNode {
		d.addf(e.value, "workers", "%s: workers must be a mapping with the keys min and join_timeout", invalid(e.value))
		return w
	}

	wf := d.fields(e.value, "workers", workersKeys)
	if e, ok := wf["min"]; ok {
		n, _ := d.count(e.value, "workers.min", 1, math.MaxInt, "3")
		w.Min = int(n)
	}
	if e, ok := wf["join_timeout"]; ok {
		w.JoinTimeout, _ = d.duration(e.value, "workers.join_timeout")
	}
	return w
}
