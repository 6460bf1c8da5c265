// Package bus connects coordinators and workers through NATS: the embedded
// server, the key-value bucket that holds runs, workers, shares and claims,
// the report stream, and the codecs of the messages they exchange.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// markerTTL is how long the bucket keeps the marker of an expired lease, so
// that watchers that were briefly disconnected still see the expiry.
const markerTTL = time.Minute

// reportMaxAge bounds how long reports stay in the stream after a run.
const reportMaxAge = 6 * time.Hour

// Bus is a connection to NATS with the bucket and stream Barrage uses.
// It is safe for concurrent use.
type Bus struct {
	NC *nats.Conn
	JS jetstream.JetStream
	KV jetstream.KeyValue
}

// Connect dials url, retrying until ctx is done, and makes sure the
// bucket and the report stream exist. opts may add credentials; Connect
// adds a name and endless reconnects once connected. The caller must call
// Close.
func Connect(ctx context.Context, url, name string, opts ...nats.Option) (*Bus, error) {
	opts = append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, opts...)
	var nc *nats.Conn
	for {
		var err error
		nc, err = nats.Connect(url, opts...)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to nats at %s: %w (is the server running and reachable?)", RedactURL(url), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	b, err := Open(ctx, nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// Open sets up the bucket and stream over an existing connection. Close
// closes nc.
func Open(ctx context.Context, nc *nats.Conn) (*Bus, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	kv, err := ensureBucket(ctx, js)
	if err != nil {
		return nil, err
	}
	if err := ensureReportStream(ctx, js); err != nil {
		return nil, err
	}
	return &Bus{NC: nc, JS: js, KV: kv}, nil
}

// Close drains nothing and closes the connection.
func (b *Bus) Close() {
	if b != nil && b.NC != nil {
		b.NC.Close()
	}
}

func ensureBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open key-value bucket %s: %w", Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "Barrage runs, workers, shares and claims",
		History:        1,
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: markerTTL,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Another coordinator or worker created it at the same moment.
		return js.KeyValue(ctx, Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w (the server needs JetStream enabled, nats-server -js)", Bucket, err)
	}
	return kv, nil
}

func ensureReportStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.Stream(ctx, ReportStream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("open stream %s: %w", ReportStream, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        ReportStream,
		Description: "Barrage worker reports",
		Subjects:    []string{reportPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      reportMaxAge,
		Duplicates:  2 * time.Minute,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", ReportStream, err)
	}
	return nil
}
