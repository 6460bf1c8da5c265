package engine

import (
	"sync/atomic"
	"time"
)

// pacer spaces requests evenly at a fixed rate without bursts: each request
// reserves the next free slot, and a slot that passed while nobody was
// ready is lost rather than made up later.
type pacer struct {
	interval int64        // nanoseconds between slots
	origin   time.Time    // start of slot time
	next     atomic.Int64 // first free slot, in nanoseconds since origin
}

func newPacer(rate float64) *pacer {
	return &pacer{interval: max(1, int64(float64(time.Second)/rate))}
}

func (p *pacer) start() { p.origin = time.Now() }

// reserve takes the next slot and returns how long to wait for it. It is
// safe for concurrent use.
func (p *pacer) reserve() time.Duration {
	now := int64(time.Since(p.origin))
	for {
		next := p.next.Load()
		slot := max(next, now)
		if p.next.CompareAndSwap(next, slot+p.interval) {
			return time.Duration(slot - now)
		}
	}
}
