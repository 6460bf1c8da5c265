package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/engine"
)

const (
	// publishTimeout bounds one attempt to publish a report.
	publishTimeout = 5 * time.Second
	// finalReportPatience is how long a stopping share keeps trying to
	// deliver its final report.
	finalReportPatience = 2 * time.Minute
	// signalPatience replaces it when a signal stops the worker, so that
	// the process exits soon even when NATS is unreachable.
	signalPatience = 15 * time.Second
	// abandonPatience replaces it when the coordinator is gone and no
	// one would read the report, so there is one attempt.
	abandonPatience = 0
	// reportPatience is how long a report during the run is retried at
	// least, long enough for a NATS cluster to elect a new leader (up to 9 s
	// in nats-server 2.15) or for a server to restart.
	reportPatience = time.Minute
)

// shareRun is a share being run: its engine, claim and reporter.
type shareRun struct {
	p        *participation
	runID    string
	interval time.Duration // report interval
	log      *slog.Logger
	engine   *engine.Engine
	claim    *bus.Lease
	index    int
	seq      uint64
	start    time.Time
	cancel   context.CancelFunc // stops the engine
	done     chan struct{}      // closed after the final report
	patience atomic.Int64       // how long to try delivering the final report
	stopped  atomic.Bool        // stop was called

	updates    chan bus.Assignment
	claimValid atomic.Int64 // unix nanoseconds until which the claim holds
	runValid   atomic.Int64 // unix nanoseconds until which the run's lease holds
}

// startShare claims the assigned share and starts its engine.
func (p *participation) startShare(ctx context.Context, a bus.Assignment) (*shareRun, error) {
	if err := checkOpenFiles(p.run.Plan, a.Share); err != nil {
		return nil, err
	}
	var opts engine.Options
	opts.Duration = p.shareDuration(a.Duration)
	opts.Allow = p.worker.allow
	if p.run.Plan.Iterations > 0 {
		opts.Budget = &grantClient{bus: p.worker.bus, run: p.run.ID, worker: p.worker.id, log: p.log}
	}
	eng, err := engine.New(p.run.Plan, a.Share, opts)
	if err != nil {
		return nil, err
	}
	claimed := time.Now()
	claim, err := p.worker.bus.Acquire(ctx, bus.ClaimKey(p.run.ID, a.Share.Index), []byte(p.worker.id), p.run.Lease)
	if err != nil {
		return nil, fmt.Errorf("claim share %d: %w", a.Share.Index, err)
	}

	engineCtx, cancel := context.WithCancel(context.Background())
	s := &shareRun{
		p:        p,
		runID:    p.run.ID,
		interval: p.run.ReportInterval,
		log:      p.log.With("share", a.Share.Index),
		engine:   eng,
		claim:    claim,
		index:    a.Share.Index,
		start:    time.Now(),
		cancel:   cancel,
		done:     make(chan struct{}),
		updates:  make(chan bus.Assignment, 1),
	}
	s.patience.Store(int64(finalReportPatience))
	s.claimValid.Store(claimed.Add(claim.TTL()).UnixNano())
	s.runValid.Store(p.runSeen.Add(p.run.Lease).UnixNano())
	s.refreshValidity()
	s.log.Info("share started", "users", a.Share.Users, "spawn_rate", a.Share.SpawnRate,
		"max_rps", a.Share.MaxRPS, "duration", a.Duration)
	go s.run(engineCtx)
	return s, nil
}

// stop ends the share's users; done closes once the final report was sent
// or patience ran out.
func (s *shareRun) stop(patience time.Duration) {
	s.patience.Store(int64(patience))
	s.stopped.Store(true)
	s.cancel()
}

// update moves the running share to a new assignment of the same index.
func (s *shareRun) update(a bus.Assignment) {
	if err := checkOpenFiles(s.p.run.Plan, a.Share); err != nil {
		// NOTE: the engine does not cap its connections at the limit, so
		// the connections past it fail with "too many open files".
		s.log.Warn("the share grew past the open-file limit; connections beyond it fail", "err", err)
	}
	s.engine.Update(a.Share)
	s.log.Info("share changed", "users", a.Share.Users, "spawn_rate", a.Share.SpawnRate, "max_rps", a.Share.MaxRPS)
}

// coordinatorSeen records that the coordinator's lease on the run holds
// until t.
func (s *shareRun) coordinatorSeen(t time.Time) {
	s.runValid.Store(t.UnixNano())
	s.refreshValidity()
}

// refreshValidity lets the engine generate load until the first of the
// claim's and the run's leases would lapse.
func (s *shareRun) refreshValidity() {
	until := min(s.claimValid.Load(), s.runValid.Load())
	s.engine.SetValidUntil(time.Unix(0, until))
}

func (s *shareRun) run(ctx context.Context) {
	defer close(s.done)
	defer s.cancel()

	finished := make(chan error, 1)
	go func() { finished <- s.engine.Run(ctx) }()
	// The claim is renewed on its own goroutine, so that a report retried
	// while NATS is unreachable does not hold renewals up once it is back.
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		s.renewClaim(ctx)
	}()

	interval := s.interval
	report := newTicker(interval)
	defer report.Stop()
loop:
	for {
		select {
		case err := <-finished:
			if err != nil {
				s.log.Error("share stopped: no lease renewal arrived in time", "err", err)
			}
			break loop
		case <-report.C:
			if !s.stopped.Load() {
				s.report(false, max(interval*10, reportPatience))
			}
		}
	}
	// The users have stopped, so the claim needs no more renewals.
	s.cancel()
	<-renewing

	s.report(true, 0)
	release, cancel := context.WithTimeout(context.Background(),
		min(publishTimeout, max(time.Second, time.Duration(s.patience.Load()))))
	defer cancel()
	if err := s.claim.Release(release); err != nil {
		s.log.Warn("could not release the share", "err", err)
	}
	s.log.Info("share finished", "elapsed", time.Since(s.start).Round(time.Millisecond))
}

// renewClaim renews the claim until ctx is done. It stops the share's
// users when the claim was lost, and otherwise leaves them to stop by
// themselves when no renewal succeeds within the lease.
func (s *shareRun) renewClaim(ctx context.Context) {
	renew := time.NewTimer(renewEvery(s.claim.TTL()))
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
		}
		renew.Reset(renewEvery(s.claim.TTL()))
		renewed := time.Now()
		// Bounded like checkLeases, so that a renewal that hangs while NATS
		// is unreachable does not hold up the next one.
		renewCtx, cancel := context.WithTimeout(ctx, s.claim.TTL()/2)
		err := s.claim.Renew(renewCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, bus.ErrLeaseLost):
			s.log.Error("lost the claim on the share; stopping its users", "err", err)
			s.cancel()
			return
		case err != nil:
			s.log.Warn("could not renew the claim on the share", "err", err)
			renew.Reset(retryEvery(s.claim.TTL()))
		default:
			s.claimValid.Store(renewed.Add(s.claim.TTL()).UnixNano())
			s.refreshValidity()
		}
	}
}

// report sends the statistics gathered since the previous report. Delivery
// is retried with the same sequence number and message id until it succeeds
// or patience runs out, so a report is never counted twice nor merged into
// the next one. A final report's patience is the share's, which stop may
// shorten while the report is being retried.
func (s *shareRun) report(final bool, patience time.Duration) {
	s.seq++
	r := &bus.Report{
		Run:     s.runID,
		Worker:  s.p.worker.id,
		Seq:     s.seq,
		Share:   s.index,
		Final:   final,
		Users:   s.engine.Users(),
		Elapsed: time.Since(s.start),
		Sent:    time.Now(),
		Tasks:   s.engine.Collect(),
		Dropped: s.engine.TakeDropped(),
	}
	data, err := bus.EncodeReport(r)
	if err != nil {
		s.log.Error("could not encode report", "seq", r.Seq, "err", err)
		return
	}
	subject := bus.ReportSubject(r.Run, r.Worker)
	msgID := fmt.Sprintf("%s.%s.%d", r.Run, r.Worker, r.Seq)
	begin := time.Now()
	for attempt := 1; ; attempt++ {
		if final || s.stopped.Load() {
			// stop may have shortened the patience since the last attempt.
			patience = min(patience, time.Duration(s.patience.Load()))
			if final {
				patience = time.Duration(s.patience.Load())
			}
		}
		timeout := min(publishTimeout, max(time.Second, patience-time.Since(begin)))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := s.p.worker.bus.JS.Publish(ctx, subject, data, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return
		}
		if time.Since(begin) >= patience {
			s.log.Error("report lost: could not publish it", "seq", r.Seq, "final", final, "attempts", attempt, "err", err)
			return
		}
		s.log.Warn("retrying report", "seq", r.Seq, "attempt", attempt, "err", err)
		time.Sleep(min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second))
	}
}

func newTicker(d time.Duration) *time.Ticker {
	return time.NewTicker(max(d, 10*time.Millisecond))
}
