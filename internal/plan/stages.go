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
var stageKeys = []string{"duration", "users"}

// Stage is one step of a closed-model load profile. Over Duration the
// fleet's users move linearly from the previous stage's Users, or from 0
// for the first stage, to this stage's Users.
type Stage struct {
	// Duration is greater than 0.
	Duration time.Duration `json:"duration" msgpack:"duration"`
	// Users is the number of users at the end of the stage, 0 or more.
	Users int `json:"users" msgpack:"users"`
}

// StageTarget returns the fleet's target users at elapsed time into the
// run and the slope of the stage in progress, in users per second as an
// absolute value. The target is rounded to the nearest whole user, and it
// is exact at each stage boundary. Before the first stage it is 0. After
// the last stage it is the last stage's users, with a slope of 0. A plan
// without stages returns Users and a slope of 0.
func (p *Plan) StageTarget(elapsed time.Duration) (users int, slope float64) {
	if len(p.Stages) == 0 {
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

	stages := make([]Stage, 0, len(items))
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
	highest := 0
	for _, s := range stages {
		if total > math.MaxInt64-s.Duration {
			d.addf(e.value, "stages", "the stage durations add up to more than %v; shorten the stages", time.Duration(math.MaxInt64))
			return
		}
		total += s.Duration
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
	p.Duration = total
	p.Stages = stages
}

// stage reads one item of the stages list at key path key, such as
// stages[1].
func (d *decoder) stage(n *yaml.Node, key string) (Stage, bool) {
	if n.Kind == yaml.AliasNode {
		return Stage{}, false
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n, key, "%s: a stage must be a mapping with the keys duration and users, such as {duration: 30s, users: 50}", invalid(n))
		return Stage{}, false
	}
	f := d.fields(n, key, stageKeys)
	var s Stage
	ok := true
	if e, found := f["duration"]; found {
		var durOK bool
		s.Duration, durOK = d.duration(e.value, key+".duration")
		ok = ok && durOK
	} else {
		d.addf(n, key+".duration", "missing key duration; set how long the stage lasts, for example duration: 30s")
		ok = false
	}
	if e, found := f["users"]; found {
		users, usersOK := d.count(e.value, key+".users", 0, MaxUsers, "50")
		s.Users = int(users)
		ok = ok && usersOK
	} else {
		d.addf(n, key+".users", "missing key users; set the users at the end of the stage, for example users: 50")
		ok = false
	}
	return s, ok
}
