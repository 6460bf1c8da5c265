package engine

import (
	"sync/atomic"
	"time"
)

// pacer spaces requests evenly at a rate without bursts: each request
// reserves the next free slot, and a slot that passed while no user was
// ready is lost rather than made up later. The zero value does not limit.
type pacer struct {
	interval atomic.Int64 // nanoseconds between slots; 0 means no limit
	origin   time.Time    // start of slot time
	next     atomic.Int64 // first free slot, in nanoseconds since origin
}

func newPacer(rate float64) *pacer {
	p := &pacer{}
	p.setRate(rate)
	return p
}

// setRate changes the rate; 0 or less removes the limit. It is safe for
// concurrent use with reserve.
func (p *pacer) setRate(rate float64) {
	if rate <= 0 {
		p.interval.Store(0)
		return
	}
	p.interval.Store(max(1, int64(float64(time.Second)/rate)))
}

func (p *pacer) start() { p.origin = time.Now() }

// reserve takes the next slot and returns how long to wait for it. It is
// safe for concurrent use.
func (p *pacer) reserve() time.Duration {
	interval := p.interval.Load()
	if interval == 0 {
		return 0
	}
	now := int64(time.Since(p.origin))
	for {
		next := p.next.Load()
		slot := max(next, now)
		if p.next.CompareAndSwap(next, slot+interval) {
			return time.Duration(slot - now)
		}
	}
}
