package workercli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/testutil"
)

const testSecret = "pa55word"

// invocationContext returns a context with a deadline in timeout and a
// Lambda request id, as the Lambda runtime passes to a handler.
func invocationContext(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-test"})
}

// withSecret returns url with a user and testSecret in it.
func withSecret(url string) string {
	return strings.Replace(url, "nats://", "nats://barrage:"+testSecret+"@", 1)
}

func TestInvocationFindsNoFreeSlot(t *testing.T) {
	srv := testutil.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, srv.URL(), "handler-test")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	target := testutil.NewTarget(t, nil)
	record := `{"id":"full","state":"running","coordinator":"full","report_interval":500000000,"lease":2000000000,` +
		`"plan":{"target":"` + target.URL + `","users":1,"duration":60000000000,"tasks":[{"name":"home","weight":1,"method":"GET","url":"` + target.URL + `/"}]}}`
	if _, err := b.Acquire(ctx, bus.RunKey("full"), []byte(record), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, bus.SlotKey("full", 0), []byte("other"), time.Minute); err != nil {
		t.Fatal(err)
	}
	usages := make(chan *nats.Msg, 4)
	sub, err := b.NC.ChanSubscribe(bus.UsageSubject("full"), usages)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	b.NC.Flush()

	var logs testutil.Buffer
	event := launch.Event{Run: "full", Slots: 1, NATSURL: withSecret(srv.URL())}
	res, err := handleInvocation(invocationContext(t, 30*time.Second), event, &logs)
	if err != nil {
		t.Fatalf("handleInvocation: %v\n%s", err, logs.String())
	}
	if res.Outcome != outcomeNoFreeSlot {
		t.Errorf("outcome = %q, want %q", res.Outcome, outcomeNoFreeSlot)
	}
	if got := target.Total(); got != 0 {
		t.Errorf("target received %d requests, want 0", got)
	}
	if strings.Contains(logs.String(), testSecret) {
		t.Errorf("the log contains the NATS password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), ":xxxxx@") {
		t.Errorf("the log lacks the redacted NATS URL:\n%s", logs.String())
	}

	select {
	case msg := <-usages:
		var u launch.Usage
		if err := json.Unmarshal(msg.Data, &u); err != nil {
			t.Fatal(err)
		}
		if u.Outcome != outcomeNoFreeSlot || u.RequestID != "req-test" || u.DurationMS <= 0 {
			t.Errorf("usage = %+v, want outcome no_free_slot, request id req-test and a duration", u)
		}
	case <-time.After(5 * time.Second):
		t.Error("the invocation published no usage")
	}
}

func TestInvocationReadsURLFromEnvironment(t *testing.T) {
	srv := testutil.StartNATS(t)
	t.Setenv("BARRAGE_TEST_NATS", srv.URL())
	var logs testutil.Buffer
	event := launch.Event{Run: "never-announced", Slots: 1, NATSURLEnv: "BARRAGE_TEST_NATS"}
	res, err := handleInvocation(invocationContext(t, 30*time.Second), event, &logs)
	if err != nil {
		t.Fatalf("handleInvocation: %v\n%s", err, logs.String())
	}
	if res.Outcome != outcomeRunOver {
		t.Errorf("outcome = %q, want %q", res.Outcome, outcomeRunOver)
	}
}

func TestInvocationErrors(t *testing.T) {
	t.Setenv("BARRAGE_TEST_EMPTY", "")
	tests := []struct {
		name  string
		ctx   context.Context
		event launch.Event
		want  string
	}{
		{"invalid event", invocationContext(t, time.Minute), launch.Event{Run: "r"}, "slots 0"},
		{"no deadline", context.Background(), launch.Event{Run: "r", Slots: 1}, "no deadline"},
		{"empty URL variable", invocationContext(t, time.Minute), launch.Event{Run: "r", Slots: 1, NATSURLEnv: "BARRAGE_TEST_EMPTY"}, "BARRAGE_TEST_EMPTY is empty"},
		{"missing credentials file", invocationContext(t, time.Minute),
			launch.Event{Run: "r", Slots: 1, NATSURL: "nats://127.0.0.1:1", NATSCreds: "/nonexistent/nats.creds"}, "/nonexistent/nats.creds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testutil.Buffer
			_, err := handleInvocation(tt.ctx, tt.event, &logs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("handleInvocation = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
