package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/bus"
)

// Defaults of LambdaConfig, for the cost estimate. The prices are those of
// arm64 functions in us-east-1 on the AWS Lambda pricing page, first tier:
// USD 0.0000133334 per GB-second and USD 0.20 per million requests. x86_64
// costs USD 0.0000166667 per GB-second.
const (
	DefaultLambdaMemoryMB         = 1024
	DefaultLambdaPricePerGBSecond = 0.0000133334
	DefaultLambdaPricePerRequest  = 0.0000002
)

// LambdaOpenFiles is the open-file limit of an AWS Lambda function, soft
// and hard.
const LambdaOpenFiles = 1024

// LambdaConfig sets up the Lambda platform. Function and Event are
// required.
type LambdaConfig struct {
	// Function is the function's name or ARN. The runtime interface
	// emulator names its only function "function".
	Function string
	// Endpoint, when set, replaces the Lambda endpoint of the region, for
	// the runtime interface emulator or a local AWS emulator. The EC2
	// instance metadata service is then never asked for credentials.
	Endpoint string
	// Region is the AWS region; empty means the SDK's default chain
	// (AWS_REGION, then the shared configuration files).
	Region string
	// Event is sent to every invocation.
	Event Event
	// MemoryMB is the function's memory size for the cost estimate when a
	// worker does not report it; zero means DefaultLambdaMemoryMB.
	MemoryMB int
	// PricePerGBSecond and PricePerRequest, in USD, price the estimate;
	// zero means the defaults.
	PricePerGBSecond float64
	PricePerRequest  float64
	// Logger receives warnings about usage reports; nil means
	// slog.Default.
	Logger *slog.Logger
}

// Lambda starts workers by invoking a function asynchronously
// (InvocationType Event) and estimates what the invocations cost from the
// usage that each worker publishes at its end. It is safe for concurrent
// use.
type Lambda struct {
	client  *lambda.Client
	cfg     LambdaConfig
	payload []byte
	log     *slog.Logger

	mu    sync.Mutex
	cost  Cost // guarded by mu
	warns int  // memory mismatches logged; guarded by mu
}

// NewLambda loads the AWS configuration (credentials, region) with the
// SDK's default chain and returns the platform. It returns an error when
// no region is set or the event is invalid.
func NewLambda(ctx context.Context, cfg LambdaConfig) (*Lambda, error) {
	if cfg.Function == "" {
		return nil, errors.New("missing --lambda-function: name the function that runs the worker")
	}
	if err := cfg.Event.Check(); err != nil {
		return nil, err
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = DefaultLambdaMemoryMB
	}
	if cfg.PricePerGBSecond <= 0 {
		cfg.PricePerGBSecond = DefaultLambdaPricePerGBSecond
	}
	if cfg.PricePerRequest <= 0 {
		cfg.PricePerRequest = DefaultLambdaPricePerRequest
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Endpoint != "" {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("no AWS region: set --lambda-region or AWS_REGION")
	}
	client := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	payload, err := json.Marshal(cfg.Event)
	if err != nil {
		return nil, fmt.Errorf("encode the Lambda event: %w", err)
	}
	l := &Lambda{client: client, cfg: cfg, payload: payload, log: cfg.Logger}
	l.cost = Cost{
		MemoryMB:         cfg.MemoryMB,
		PricePerGBSecond: cfg.PricePerGBSecond,
		PricePerRequest:  cfg.PricePerRequest,
	}
	return l, nil
}

// Name returns "lambda".
func (l *Lambda) Name() string { return "lambda" }

// Start invokes the function once, asynchronously, and returns the
// request id. Lambda queues the event and retries a failed invocation by
// itself, up to twice by default.
func (l *Lambda) Start(ctx context.Context) (string, error) {
	out, err := l.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.cfg.Function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        l.payload,
	})
	if err != nil {
		return "", fmt.Errorf("invoke function %s: %w", l.cfg.Function, err)
	}
	if out.FunctionError != nil {
		return "", fmt.Errorf("invoke function %s: function error %s", l.cfg.Function, *out.FunctionError)
	}
	l.mu.Lock()
	l.cost.Invocations++
	l.mu.Unlock()
	id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	return fmt.Sprintf("request %s (status %d)", id, out.StatusCode), nil
}

// CollectUsage subscribes to the usage that workers publish for the run,
// so that Cost covers them. The caller must call the returned function to
// unsubscribe.
func (l *Lambda) CollectUsage(b *bus.Bus, run string) (func(), error) {
	sub, err := b.NC.Subscribe(bus.UsageSubject(run), func(msg *nats.Msg) {
		var u Usage
		if err := json.Unmarshal(msg.Data, &u); err != nil {
			l.log.Warn("ignoring invalid Lambda usage", "err", err)
			return
		}
		l.addUsage(u)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to Lambda usage: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}

func (l *Lambda) addUsage(u Usage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	memory := l.cfg.MemoryMB
	if u.MemoryMB > 0 {
		if u.MemoryMB != memory && l.warns == 0 {
			l.log.Warn("the function reports another memory size than --lambda-memory; the estimate uses the function's",
				"function_mb", u.MemoryMB, "flag_mb", memory)
			l.warns++
		}
		memory = u.MemoryMB
	}
	l.cost.Reported++
	// Lambda bills each invocation's duration, and the init phase of a
	// new execution environment of a custom runtime, rounded up to 1 ms.
	billedMS := math.Ceil(u.DurationMS + u.InitMS)
	l.cost.GBSeconds += float64(memory) / 1024 * billedMS / 1000
}

// Cost returns the estimate so far.
func (l *Lambda) Cost() Cost {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cost
}

// Cost is an estimate of what a run's Lambda invocations cost.
type Cost struct {
	// Invocations is how many invocations Lambda accepted from the
	// launcher.
	Invocations int
	// Reported is how many invocations published their usage. Lambda's
	// own retries add invocations that the launcher did not request, and
	// an invocation that could not reach NATS reports nothing.
	Reported int
	// GBSeconds is the billed duration times the memory size, over the
	// reported invocations.
	GBSeconds float64
	// MemoryMB is the memory size assumed where a worker did not report
	// its own.
	MemoryMB int
	// PricePerGBSecond and PricePerRequest are the prices assumed, in USD.
	PricePerGBSecond float64
	PricePerRequest  float64
}

// Requests returns the invocations billed as requests: the larger of the
// invocations requested and those reported.
func (c Cost) Requests() int { return max(c.Invocations, c.Reported) }

// USD returns the estimated cost in US dollars, before any free tier.
func (c Cost) USD() float64 {
	return c.GBSeconds*c.PricePerGBSecond + float64(c.Requests())*c.PricePerRequest
}

// String returns the estimate as one line for the end of a run.
func (c Cost) String() string {
	return fmt.Sprintf("lambda cost estimate: USD %.6f for %d invocations and %.2f GB-s (assumed USD %.10f per GB-s, USD %.2f per million requests, %d MB where a worker did not report its memory; %d of %d invocations reported their duration; free tier not deducted)",
		c.USD(), c.Requests(), c.GBSeconds, c.PricePerGBSecond, c.PricePerRequest*1e6, c.MemoryMB, c.Reported, c.Requests())
}
