package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLeaseLost is returned when a lease expired or another party wrote the
// key since the holder last did.
var ErrLeaseLost = errors.New("lease lost")

// ErrTaken is returned by Acquire when the key is already held.
var ErrTaken = errors.New("already held")

// Lease is a key in the bucket that expires unless its holder renews it.
// Methods are not safe for concurrent use: one goroutine owns a Lease.
type Lease struct {
	bus      *Bus
	key      string
	ttl      time.Duration
	revision uint64
	value    []byte
	// unsure is the value of the last write whose outcome is unknown, such
	// as one that timed out while the server restarted, or nil.
	unsure []byte
}

// Acquire creates key with value and a time to live. It returns ErrTaken
// when the key exists, so two holders can never own the same key.
func (b *Bus) Acquire(ctx context.Context, key string, value []byte, ttl time.Duration) (*Lease, error) {
	rev, err := b.KV.Create(ctx, key, value, jetstream.KeyTTL(ttl))
	if err != nil {
		if isConflict(err) {
			return nil, fmt.Errorf("acquire %s: %w", key, ErrTaken)
		}
		return nil, fmt.Errorf("acquire %s: %w", key, err)
	}
	return &Lease{bus: b, key: key, ttl: ttl, revision: rev, value: value}, nil
}

// Key returns the leased key.
func (l *Lease) Key() string { return l.key }

// TTL returns how long the lease lasts after each renewal.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Renew extends the lease by its TTL and keeps its value.
func (l *Lease) Renew(ctx context.Context) error { return l.Set(ctx, l.value) }

// Set replaces the value and extends the lease. It returns ErrLeaseLost
// when the key expired or was written by someone else.
//
// A kv.Update would drop the time to live, so the renewal is published to
// the key's subject with the expected last sequence and a message TTL.
func (l *Lease) Set(ctx context.Context, value []byte) error {
	ack, err := l.publish(ctx, value)
	if err != nil && isConflict(err) && l.catchUp(ctx) {
		ack, err = l.publish(ctx, value)
	}
	if err != nil {
		if isConflict(err) {
			return fmt.Errorf("renew %s: %w", l.key, ErrLeaseLost)
		}
		l.unsure = value
		return fmt.Errorf("renew %s: %w", l.key, err)
	}
	l.revision = ack.Sequence
	l.value = value
	l.unsure = nil
	return nil
}

func (l *Lease) publish(ctx context.Context, value []byte) (*jetstream.PubAck, error) {
	subject := "$KV." + Bucket + "." + l.key
	return l.bus.JS.Publish(ctx, subject, value,
		jetstream.WithExpectLastSequencePerSubject(l.revision),
		jetstream.WithMsgTTL(l.ttl))
}

// catchUp handles a write that the server stored but whose acknowledgement
// was lost, as when the connection broke. The key is then at a later
// revision than the lease has recorded, with a value that this lease
// wrote. catchUp reports whether that is so, and takes that revision.
func (l *Lease) catchUp(ctx context.Context) bool {
	e, err := l.bus.KV.Get(ctx, l.key)
	if err != nil || e.Revision() <= l.revision {
		return false
	}
	if !bytes.Equal(e.Value(), l.value) && (l.unsure == nil || !bytes.Equal(e.Value(), l.unsure)) {
		return false
	}
	l.revision = e.Revision()
	l.value = e.Value()
	return true
}

// Release deletes the key if this lease still holds it, so that someone
// else can acquire it at once.
func (l *Lease) Release(ctx context.Context) error {
	err := l.bus.KV.Delete(ctx, l.key, jetstream.LastRevision(l.revision))
	if err != nil && isConflict(err) && l.catchUp(ctx) {
		err = l.bus.KV.Delete(ctx, l.key, jetstream.LastRevision(l.revision))
	}
	if err != nil && !isConflict(err) {
		return fmt.Errorf("release %s: %w", l.key, err)
	}
	return nil
}

// isConflict reports whether err is a failed compare-and-set. Single servers
// return error code 10071 (wrong last sequence: N), and replicated streams
// may return 10164 (wrong last sequence) instead. The message is matched as
// well, in case a later server adds another code.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return strings.Contains(strings.ToLower(err.Error()), "wrong last sequence")
}
