package engine

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPacerReserveConcurrentSlots(t *testing.T) {
	// At 1 per second the slots are 1 s apart, far more than the time
	// that 800 reservations take, so each wait rounds to its slot number.
	const (
		goroutines = 8
		each       = 100
		interval   = time.Second
	)
	p := newPacer(1)
	p.start()

	waits := make([][]time.Duration, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				waits[g] = append(waits[g], p.reserve())
			}
		}()
	}
	wg.Wait()

	all := slices.Concat(waits...)
	slices.Sort(all)
	for i, wait := range all {
		slot := (wait + interval/2) / interval
		if slot != time.Duration(i) {
			t.Fatalf("wait %d of %d is %v, want about %v: slots must be distinct and %v apart",
				i, len(all), wait, time.Duration(i)*interval, interval)
		}
	}
	if next := time.Duration(p.next.Load()); next < goroutines*each*interval {
		t.Errorf("next free slot is %v after %d reservations, want at least %v",
			next, len(all), goroutines*each*interval)
	}
}

func TestPacerNoBurstAfterIdle(t *testing.T) {
	t.Parallel()
	const interval = 50 * time.Millisecond
	p := newPacer(20)
	p.start()
	if wait := p.reserve(); wait != 0 {
		t.Errorf("first reserve waits %v, want 0", wait)
	}

	// Twenty slots pass unused, and the pacer must drop them instead of
	// saving them up.
	time.Sleep(time.Second)
	first := p.reserve()
	second := p.reserve()

	if first != 0 {
		t.Errorf("reserve after idling waits %v, want 0", first)
	}
	if second < interval*9/10 || second > interval {
		t.Errorf("second reserve after idling waits %v, want about %v", second, interval)
	}
}

func TestPacerIntervalFromRate(t *testing.T) {
	tests := []struct {
		rate float64
		want time.Duration
	}{
		{1, time.Second},
		{200, 5 * time.Millisecond},
		{0.4, 2500 * time.Millisecond},
		{3e9, time.Nanosecond},
	}
	for _, tt := range tests {
		if got := time.Duration(newPacer(tt.rate).interval.Load()); got != tt.want {
			t.Errorf("newPacer(%v) interval = %v, want %v", tt.rate, got, tt.want)
		}
	}
}
