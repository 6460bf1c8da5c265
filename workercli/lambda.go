package workercli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/logging"
	"github.com/barrage-load/barrage/internal/worker"
)

// connectTimeout bounds how long an invocation tries to reach NATS.
const connectTimeout = 10 * time.Second

// The outcomes of an invocation, in its result and its usage report.
const (
	outcomeHandedOver = "handed_over"
	outcomeRunDone    = "run_done"
	outcomeNoFreeSlot = "no_free_slot"
	outcomeRunOver    = "run_over"
	outcomeFailed     = "failed"
)

// processStart is when this process started, for the init duration that
// the first invocation reports.
var processStart = time.Now()

// invocations counts the invocations of this process; the first one
// reports the init duration.
var invocations struct {
	mu sync.Mutex
	n  int
}

// lambdaResult is the result of an invocation.
type lambdaResult struct {
	Outcome string `json:"outcome"`
	Run     string `json:"run"`
	Worker  string `json:"worker,omitempty"`
	Message string `json:"message,omitempty"`
}

// runLambda serves invocations as an AWS Lambda function handler until
// Lambda ends the process. It never returns.
func runLambda() {
	lambda.Start(func(ctx context.Context, ev launch.Event) (lambdaResult, error) {
		return handleInvocation(ctx, ev, os.Stderr)
	})
}

// handleInvocation joins the run that ev names, takes part in it until
// shortly before ctx's deadline, hands its share back and returns. It
// returns at once, with the outcome no_free_slot or run_over, when the
// fleet is full or the run is over, so that a retried invocation never
// adds load. It logs to logOut.
func handleInvocation(ctx context.Context, ev launch.Event, logOut io.Writer) (lambdaResult, error) {
	start := time.Now()
	initMS := firstInvocationInit(start)
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	level := ev.LogLevel
	if level == "" {
		level = "info"
	}
	log, err := logging.New(logOut, level)
	if err != nil {
		log = slog.New(slog.NewTextHandler(logOut, nil))
		log.Warn("invalid log level in the event; using info", "log_level", ev.LogLevel)
	}
	log = log.With("request_id", requestID)
	log.Info("invocation started", "event", ev)

	result := lambdaResult{Run: ev.Run}
	if err := ev.Check(); err != nil {
		log.Error("invalid event", "err", err)
		return result, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return result, errors.New("the invocation has no deadline: run this handler inside AWS Lambda or its runtime interface emulator")
	}
	margin, _ := ev.Margin()

	b, err := connectForEvent(ctx, ev, deadline)
	if errors.Is(err, worker.ErrRunOver) {
		result.Outcome = outcomeRunOver
		log.Info("invocation done: no run to join", "outcome", result.Outcome, "err", err)
		return result, nil
	}
	if err != nil {
		log.Error("could not reach NATS", "err", err)
		return result, err
	}
	defer b.Close()

	// The allow list comes from the function's configuration, not from the
	// event, so that the caller of the function cannot widen it.
	var allow *allowlist.List
	if patterns := os.Getenv("BARRAGE_ALLOW_TARGET"); patterns != "" {
		if allow, err = allowlist.Parse([]string{patterns}); err != nil {
			log.Error("invalid BARRAGE_ALLOW_TARGET in the function's environment", "err", err)
			return result, err
		}
	}

	w, err := worker.New(b, worker.Config{
		Run:            ev.Run,
		Slots:          ev.Slots,
		Logger:         log,
		Deadline:       deadline,
		HandoverMargin: margin,
		Allow:          allow,
	})
	if err != nil {
		return result, err
	}
	result.Worker = w.ID()
	err = w.Run(ctx)
	result.Outcome = outcomeOf(err)
	if result.Outcome == outcomeFailed {
		result.Message = err.Error()
		log.Error("worker failed", "worker_id", w.ID(), "err", err)
	} else {
		log.Info("invocation done", "worker_id", w.ID(), "outcome", result.Outcome)
	}

	publishUsage(b, ev.Run, launch.Usage{
		Worker:     w.ID(),
		RequestID:  requestID,
		Outcome:    result.Outcome,
		DurationMS: float64(time.Since(start)) / float64(time.Millisecond),
		InitMS:     initMS,
		MemoryMB:   memoryMB(),
	}, log)
	if result.Outcome == outcomeFailed {
		return result, err
	}
	return result, nil
}

// connectForEvent dials the NATS server that ev names, with the
// credentials file it names, until the deadline is near.
func connectForEvent(ctx context.Context, ev launch.Event, deadline time.Time) (*bus.Bus, error) {
	url := ev.NATSURL
	if url == "" {
		name := ev.NATSURLEnv
		if name == "" {
			name = launch.DefaultNATSURLEnv
		}
		url = os.Getenv(name)
		if url == "" {
			return nil, fmt.Errorf("no NATS URL: the event has no nats_url and the environment variable %s is empty; set it in the function's configuration", name)
		}
	}
	// Credentials come from the function's environment, under the names the
	// nats command reads, or from a .creds file that the event names.
	creds := bus.Credentials{
		User:      os.Getenv("NATS_USER"),
		Password:  os.Getenv("NATS_PASSWORD"),
		Token:     os.Getenv("NATS_TOKEN"),
		NKeyFile:  os.Getenv("NATS_NKEY"),
		CredsFile: os.Getenv("NATS_CREDS"),
		TLSCert:   os.Getenv("NATS_CERT"),
		TLSKey:    os.Getenv("NATS_KEY"),
		TLSCA:     os.Getenv("NATS_CA"),
	}
	if ev.NATSCreds != "" {
		if _, err := os.Stat(ev.NATSCreds); err != nil {
			return nil, fmt.Errorf("nats_creds %s: %w; ship the file with the function, such as in a layer under /opt", ev.NATSCreds, err)
		}
		creds.CredsFile = ev.NATSCreds
	}
	timeout := min(connectTimeout, time.Until(deadline)/2)
	setup, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The coordinator creates the bucket before it invokes the function,
	// and the function's NATS user may lack the permission to create it.
	// So a missing bucket means the run is over or was never announced,
	// and waiting for it would only hold the invocation.
	b, err := bus.Dial(setup, bus.Config{
		URL:           url,
		Name:          "barrage-lambda-worker",
		Credentials:   creds,
		WaitForBucket: true,
		OnWait:        cancel,
	})
	if errors.Is(err, bus.ErrNotCreated) {
		return nil, fmt.Errorf("%w: %w", worker.ErrRunOver, err)
	}
	return b, err
}

// outcomeOf names how worker.Run ended.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeRunDone
	case errors.Is(err, worker.ErrHandedOver):
		return outcomeHandedOver
	case errors.Is(err, worker.ErrNoFreeSlot):
		return outcomeNoFreeSlot
	case errors.Is(err, worker.ErrRunOver):
		return outcomeRunOver
	default:
		return outcomeFailed
	}
}

// publishUsage sends what this invocation used to the coordinator, for its
// cost estimate. It waits up to a second for the server to take it.
func publishUsage(b *bus.Bus, run string, u launch.Usage, log *slog.Logger) {
	data, err := json.Marshal(u)
	if err == nil {
		err = b.NC.Publish(bus.UsageSubject(run), data)
	}
	if err == nil {
		err = b.NC.FlushTimeout(time.Second)
	}
	if err != nil {
		log.Warn("could not publish the invocation's usage", "err", err)
	}
}

// firstInvocationInit returns the time from the process start to start in
// milliseconds for the process's first invocation, and 0 for later ones.
func firstInvocationInit(start time.Time) float64 {
	invocations.mu.Lock()
	defer invocations.mu.Unlock()
	invocations.n++
	if invocations.n > 1 {
		return 0
	}
	return float64(start.Sub(processStart)) / float64(time.Millisecond)
}

// memoryMB returns the function's memory size, or 0 when Lambda did not
// set it.
func memoryMB() int {
	n, _ := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	return n
}
