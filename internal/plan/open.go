package plan

import (
	"math"

	"go.yaml.in/yaml/v3"
)

// Open reports whether the plan is an open model: task executions start
// at a rate, and users only caps how many are in progress at once.
func (p *Plan) Open() bool { return p.Rate > 0 }

// arrivalRate reads the rate key: task executions started per second
// across the fleet, greater than 0 and at most MaxRate.
func (d *decoder) arrivalRate(v *yaml.Node, key string) (float64, bool) {
	r, ok := d.rate(v, key, "200 or 0.5")
	if ok && r > MaxRate {
		d.addf(v, key, "%s: rate must be at most %d task executions per second", invalid(v), MaxRate)
		return 0, false
	}
	return r, ok
}

// stageRate reads the rate of one stage, which may be 0 so that a
// profile can ramp down to nothing.
func (d *decoder) stageRate(v *yaml.Node, key string) (float64, bool) {
	if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float") {
		var f float64
		if v.Decode(&f) == nil && f == 0 {
			return 0, true
		}
	}
	return d.arrivalRate(v, key)
}

// openModel checks the keys that an open-model plan does not use and sets
// its default users. It runs after limits, which reads the timeout, and
// stages, which sets p.Rate for rate stages.
func (d *decoder) openModel(f map[string]entry, p *Plan) {
	if p.Rate <= 0 {
		return
	}
	if e, ok := f["spawn_rate"]; ok {
		d.addf(e.key, "spawn_rate", "spawn_rate does not apply to a plan with rate, which starts task executions at that rate whatever the users; remove spawn_rate")
	}
	if _, ok := f["users"]; !ok {
		users := math.Ceil(p.Rate * p.Timeout.Seconds())
		p.Users = int(min(max(users, 1), MaxUsers))
	}
	p.SpawnRate = float64(p.Users)
}
