package bus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How a follower keeps its consumer alive. The server sends a heartbeat
// every followHeartbeat while the consumer is idle; two missed heartbeats
// make the follower replace the consumer.
const (
	followHeartbeat = time.Second
	followExpiry    = 4 * time.Second
	// followCreate bounds one attempt to create a consumer. In a cluster a
	// consumer may be placed on a node that has just died and not been
	// noticed yet, so the next attempt uses a new name and lands elsewhere.
	followCreate = 3 * time.Second
	// followInactive is how long the server keeps a consumer whose client
	// has gone.
	followInactive = time.Minute
	// followBackoff bounds the wait between failed attempts.
	followBackoff = 2 * time.Second
	// followFirstAttempts bounds the attempts to create the first
	// consumer, which fail for good when the user may not create one.
	followFirstAttempts = 5
)

// Follower delivers the messages of a stream that match its filters, in
// order and each once, to its handler. It replaces its consumer whenever
// the consumer may be lost: after a reconnect, after missed heartbeats,
// when the server deleted it, or when a delivery skipped a message. The
// new consumer starts after the last message delivered.
//
// The jetstream package's ordered consumer does the same, but retries the
// creation of a consumer under one name, and so waits for good when the
// cluster placed that consumer on a node that died.
type Follower struct {
	js      jetstream.JetStream
	nc      *nats.Conn
	stream  string
	filters []string
	handle  func(jetstream.Msg)
	closed  func() // called once when the connection closes, or nil
	prefix  string // of consumer names

	reset  chan struct{} // a send requests a new consumer
	stop   chan struct{} // closed by Stop
	once   sync.Once
	wg     sync.WaitGroup
	handMu sync.Mutex // serializes calls of handle

	mu        sync.Mutex
	serial    int    // of the current consumer
	delivered uint64 // consumer sequence of the last message delivered
	cursor    uint64 // stream sequence of the last message delivered
	consume   jetstream.ConsumeContext
	name      string // of the current consumer
}

// Reports delivers the reports of run, from the first one in the stream,
// to handle in order and each once, across reconnects and the loss of a
// cluster node. The caller must call Stop.
func (b *Bus) Reports(ctx context.Context, run string, handle func(data []byte)) (*Follower, error) {
	f, _, err := b.follow(ctx, ReportStream, []string{ReportsPattern(run)}, jetstream.DeliverAllPolicy,
		func(msg jetstream.Msg) { handle(msg.Data()) }, nil)
	return f, err
}

// follow starts a follower whose first consumer starts as policy sets:
// DeliverAllPolicy or DeliverLastPerSubjectPolicy. It creates the first
// consumer before it returns, and returns how many messages that consumer
// had to deliver when it was created. The caller must call Stop.
func (b *Bus) follow(ctx context.Context, stream string, filters []string, policy jetstream.DeliverPolicy,
	handle func(jetstream.Msg), closed func()) (*Follower, uint64, error) {
	f := &Follower{
		js:      b.JS,
		nc:      b.NC,
		stream:  stream,
		filters: filters,
		handle:  handle,
		closed:  closed,
		prefix:  rand.Text()[:16],
		reset:   make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	// Changes of the connection are watched from before the first
	// consumer exists, so that no reconnect goes unnoticed.
	status := b.NC.StatusChanged(nats.CONNECTED, nats.CLOSED)
	var pending uint64
	var err error
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, followCreate)
		pending, err = f.start(attemptCtx, policy)
		cancel()
		// Only a timeout may be a consumer placed on a dead node.
		if err == nil || ctx.Err() != nil || attempt == followFirstAttempts || !errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	if err != nil {
		b.NC.RemoveStatusListener(status)
		return nil, 0, err
	}
	f.wg.Add(1)
	go f.run(status)
	return f, pending, nil
}

// Stop ends the follower, waits for it and deletes its consumer. It is
// safe to call more than once.
func (f *Follower) Stop() {
	f.once.Do(func() { close(f.stop) })
	f.wg.Wait()
}

// run replaces the consumer when asked to, until Stop.
func (f *Follower) run(status chan nats.Status) {
	defer f.wg.Done()
	defer f.nc.RemoveStatusListener(status)
	defer f.retire()
	for {
		select {
		case <-f.stop:
			return
		case s := <-status:
			if s == nats.CLOSED {
				if f.closed != nil {
					f.closed()
				}
				<-f.stop
				return
			}
		case <-f.reset:
		}
		f.retire()
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), followCreate)
			_, err := f.start(ctx, jetstream.DeliverByStartSequencePolicy)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-f.stop:
				return
			case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, followBackoff)):
			}
		}
	}
}

// start creates a consumer under a new name and consumes it. Consumers
// after the first start after the last message delivered.
func (f *Follower) start(ctx context.Context, policy jetstream.DeliverPolicy) (uint64, error) {
	f.mu.Lock()
	f.serial++
	serial := f.serial
	f.delivered = 0
	cfg := jetstream.ConsumerConfig{
		Name:              f.prefix + "_" + strconv.Itoa(serial),
		DeliverPolicy:     policy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: followInactive,
		Replicas:          1,
		MemoryStorage:     true,
	}
	if policy == jetstream.DeliverByStartSequencePolicy {
		cfg.OptStartSeq = f.cursor + 1
	}
	f.mu.Unlock()
	if len(f.filters) == 1 {
		cfg.FilterSubject = f.filters[0]
	} else {
		cfg.FilterSubjects = f.filters
	}

	consumer, err := f.js.CreateConsumer(ctx, f.stream, cfg)
	if err != nil {
		return 0, fmt.Errorf("create a consumer of stream %s: %w", f.stream, err)
	}
	consume, err := consumer.Consume(func(msg jetstream.Msg) { f.deliver(serial, msg) },
		jetstream.PullExpiry(followExpiry),
		jetstream.PullHeartbeat(followHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { f.onError(serial, err) }))
	if err != nil {
		f.deleteConsumer(cfg.Name)
		return 0, fmt.Errorf("consume stream %s: %w", f.stream, err)
	}
	f.mu.Lock()
	f.consume, f.name = consume, cfg.Name
	f.mu.Unlock()
	return consumer.CachedInfo().NumPending, nil
}

// retire stops the current consumer and deletes it in the background.
func (f *Follower) retire() {
	f.mu.Lock()
	consume, name := f.consume, f.name
	f.consume, f.name = nil, ""
	f.serial++ // deliveries of the retired consumer are dropped
	f.mu.Unlock()
	if consume != nil {
		consume.Stop()
		f.deleteConsumer(name)
	}
}

// deleteConsumer deletes a consumer without waiting; a consumer that
// cannot be deleted ends after followInactive.
func (f *Follower) deleteConsumer(name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), followCreate)
		defer cancel()
		f.js.DeleteConsumer(ctx, f.stream, name)
	}()
}

func (f *Follower) deliver(serial int, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		return
	}
	f.handMu.Lock()
	defer f.handMu.Unlock()
	f.mu.Lock()
	if serial != f.serial {
		f.mu.Unlock()
		return
	}
	if meta.Sequence.Consumer != f.delivered+1 {
		// A message was skipped: a new consumer starts after the last one
		// delivered.
		f.mu.Unlock()
		f.requestReset()
		return
	}
	f.delivered = meta.Sequence.Consumer
	f.cursor = meta.Sequence.Stream
	f.mu.Unlock()
	f.handle(msg)
}

func (f *Follower) onError(serial int, err error) {
	f.mu.Lock()
	current := serial == f.serial
	f.mu.Unlock()
	if !current {
		return
	}
	if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged) {
		f.requestReset()
	}
}

func (f *Follower) requestReset() {
	select {
	case f.reset <- struct{}{}:
	default:
	}
}
