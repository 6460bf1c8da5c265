package engine

import (
	"context"
	"time"
)

// think pauses the user after an execution of task t for the task's think
// time, drawn uniformly from its range with the user's own random source.
// It returns false when the run ended or the user was stopped during the
// pause, which then ends at once.
func (u *user) think(ctx context.Context, t *task) bool {
	tt := u.engine.plan.Tasks[t.index].ThinkTime
	pause := tt.Min
	if tt.Max > tt.Min {
		pause += time.Duration(u.rng.Int64N(int64(tt.Max-tt.Min) + 1))
	}
	return u.sleep(ctx, pause)
}
