//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
)

// Helper runs one of the harness's helper modes, in a process of its
// own so that its CPU time does not count as the coordinator's:
//
//	nats-server    an embedded NATS server with JetStream on a free
//	               loopback port; prints "nats-url URL" and runs until
//	               SIGINT or SIGTERM
//	fake-workers   simulated workers that join a run and report on it;
//	               see fakeFleetConfig for the flags
func Helper(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("helper: name a mode: nats-server or fake-workers")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "nats-server":
		return serveNATS(ctx, stdout)
	case "fake-workers":
		return runFakeFleet(ctx, args[1:], stdout)
	}
	return fmt.Errorf("helper: unknown mode %q: use nats-server or fake-workers", args[0])
}

func serveNATS(ctx context.Context, stdout io.Writer) error {
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	fmt.Fprintf(stdout, "nats-url %s\n", srv.URL())
	<-ctx.Done()
	return nil
}

// fakeFleetConfig sets up the simulated workers of the merge figure.
type fakeFleetConfig struct {
	natsURL     string
	run         string
	workers     int
	connections int           // NATS connections shared by the workers
	lease       time.Duration // the run's lease; read from the run record
	interval    time.Duration // the run's report interval; read from the run record
	requests    int           // requests per task in each report
}

// fakeFleetResult is the outcome that the fake fleet prints as JSON when
// it ends.
type fakeFleetResult struct {
	Reports  int64 `json:"reports"`
	Requests int64 `json:"requests"`
	// ReportBytes are the sizes of the encoded reports: min, median, max.
	ReportBytes [3]int `json:"report_bytes"`
	Failed      int64  `json:"failed_publishes"`
}

// runFakeFleet runs simulated workers that do on NATS what a worker does,
// without sending any HTTP request. Each writes its presence, claims the
// share the coordinator assigns it and renews both leases. It publishes a
// report of the plan's tasks every report interval, a final report when
// the run stops, and leaves when the run is done. The workers learn their
// shares and the run's state from two watchers for the whole fleet, where
// real workers watch their own keys, which changes the NATS server's work
// but not the coordinator's.
func runFakeFleet(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg fakeFleetConfig
	fs := flag.NewFlagSet("fake-workers", flag.ContinueOnError)
	fs.StringVar(&cfg.natsURL, "nats", "", "URL of the NATS server")
	fs.StringVar(&cfg.run, "run", "", "run id")
	fs.IntVar(&cfg.workers, "workers", 10, "simulated workers")
	fs.IntVar(&cfg.connections, "connections", 50, "NATS connections the workers share")
	fs.IntVar(&cfg.requests, "requests", 50, "requests per task in each report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.natsURL == "" || cfg.run == "" {
		return errors.New("fake-workers: -nats and -run are required")
	}

	conns := make([]*bus.Bus, min(cfg.connections, cfg.workers))
	for i := range conns {
		b, err := bus.Connect(ctx, cfg.natsURL, fmt.Sprintf("fake-workers-%d", i))
		if err != nil {
			return err
		}
		defer b.Close()
		conns[i] = b
	}
	run, err := waitRunRecord(ctx, conns[0], cfg.run)
	if err != nil {
		return err
	}
	cfg.lease, cfg.interval = run.Lease, run.ReportInterval

	f := &fakeFleet{cfg: cfg, tasks: fakeTasks(run, cfg.requests), shares: make(map[string]chan int)}
	workers := make([]*fakeWorker, cfg.workers)
	for i := range workers {
		id := fmt.Sprintf("fake-%05d", i)
		workers[i] = &fakeWorker{fleet: f, bus: conns[i%len(conns)], id: id, share: make(chan int, 1), rng: rand.New(rand.NewPCG(uint64(i), 7))}
		f.shares[id] = workers[i].share
	}
	stopWatch, err := f.watch(ctx, conns[0])
	if err != nil {
		return err
	}
	defer stopWatch()

	var wg sync.WaitGroup
	errs := make(chan error, cfg.workers)
	f.reporting.Add(len(workers))
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.serve(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", w.id, err)
			}
		}()
	}
	go func() {
		f.reporting.Wait()
		fmt.Fprintf(stdout, "reporting %d\n", cfg.workers)
	}()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 3 {
		all = append(all[:3], fmt.Errorf("and %d more workers failed", len(all)-3))
	}

	sizes := f.sizes()
	res := fakeFleetResult{Reports: f.reports.Load(), Requests: f.requests.Load(), Failed: f.failed.Load()}
	if len(sizes) > 0 {
		res.ReportBytes = [3]int{int(sizes.min()), int(sizes.median()), int(sizes.max())}
	}
	data, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "result %s\n", data)
	return errors.Join(all...)
}

// fakeFleet is the state the simulated workers share.
type fakeFleet struct {
	cfg      fakeFleetConfig
	tasks    [][]stats.Task         // sets of task statistics that reports carry in turn
	shares   map[string]chan int    // share index deliveries, by worker id
	state    atomic.Pointer[string] // the run's state, as last seen
	states   chan struct{}          // closed and replaced at each state change
	mu       sync.Mutex             // guards states and sizeList
	sizeList []int

	reporting sync.WaitGroup // done once every worker sent its first report
	reports   atomic.Int64
	requests  atomic.Int64
	failed    atomic.Int64
}

// fakeTasks builds 16 sets of statistics for the run's tasks, each with
// requests per task and latencies spread like those of a
// web server: log-normal around 2 ms. Reports carry the sets in turn.
func fakeTasks(run *bus.Run, requests int) [][]stats.Task {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := make([][]stats.Task, 16)
	for i := range sets {
		sets[i] = make([]stats.Task, len(run.Plan.Tasks))
		for j, pt := range run.Plan.Tasks {
			t := &sets[i][j]
			t.Name = pt.Name
			for range requests {
				ms := math.Exp(math.Log(2) + 0.6*rng.NormFloat64())
				t.Latency.Record(time.Duration(ms * float64(time.Millisecond)))
				t.Requests++
				t.Bytes += 512
			}
		}
	}
	return sets
}

// watch follows the share keys and the run record of the run, and
// delivers each share index to its worker and each state to all.
func (f *fakeFleet) watch(ctx context.Context, b *bus.Bus) (stop func(), err error) {
	f.states = make(chan struct{})
	shares, err := b.KV.Watch(ctx, "shares."+f.cfg.run+".*")
	if err != nil {
		return nil, fmt.Errorf("watch shares: %w", err)
	}
	runs, err := b.KV.Watch(ctx, bus.RunKey(f.cfg.run))
	if err != nil {
		shares.Stop()
		return nil, fmt.Errorf("watch run: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case entry, ok := <-shares.Updates():
				if !ok {
					return
				}
				if entry == nil || entry.Operation() != jetstream.KeyValuePut {
					continue
				}
				var a bus.Assignment
				if json.Unmarshal(entry.Value(), &a) == nil {
					if ch := f.shares[a.Worker]; ch != nil {
						select {
						case ch <- a.Share.Index:
						default:
						}
					}
				}
			case entry, ok := <-runs.Updates():
				if !ok {
					return
				}
				if entry == nil {
					continue
				}
				state := string(bus.RunDone)
				var r bus.Run
				if entry.Operation() == jetstream.KeyValuePut && json.Unmarshal(entry.Value(), &r) == nil {
					state = string(r.State)
				}
				f.setState(state)
			}
		}
	}()
	return func() {
		shares.Stop()
		runs.Stop()
		<-done
	}, nil
}

func (f *fakeFleet) setState(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.state.Load(); old != nil && *old == state {
		return
	}
	f.state.Store(&state)
	close(f.states)
	f.states = make(chan struct{})
}

// runState returns the run's state and a channel closed when it changes.
func (f *fakeFleet) runState() (string, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := ""
	if s := f.state.Load(); s != nil {
		state = *s
	}
	return state, f.states
}

func (f *fakeFleet) addSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sizeList) < 100000 {
		f.sizeList = append(f.sizeList, n)
	}
}

func (f *fakeFleet) sizes() series {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := make(series, len(f.sizeList))
	for i, n := range f.sizeList {
		s[i] = float64(n)
	}
	return s
}

// fakeWorker is one simulated worker.
type fakeWorker struct {
	fleet    *fakeFleet
	bus      *bus.Bus
	id       string
	share    chan int
	rng      *rand.Rand
	presence *bus.Lease
	claim    *bus.Lease
	seq      uint64
	started  time.Time
}

// serve joins the run, reports on the share it is given until the run
// stops, sends its final report and leaves.
func (w *fakeWorker) serve(ctx context.Context) error {
	f := w.fleet
	firstReport := sync.OnceFunc(f.reporting.Done)
	defer firstReport()

	host, _ := os.Hostname()
	p := bus.Presence{ID: w.id, Host: host, PID: os.Getpid(), State: bus.WorkerReady, Share: -1}
	var err error
	if w.presence, err = w.bus.Acquire(ctx, bus.WorkerKey(f.cfg.run, w.id), mustJSON(p), f.cfg.lease); err != nil {
		return err
	}
	defer w.presence.Release(context.Background())

	renew := time.NewTicker(f.cfg.lease / 3)
	defer renew.Stop()
	var index int
	for waiting := true; waiting; {
		state, changed := f.runState()
		if state == string(bus.RunDone) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case index = <-w.share:
			waiting = false
		case <-renew.C:
			if err := w.presence.Renew(ctx); err != nil {
				return err
			}
		case <-changed:
		}
	}

	p.State, p.Share = bus.WorkerRunning, index
	if err := w.presence.Set(ctx, mustJSON(p)); err != nil {
		return err
	}
	if w.claim, err = w.bus.Acquire(ctx, bus.ClaimKey(f.cfg.run, index), []byte(w.id), f.cfg.lease); err != nil {
		return err
	}
	// The coordinator writes the shares, then sets the run running.
	for {
		state, changed := f.runState()
		if state != string(bus.RunWaiting) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
	w.started = time.Now()
	report := time.NewTicker(f.cfg.interval)
	defer report.Stop()
	for {
		state, changed := f.runState()
		if state != string(bus.RunRunning) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-report.C:
			w.report(ctx, index, false)
			firstReport()
		case <-renew.C:
			if err := w.presence.Renew(ctx); err != nil {
				return err
			}
			if err := w.claim.Renew(ctx); err != nil {
				return err
			}
		case <-changed:
		}
	}

	w.report(ctx, index, true)
	w.claim.Release(ctx)
	p.State, p.Share = bus.WorkerDone, -1
	if err := w.presence.Set(ctx, mustJSON(p)); err != nil {
		return err
	}
	for {
		state, changed := f.runState()
		if state == string(bus.RunDone) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-renew.C:
			if err := w.presence.Renew(ctx); err != nil {
				return err
			}
		case <-changed:
		}
	}
}

// report publishes one report through JetStream with a message id, as a
// worker does, and counts it once the server stored it.
func (w *fakeWorker) report(ctx context.Context, index int, final bool) {
	f := w.fleet
	w.seq++
	r := &bus.Report{
		Run:     f.cfg.run,
		Worker:  w.id,
		Seq:     w.seq,
		Share:   index,
		Final:   final,
		Users:   1,
		Elapsed: time.Since(w.started),
		Sent:    time.Now(),
		Tasks:   f.tasks[w.rng.IntN(len(f.tasks))],
	}
	if final {
		r.Users = 0
	}
	data, err := bus.EncodeReport(r)
	if err != nil {
		f.failed.Add(1)
		return
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgID := fmt.Sprintf("%s.%s.%d", r.Run, r.Worker, r.Seq)
	if _, err := w.bus.JS.Publish(ctx, bus.ReportSubject(r.Run, r.Worker), data, jetstream.WithMsgID(msgID)); err != nil {
		f.failed.Add(1)
		return
	}
	var requests uint64
	for i := range r.Tasks {
		requests += r.Tasks[i].Requests
	}
	f.reports.Add(1)
	f.requests.Add(int64(requests))
	f.addSize(len(data))
}

// waitRunRecord waits for the run record of run and returns it.
func waitRunRecord(ctx context.Context, b *bus.Bus, run string) (*bus.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		entry, err := b.KV.Get(ctx, bus.RunKey(run))
		if err == nil {
			var r bus.Run
			if err := json.Unmarshal(entry.Value(), &r); err != nil || r.Plan == nil {
				return nil, fmt.Errorf("run record %s: %v", run, err)
			}
			return &r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no run %s announced within a minute", run)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on types that always marshal
	}
	return data
}

// helperLine waits up to timeout for a line of p's output that starts
// with prefix and a space, and returns the rest of that line.
func helperLine(ctx context.Context, p *process, prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		for line := range strings.SplitSeq(p.text(), "\n") {
			if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
				return rest, nil
			}
		}
		if p.exited() {
			return "", fmt.Errorf("%s exited before printing %q; its output:\n%s", p.name, prefix, p.tail())
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s printed no %q within %s; its output:\n%s", p.name, prefix, timeout, p.tail())
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
