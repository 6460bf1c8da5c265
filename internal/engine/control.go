package engine

import (
	"context"
	"sync"
	"time"
)

// control starts and stops users until ctx is done, one action per spawn
// interval, so that the number of users follows the share at its spawn
// rate whichever way it moves. The next action is due one interval of the
// current rate after the previous one, so a new share with a faster rate
// takes effect at once rather than after an interval of the old rate.
func (e *Engine) control(ctx context.Context, stop context.CancelFunc, wg *sync.WaitGroup) {
	var running []*user // newest last; the newest stops first
	defer func() {
		for _, u := range running {
			close(u.quit)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time // the previous start or stop
	started := 0

	for {
		share := e.Share()
		if len(running) != share.Users {
			next := last.Add(spawnInterval(share.SpawnRate, e.plan.SpawnRate))
			if wait := time.Until(next); wait <= 0 {
				if len(running) < share.Users {
					u := e.newUser(started)
					started++
					running = append(running, u)
					e.users.Add(1)
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer e.users.Add(-1)
						u.loop(ctx, stop)
					}()
				} else {
					last := running[len(running)-1]
					running = running[:len(running)-1]
					close(last.quit)
				}
				last = time.Now()
				continue
			} else {
				timer.Reset(wait)
			}
		}

		select {
		case <-ctx.Done():
			return
		case <-e.changed:
		case <-timer.C:
		}
	}
}

// spawnInterval returns the time between two user starts or stops. A share
// without a rate of its own moves at the plan's fleet-wide rate.
func spawnInterval(rate, planRate float64) time.Duration {
	if rate <= 0 {
		rate = planRate
	}
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}
