package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bucketStream is the name of the stream that holds the bucket.
const bucketStream = "KV_" + Bucket

// Watch watches the keys that match keys, which may contain wildcards,
// like jetstream.KeyValue.Watch: it sends the latest entry of each key,
// then nil, then every change. Unlike it, the watcher recovers within
// seconds when its consumer is lost, after a reconnect or when the server
// or the cluster node that held the consumer died, and goes on after the
// last entry it sent.
//
// The watch ends when ctx is done or Stop is called, which do not close
// the Updates channel, and when the connection closes, which does.
func (b *Bus) Watch(ctx context.Context, keys string) (jetstream.KeyWatcher, error) {
	w := &watcher{
		prefix:  "$KV." + Bucket + ".",
		updates: make(chan jetstream.KeyValueEntry, 256),
		done:    make(chan struct{}),
	}
	// Deliveries wait for the lock until the number of initial entries is
	// known.
	w.mu.Lock()
	defer w.mu.Unlock()
	f, pending, err := b.follow(ctx, bucketStream, []string{w.prefix + keys},
		jetstream.DeliverLastPerSubjectPolicy, w.deliver, w.close)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", keys, err)
	}
	w.follower = f
	w.initPending = pending
	if pending == 0 {
		w.initDone = true
		w.updates <- nil
	}
	go func() {
		select {
		case <-ctx.Done():
			w.Stop()
		case <-w.done:
		}
	}()
	return w, nil
}

// watcher is the jetstream.KeyWatcher that Watch returns.
type watcher struct {
	prefix   string
	follower *Follower
	updates  chan jetstream.KeyValueEntry
	done     chan struct{} // closed by Stop and when the connection closes
	once     sync.Once

	mu          sync.Mutex // held while an entry is delivered
	initPending uint64     // entries that exist when the watch starts
	received    uint64     // initial entries delivered so far
	initDone    bool       // the nil that ends the initial entries was sent
	closed      bool       // updates is closed
}

// Updates returns the channel of entries.
func (w *watcher) Updates() <-chan jetstream.KeyValueEntry { return w.updates }

// Stop ends the watch and deletes its consumer.
func (w *watcher) Stop() error {
	w.once.Do(func() { close(w.done) })
	w.follower.Stop()
	return nil
}

// close ends the watch and closes the Updates channel.
func (w *watcher) close() {
	w.once.Do(func() { close(w.done) })
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.updates)
	}
}

func (w *watcher) deliver(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil || len(msg.Subject()) <= len(w.prefix) {
		return
	}
	entry := &entry{
		key:      msg.Subject()[len(w.prefix):],
		value:    msg.Data(),
		revision: meta.Sequence.Stream,
		created:  meta.Timestamp,
		delta:    meta.NumPending,
		op:       operation(msg.Headers()),
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || !w.send(entry) {
		return
	}
	if !w.initDone {
		w.received++
		if w.received >= w.initPending || meta.NumPending == 0 {
			w.initDone = true
			w.send(nil)
		}
	}
}

// send delivers e unless the watch ended first. The caller holds w.mu.
func (w *watcher) send(e jetstream.KeyValueEntry) bool {
	select {
	case w.updates <- e:
		return true
	case <-w.done:
		return false
	}
}

// operation returns the operation of a message of the bucket: a put, a
// delete, a purge, or the marker the server writes when a key's time to
// live ends.
func operation(h nats.Header) jetstream.KeyValueOp {
	switch h.Get("KV-Operation") {
	case "DEL":
		return jetstream.KeyValueDelete
	case "PURGE":
		return jetstream.KeyValuePurge
	}
	switch h.Get(jetstream.MarkerReasonHeader) {
	case "MaxAge", "Purge":
		return jetstream.KeyValuePurge
	case "Remove":
		return jetstream.KeyValueDelete
	}
	return jetstream.KeyValuePut
}

// entry is a jetstream.KeyValueEntry read by a watcher.
type entry struct {
	key      string
	value    []byte
	revision uint64
	created  time.Time
	delta    uint64
	op       jetstream.KeyValueOp
}

func (e *entry) Bucket() string                  { return Bucket }
func (e *entry) Key() string                     { return e.key }
func (e *entry) Value() []byte                   { return e.value }
func (e *entry) Revision() uint64                { return e.revision }
func (e *entry) Created() time.Time              { return e.created }
func (e *entry) Delta() uint64                   { return e.delta }
func (e *entry) Operation() jetstream.KeyValueOp { return e.op }
