package launch

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/worker"
)

// Event is the payload of an invocation of the worker function: the run
// to join and the way to reach NATS. Credentials can travel by reference,
// because NATSURLEnv names an environment variable of the function and
// NATSCreds a file in the function's file system. NATSURL itself may carry
// user:password, which is never logged in clear.
type Event struct {
	// Run is the run id.
	Run string `json:"run"`
	// Slots is the size of the fleet: the worker takes part only if it
	// can hold one of that many places.
	Slots int `json:"slots"`
	// NATSURL is the NATS server URL to dial. Empty means the value of the
	// environment variable NATSURLEnv.
	NATSURL string `json:"nats_url,omitempty"`
	// NATSURLEnv names the function's environment variable that holds the
	// NATS URL; empty means NATS_URL.
	NATSURLEnv string `json:"nats_url_env,omitempty"`
	// NATSCreds is the path of a NATS credentials file (JWT and NKey
	// seed), such as one shipped in a Lambda layer under /opt. Empty means
	// none.
	NATSCreds string `json:"nats_creds,omitempty"`
	// HandoverMargin is a Go duration, such as "1s": the time the worker
	// keeps before the invocation's deadline, after the plan's
	// graceful_stop, to send its final report and leave. Empty means
	// worker.DefaultHandoverMargin.
	HandoverMargin string `json:"handover_margin,omitempty"`
	// LogLevel is debug, info, warn or error; empty means info.
	LogLevel string `json:"log_level,omitempty"`
}

// DefaultNATSURLEnv is the environment variable that holds the NATS URL
// when an Event names neither a URL nor a variable.
const DefaultNATSURLEnv = "NATS_URL"

// ErrInvalidEvent is returned by Event.Check.
var ErrInvalidEvent = errors.New("invalid event")

// Check returns ErrInvalidEvent, wrapped with the field and what to do,
// when the event cannot be used.
func (e Event) Check() error {
	if !bus.ValidID(e.Run) {
		return fmt.Errorf("%w: run %q: use the run id, 1 to 64 letters, digits, '-' or '_'", ErrInvalidEvent, e.Run)
	}
	if e.Slots < 1 || e.Slots > worker.MaxSlots {
		return fmt.Errorf("%w: slots %d: use 1 to %d", ErrInvalidEvent, e.Slots, worker.MaxSlots)
	}
	if _, err := e.Margin(); err != nil {
		return err
	}
	return nil
}

// Margin returns HandoverMargin as a duration, 0 when it is empty.
func (e Event) Margin() (time.Duration, error) {
	if e.HandoverMargin == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(e.HandoverMargin)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: handover_margin %q: use a Go duration such as 1s", ErrInvalidEvent, e.HandoverMargin)
	}
	return d, nil
}

// LogValue shows the event with the NATS URL's user information redacted.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("run", e.Run),
		slog.Int("slots", e.Slots),
		slog.String("nats_url", bus.RedactURL(e.NATSURL)),
		slog.String("nats_url_env", e.NATSURLEnv),
		slog.String("nats_creds", e.NATSCreds),
		slog.String("handover_margin", e.HandoverMargin),
	)
}

// Usage is the resource use of one Lambda invocation. The worker publishes
// it on bus.UsageSubject at its end, so that the coordinator can estimate
// the cost of the run.
type Usage struct {
	// Worker is the worker id, empty when the worker never joined.
	Worker string `json:"worker,omitempty"`
	// RequestID is the Lambda request id of the invocation.
	RequestID string `json:"request_id"`
	// Outcome is the invocation's end: handed_over, run_done,
	// no_free_slot, run_over or failed.
	Outcome string `json:"outcome"`
	// DurationMS is the time from the start of the invocation to its
	// end, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// InitMS is the time from the start of the process to its first
	// invocation, in milliseconds, for the first invocation of a new
	// execution environment only.
	InitMS float64 `json:"init_ms,omitempty"`
	// MemoryMB is the function's memory size.
	MemoryMB int `json:"memory_mb"`
}
