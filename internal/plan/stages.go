package plan

import (
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxStages is the maximum number of stages in a plan.
const MaxStages = 100

// stageKeys are the keys allowed in each stage.
var stageKeys = []string{"duration", "users", "rate"}

// Stage is one step of a load profile. Over Duration the fleet's users,
// or in an open-model plan its arrival rate, move linearly from the
// previous stage's value, or from 0 for the first stage, to this stage's.
// All stages of a plan set users, or all set a rate.
type Stage struct {
	// Duration is greater than 0.
	Duration time.Duration `json:"duration" msgpack:"duration"`
	// Users is the number of users at the end of the stage, 0 or more. It
	// is 0 in a stage that sets Rate.
	Users int `json:"users" msgpack:"users"`
	// Rate is the arrival rate at the end of the stage, in task executions
	// per second across the fleet, 0 or more. It is 0 in a stage that
	// sets Users.
	Rate float64 `json:"rate,omitempty" msgpack:"rate,omitempty"`
}

// StageTarget returns the fleet's target users at elapsed time into the
// run and the slope of the stage in progress, in users per second as an
// absolute value. The target is rounded to the nearest whole user, and it
// is exact at each stage boundary. Before the first stage it is 0. After
// the last stage it is the last stage's users, with a slope of 0. A plan
// without stages returns Users and a slope of 0.
func (p *Plan) StageTarget(elapsed time.Duration) (users int, slope float64) {
	if len(p.Stages) == 0 || p.Rate > 0 {
		return p.Users, 0
	}
	if elapsed < 0 {
		elapsed = 0
	}
	from := 0
	for _, s := range p.Stages {
		if elapsed < s.Duration {
			delta := float64(s.Users - from)
			done := float64(elapsed) / float64(s.Duration)
			users = from + int(math.Round(delta*done))
			return users, math.Abs(delta) / s.Duration.Seconds()
		}
		elapsed -= s.Duration
		from = s.Users
	}
	return from, 0
}

// RateAt returns the fleet's arrival rate at elapsed time into the run, in
// task executions per second. With rate stages it moves linearly from one
// stage's rate to the next, from 0 before the first stage, and stays at
// the last stage's rate after the last stage. Without them it is Rate,
// which is 0 in a closed-model plan.
func (p *Plan) RateAt(elapsed time.Duration) float64 {
	if len(p.Stages) == 0 || p.Rate <= 0 {
		return p.Rate
	}
	elapsed = max(elapsed, 0)
	from := 0.0
	for _, s := range p.Stages {
		if elapsed < s.Duration {
			done := float64(elapsed) / float64(s.Duration)
			return from + (s.Rate-from)*done
		}
		elapsed -= s.Duration
		from = s.Rate
	}
	return from
}

// stages reads the optional stages list. With stages, the plan's Duration
// is the sum of the stage durations and Users defaults to the highest
// stage's users. limits must have run first, because stages checks and
// fills in the users it read.
func (d *decoder) stages(f map[string]entry, p *Plan) {
	e, ok := f["stages"]
	if !ok || e.value.Kind == yaml.AliasNode {
		return
	}
	const rule = "stages must be a list of mappings such as {duration: 30s, users: 50}"
	if e.value.Kind != yaml.SequenceNode {
		d.addf(e.value, "stages", "%s: %s", invalid(e.value), rule)
		return
	}
	items := e.value.Content
	switch {
	case len(items) == 0:
		d.addf(e.value, "stages", "stages is empty; list at least one stage such as {duration: 30s, users: 50}, or remove the key")
		return
	case len(items) > MaxStages:
		d.addf(e.value, "stages", "stages has %d items, over the limit of %d; merge stages that share a slope",
			len(items), MaxStages)
		return
	}

	stages := make([]stage, 0, len(items))
	valid := true
	for i, n := range items {
		s, ok := d.stage(n, fmt.Sprintf("stages[%d]", i))
		stages = append(stages, s)
		valid = valid && ok
	}
	if eDuration, ok := f["duration"]; ok {
		d.addf(eDuration.key, "duration", "duration and stages are both set; remove duration, because a plan with stages lasts the sum of the stage durations")
	}
	if !valid {
		return
	}

	var total time.Duration
	for _, s := range stages {
		if total > math.MaxInt64-s.Duration {
			d.addf(e.value, "stages", "the stage durations add up to more than %v; shorten the stages", time.Duration(math.MaxInt64))
			return
		}
		total += s.Duration
	}
	if !d.sameStageKind(items, stages) {
		return
	}
	if stages[0].open {
		d.rateStages(e, f, p, stages)
	} else {
		d.userStages(e, f, p, stages)
	}
	p.Duration = total
	p.Stages = make([]Stage, len(stages))
	for i, s := range stages {
		p.Stages[i] = s.Stage
	}
}

// userStages checks the stages of a closed-model plan and fills in the
// users and spawn rate that they set.
func (d *decoder) userStages(e entry, f map[string]entry, p *Plan, stages []stage) {
	highest := 0
	for _, s := range stages {
		highest = max(highest, s.Users)
	}
	if highest == 0 {
		d.addf(e.value, "stages", "every stage has 0 users; give at least one stage users greater than 0")
		return
	}

	if eUsers, ok := f["users"]; ok {
		if p.Users > 0 && p.Users < highest {
			d.addf(eUsers.value, "users", "%s: users must be at least %d, the highest users of the stages; raise it or remove the key",
				invalid(eUsers.value), highest)
		}
	} else {
		p.Users = highest
	}
	if _, ok := f["spawn_rate"]; !ok {
		p.SpawnRate = float64(p.Users)
	}
}

// rateStages checks the stages of an open-model plan and sets the plan's
// rate to the highest stage rate.
func (d *decoder) rateStages(e entry, f map[string]entry, p *Plan, stages []stage) {
	if eRate, ok := f["rate"]; ok {
		d.addf(eRate.key, "rate", "rate and rate stages are both set; remove rate, because the stages set the rate over time")
		return
	}
	highest := 0.0
	for _, s := range stages {
		highest = max(highest, s.Rate)
	}
	if highest == 0 {
		d.addf(e.value, "stages", "every stage has rate 0; give at least one stage a rate greater than 0")
		return
	}
	p.Rate = highest
}

// sameStageKind reports whether all stages set users or all set a rate,
// and records a problem at the first stage that differs from the first.
func (d *decoder) sameStageKind(items []*yaml.Node, stages []stage) bool {
	for i, s := range stages {
		if s.open == stages[0].open {
			continue
		}
		first, this := "users", "rate"
		if stages[0].open {
			first, this = this, first
		}
		d.addf(items[i], fmt.Sprintf("stages[%d]", i),
			"this stage sets %s but stages[0] sets %s; all stages set users (each user runs tasks one after another) or all set rate (task executions started per second)",
			this, first)
		return false
	}
	return true
}

// stage is a stage as read from the plan, with the kind of value it sets.
type stage struct {
	Stage
	open bool // the stage sets rate rather than users
}

// stage reads one item of the stages list at key path key, such as
// stages[1].
func (d *decoder) stage(n *yaml.Node, key string) (stage, bool) {
	if n.Kind == yaml.AliasNode {
		return stage{}, false
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n, key, "%s: a stage must be a mapping with the keys duration and users, such as {duration: 30s, users: 50}, or duration and rate, such as {duration: 30s, rate: 200}", invalid(n))
		return stage{}, false
	}
	f := d.fields(n, key, stageKeys)
	var s stage
	ok := true
	if e, found := f["duration"]; found {
		var durOK bool
		s.Duration, durOK = d.duration(e.value, key+".duration")
		ok = ok && durOK
	} else {
		d.addf(n, key+".duration", "missing key duration; set how long the stage lasts, for example duration: 30s")
		ok = false
	}

	eUsers, hasUsers := f["users"]
	eRate, hasRate := f["rate"]
	switch {
	case hasUsers && hasRate:
		d.addf(eRate.key, key+".rate", "users and rate are both set; a stage sets users (closed model) or rate (open model), not both")
		ok = false
	case hasUsers:
		users, usersOK := d.count(eUsers.value, key+".users", 0, MaxUsers, "50")
		s.Users = int(users)
		ok = ok && usersOK
	case hasRate:
		s.open = true
		var rateOK bool
		s.Rate, rateOK = d.stageRate(eRate.value, key+".rate")
		ok = ok && rateOK
	default:
		d.addf(n, key+".users", "missing key users or rate; set the users at the end of the stage, for example users: 50, or the arrival rate, for example rate: 200")
		ok = false
	}
	return s, ok
}
