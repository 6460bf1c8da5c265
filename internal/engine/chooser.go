package engine

import (
	"math/rand/v2"
	"sort"

	"github.com/barrage-load/barrage/internal/plan"
)

// chooser picks tasks in proportion to their weights; a task of weight 0 is
// never picked.
type chooser struct {
	cumulative []int // running sum of weights, one entry per task
	total      int
}

func newChooser(tasks []plan.Task) chooser {
	c := chooser{cumulative: make([]int, len(tasks))}
	for i, t := range tasks {
		c.total += t.Weight
		c.cumulative[i] = c.total
	}
	return c
}

// pick returns the index of a task. The plan guarantees a positive total.
func (c chooser) pick(rng *rand.Rand) int {
	if len(c.cumulative) == 1 {
		return 0
	}
	n := rng.IntN(c.total)
	return sort.Search(len(c.cumulative), func(i int) bool { return c.cumulative[i] > n })
}
