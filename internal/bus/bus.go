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

// reportDuplicates is how long the report stream remembers message ids, so
// that a report published again after a lost acknowledgement, such as
// across a restart of the server, is stored once. Workers retry a report
// for two minutes at most, plus one attempt of five seconds. The
// coordinator merges each report once in any case.
const reportDuplicates = 3 * time.Minute

// Bus is a connection to NATS with the bucket and stream Barrage uses.
// It is safe for concurrent use.
type Bus struct {
	NC *nats.Conn
	JS jetstream.JetStream
	KV jetstream.KeyValue
	// Replicas is how many copies of the bucket the server keeps.
	Replicas int
}

// How a connection behaves once made. Reconnects never stop, so that
// clients ride out a restart of the server or the loss of a cluster node.
const (
	reconnectWait = 250 * time.Millisecond
	// reconnectBuffer holds what clients publish while disconnected: a few
	// of the largest reports the embedded server accepts.
	reconnectBuffer = 4 * maxPayload
	// A server that responds to none of maxPingsOutstanding pings, sent
	// every pingInterval, is treated as gone, such as one behind a lost
	// network link, and the client reconnects to another.
	pingInterval        = 2 * time.Second
	maxPingsOutstanding = 3
	// setupAttempt bounds one attempt to open or create the bucket and the
	// stream. A cluster that is electing a leader, or a user without the
	// permission to create streams, makes an attempt wait for its timeout.
	// A create that takes longer still completes on the server, and the
	// next attempt finds the stream.
	setupAttempt = 2 * time.Second
)

// MaxReplicas is the largest replica count a NATS cluster supports.
const MaxReplicas = 5

// Config sets up a connection made by Dial. URL is required.
type Config struct {
	// URL is the server's URL, or several comma-separated URLs of the
	// servers of one cluster.
	URL string
	// Name names the connection in the server's monitoring.
	Name string
	// Credentials authenticate the client and set up TLS.
	Credentials Credentials
	// Replicas is how many copies of the bucket and the report stream a
	// cluster keeps, from 1 to MaxReplicas. Zero means AutoReplicas when
	// Dial creates them, and leaves existing ones as they are; a count
	// other than zero also changes existing ones to it.
	Replicas int
	// ConnectTimeout bounds how long Dial keeps trying to reach a server;
	// zero means until ctx is done.
	ConnectTimeout time.Duration
	// WaitForBucket makes Dial wait, until ctx is done, for the bucket and
	// the stream to exist rather than create them, as workers do: their
	// users may lack the permission to create streams, and the coordinator
	// chooses the replica count. OnWait, if set, is called once when Dial
	// starts to wait.
	WaitForBucket bool
	OnWait        func()
	// Options are more nats.go options, applied after Dial's own.
	Options []nats.Option
}

// Connect dials url, retrying until ctx is done, and makes sure the
// bucket and the report stream exist. opts may add credentials; Connect
// adds a name and endless reconnects once connected. The caller must call
// Close.
func Connect(ctx context.Context, url, name string, opts ...nats.Option) (*Bus, error) {
	return Dial(ctx, Config{URL: url, Name: name, Options: opts})
}

// Dial connects as cfg sets, retrying until ctx is done, and makes sure
// the bucket and the report stream exist. It returns at once, with an
// error that wraps ErrCredentials or ErrTLS, when the server rejects the
// credentials or the TLS handshake fails, because retrying cannot fix
// that. The caller must call Close.
func Dial(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Replicas < 0 || cfg.Replicas > MaxReplicas {
		return nil, fmt.Errorf("invalid replica count %d: use 1 to %d, or 0 for automatic", cfg.Replicas, MaxReplicas)
	}
	credentials, err := cfg.Credentials.Options()
	if err != nil {
		return nil, err
	}
	opts := append([]nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectBufSize(reconnectBuffer),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOutstanding),
	}, credentials...)
	opts = append(opts, cfg.Options...)

	connectCtx := ctx
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		connectCtx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	var nc *nats.Conn
	for {
		nc, err = nats.Connect(cfg.URL, opts...)
		if err == nil {
			break
		}
		if explained := explainConnectError(err, cfg.URL, cfg.Credentials); explained != nil {
			return nil, explained
		}
		select {
		case <-connectCtx.Done():
			return nil, fmt.Errorf("connect to nats at %s: %w (is the server running and reachable?)", RedactURL(cfg.URL), err)
		case <-time.After(reconnectWait):
		}
	}
	b, err := open(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// Open sets up the bucket and stream over an existing connection. Close
// closes nc.
func Open(ctx context.Context, nc *nats.Conn) (*Bus, error) {
	return open(ctx, nc, Config{})
}

// AutoReplicas returns the replica count for a new bucket and stream when
// none is given: 3 when nc is connected to a cluster and has the URLs of
// three or more of its servers, and 1 otherwise.
func AutoReplicas(nc *nats.Conn) int {
	if nc.ConnectedClusterName() != "" && len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// ErrNotCreated is wrapped by the errors of Dial when the bucket or the
// stream does not exist and cfg.WaitForBucket forbids creating them.
var ErrNotCreated = errors.New("does not exist yet")

// open makes sure the bucket and the stream exist, retrying until ctx is
// done while the server cannot tell, as during a leader election, and
// while they do not exist and cfg.WaitForBucket is set.
func open(ctx context.Context, nc *nats.Conn, cfg Config) (*Bus, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = AutoReplicas(nc)
	}
	waiting := false
	for {
		attempt, cancel := context.WithTimeout(ctx, setupAttempt)
		b, err := setUp(attempt, nc, js, replicas, cfg)
		cancel()
		if err == nil || !retrySetup(err) {
			return b, err
		}
		if errors.Is(err, ErrNotCreated) && !waiting {
			waiting = true
			if cfg.OnWait != nil {
				cfg.OnWait()
			}
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(reconnectWait):
		}
	}
}

func setUp(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, replicas int, cfg Config) (*Bus, error) {
	var kv jetstream.KeyValue
	var err error
	if cfg.WaitForBucket {
		kv, err = js.KeyValue(ctx, Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("key-value bucket %s %w; a coordinator creates it when it starts", Bucket, ErrNotCreated)
		}
		if err == nil {
			_, err = js.Stream(ctx, ReportStream)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil, fmt.Errorf("stream %s %w; a coordinator creates it when it starts", ReportStream, ErrNotCreated)
			}
		}
	} else {
		kv, err = ensureBucket(ctx, js, replicas)
		if err == nil {
			err = ensureReportStream(ctx, js, replicas)
		}
	}
	if err != nil {
		return nil, err
	}
	b := &Bus{NC: nc, JS: js, KV: kv}
	for _, stream := range []string{bucketStream, ReportStream} {
		n, err := scaleStream(ctx, js, stream, replicas, cfg.Replicas != 0 && !cfg.WaitForBucket)
		if err != nil {
			return nil, err
		}
		if stream == bucketStream {
			b.Replicas = n
		}
	}
	return b, nil
}

// retrySetup reports whether a failed setup may succeed later: every error
// but a server without JetStream.
func retrySetup(err error) bool {
	return !errors.Is(err, jetstream.ErrJetStreamNotEnabled) &&
		!errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}

// scaleStream returns the replica count of stream, after changing it to
// replicas if scale is set and the count differs.
func scaleStream(ctx context.Context, js jetstream.JetStream, name string, replicas int, scale bool) (int, error) {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", name, err)
	}
	cfg := stream.CachedInfo().Config
	if !scale || cfg.Replicas == replicas || (cfg.Replicas == 0 && replicas == 1) {
		return max(cfg.Replicas, 1), nil
	}
	cfg.Replicas = replicas
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return 0, fmt.Errorf("change the replicas of stream %s to %d: %w", name, replicas, err)
	}
	return replicas, nil
}

// Close drains nothing and closes the connection.
func (b *Bus) Close() {
	if b != nil && b.NC != nil {
		b.NC.Close()
	}
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
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
		Replicas:       replicas,
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

func ensureReportStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
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
		Duplicates:  reportDuplicates,
		Replicas:    replicas,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", ReportStream, err)
	}
	return nil
}
