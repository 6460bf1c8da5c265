package engine

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/barrage-load/barrage/internal/plan"
)

// variableTable numbers the variables that users store: those extracted
// from responses and the data columns. Built-in variables are computed
// where they are used and have no number.
type variableTable struct {
	index map[string]int
	// missing holds, for each variable, the failure of a request that
	// uses it before it has a value.
	missing []string
}

// newVariableTable numbers the variables of p: extracted ones in the
// order the plan first extracts them, then the data columns.
func newVariableTable(p *plan.Plan) *variableTable {
	vt := &variableTable{index: make(map[string]int)}
	for _, t := range p.Tasks {
		if len(t.Steps) == 0 {
			vt.addExtracted(t.Extract, "task "+t.Name)
		}
		for _, s := range t.Steps {
			vt.addExtracted(s.Extract, fmt.Sprintf("step %s of task %s", s.Name, t.Name))
		}
	}
	if p.Data != nil {
		for _, c := range p.Data.Columns {
			vt.add(c, fmt.Sprintf("data column %s has no value", c))
		}
	}
	return vt
}

// addExtracted numbers the variables that extract sets. where names the
// request that extracts them, such as "step login of task login_flow".
func (vt *variableTable) addExtracted(extract []plan.Extract, where string) {
	for _, x := range extract {
		vt.add(x.Variable, fmt.Sprintf("variable ${%s} has no value yet; %s extracts it", x.Variable, where))
	}
}

// add numbers name unless it has a number already.
func (vt *variableTable) add(name, missing string) {
	if _, ok := vt.index[name]; ok {
		return
	}
	vt.index[name] = len(vt.missing)
	vt.missing = append(vt.missing, missing)
}

// lookup returns the reference to the variable name.
func (vt *variableTable) lookup(name string) (varRef, bool) {
	if ref, ok := builtinRef(name); ok {
		return ref, true
	}
	i, ok := vt.index[name]
	return varRef{kind: storedVar, index: i}, ok
}

// size returns how many variables users store.
func (vt *variableTable) size() int { return len(vt.missing) }

// setValue stores value as the user's variable i, reusing its buffer.
func (u *user) setValue(i int, value []byte) {
	u.values[i] = append(u.values[i][:0], value...)
	u.valueSet[i] = true
}

// dataRows are the rows of a plan's data, ready for users to take.
type dataRows struct {
	columns []int // the variable index of each column
	rows    [][]string
	once    bool
	taken   atomic.Int64 // rows taken by this engine's executions
}

// newDataRows prepares the data of p, or returns nil when p has none.
func newDataRows(p *plan.Plan, vars *variableTable) *dataRows {
	if p.Data == nil || len(p.Data.Rows) == 0 {
		return nil
	}
	d := &dataRows{rows: p.Data.Rows, once: p.Data.Mode == plan.DataOnce}
	for _, c := range p.Data.Columns {
		d.columns = append(d.columns, vars.index[c])
	}
	return d
}

// takeRow sets the columns of the next row as the user's variables, for
// the task execution about to start. In cycle mode the row is the next of
// this engine, from the first again after the last. In once mode it is
// the row of the iteration's fleet-wide number, so that each row goes to
// one execution across the fleet.
func (u *user) takeRow() {
	e := u.engine
	d := e.data
	if d == nil {
		return
	}
	n := d.taken.Add(1) - 1
	if d.once {
		n = e.iterations.number(n)
	}
	// The coordinator grants at most one iteration per row in once mode,
	// so the modulo changes nothing there.
	row := d.rows[n%int64(len(d.rows))]
	for j, i := range d.columns {
		u.values[i] = append(u.values[i][:0], row[j]...)
		u.valueSet[i] = true
	}
}

// iterationRanges records the fleet-wide numbers of the iterations that
// an engine was granted, so that its k-th iteration can find its number.
// It is safe for concurrent use.
type iterationRanges struct {
	mu     sync.Mutex
	ranges []iterationRange
	total  int64 // iterations in all ranges
}

// iterationRange is one grant: count iterations numbered from first,
// which are the engine's iterations numbered from start.
type iterationRange struct {
	first, count, start int64
}

// add records a grant of count iterations numbered from first.
func (r *iterationRanges) add(first, count int64) {
	if count <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges = append(r.ranges, iterationRange{first: first, count: count, start: r.total})
	r.total += count
}

// number returns the fleet-wide number of the engine's k-th iteration,
// counted from 0. k must be below the number of iterations granted.
func (r *iterationRanges) number(k int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := sort.Search(len(r.ranges), func(i int) bool {
		return r.ranges[i].start+r.ranges[i].count > k
	})
	if i == len(r.ranges) {
		// Not granted: only a caller that broke the contract gets here.
		return k
	}
	g := r.ranges[i]
	return g.first + k - g.start
}
