package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/barrage-load/barrage/internal/plan"
)

// tasksWithWeights returns plan tasks with the given weights.
func tasksWithWeights(weights ...int) []plan.Task {
	tasks := make([]plan.Task, len(weights))
	for i, w := range weights {
		tasks[i] = plan.Task{Name: string(rune('a' + i)), Weight: w}
	}
	return tasks
}

func TestChooserPickMatchesWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"single task", []int{1}},
		{"three to one", []int{3, 1}},
		{"zero weight in the middle", []int{3, 0, 1}},
		{"zero weight first and last", []int{0, 2, 5, 0}},
		{"uneven weights", []int{1, 10, 100, 7}},
		{"small weights show off-by-one errors", []int{2, 0, 3, 1}},
		{"equal weights", []int{4, 4, 4, 4, 4}},
	}
	const draws = 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChooser(tasksWithWeights(tt.weights...))
			rng := rand.New(rand.NewPCG(1, 2))
			counts := make([]int, len(tt.weights))
			for range draws {
				i := c.pick(rng)
				if i < 0 || i >= len(counts) {
					t.Fatalf("pick returned %d for %d tasks", i, len(counts))
				}
				counts[i]++
			}

			sum := 0
			for _, w := range tt.weights {
				sum += w
			}
			for i, w := range tt.weights {
				if w == 0 {
					if counts[i] != 0 {
						t.Errorf("task %d of weight 0 picked %d times", i, counts[i])
					}
					continue
				}
				// Allow 2 % of the expected count, or four standard
				// deviations for a task too rare for 2 % to be meaningful.
				share := float64(w) / float64(sum)
				want := draws * share
				tolerance := max(0.02*want, 4*math.Sqrt(want*(1-share)))
				if math.Abs(float64(counts[i])-want) > tolerance {
					t.Errorf("task %d of weight %d picked %d times, want %.0f ± %.0f", i, w, counts[i], want, tolerance)
				}
			}
		})
	}
}
