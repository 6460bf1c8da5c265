package launch_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/testutil"
)

// lambdaAPI is a Lambda Invoke endpoint on loopback that records the
// invocations it receives.
type lambdaAPI struct {
	mu     sync.Mutex
	paths  []string
	types  []string
	bodies [][]byte
	signed []bool
	status int
}

func (a *lambdaAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.paths = append(a.paths, r.Method+" "+r.URL.Path)
	a.types = append(a.types, r.Header.Get("X-Amz-Invocation-Type"))
	a.bodies = append(a.bodies, body)
	a.signed = append(a.signed, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256"))
	status := a.status
	a.mu.Unlock()
	w.Header().Set("X-Amzn-Requestid", "req-1")
	if status == 0 {
		status = http.StatusAccepted
	}
	if status >= 400 {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(status)
		w.Write([]byte(`{"Type":"User","message":"Function not found"}`))
		return
	}
	w.WriteHeader(status)
}

// setAWSTestEnv gives the SDK static credentials and keeps it away from
// shared files and the instance metadata service.
func setAWSTestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "barrage-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "barrage-test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_REGION", "")
}

func TestLambdaInvokesAsynchronously(t *testing.T) {
	setAWSTestEnv(t)
	api := &lambdaAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()

	event := launch.Event{Run: "shop-1", Slots: 4, NATSURL: "nats://u:secret@127.0.0.1:4222", HandoverMargin: "2s"}
	l, err := launch.NewLambda(context.Background(), launch.LambdaConfig{
		Function: "barrage-worker", Endpoint: srv.URL, Region: "eu-west-1", Event: event,
	})
	if err != nil {
		t.Fatal(err)
	}
	name, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, "req-1") {
		t.Errorf("Start returned %q, want the request id req-1 in it", name)
	}

	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.paths) != 1 {
		t.Fatalf("API received %d requests, want 1", len(api.paths))
	}
	if want := "POST /2015-03-31/functions/barrage-worker/invocations"; api.paths[0] != want {
		t.Errorf("request = %q, want %q", api.paths[0], want)
	}
	if api.types[0] != "Event" {
		t.Errorf("X-Amz-Invocation-Type = %q, want Event", api.types[0])
	}
	if !api.signed[0] {
		t.Error("the request is not signed with SigV4")
	}
	var got launch.Event
	if err := json.Unmarshal(api.bodies[0], &got); err != nil {
		t.Fatalf("payload %s: %v", api.bodies[0], err)
	}
	if got != event {
		t.Errorf("payload = %+v, want %+v", got, event)
	}
	if c := l.Cost(); c.Invocations != 1 {
		t.Errorf("cost invocations = %d, want 1", c.Invocations)
	}
}

func TestLambdaReportsInvokeErrors(t *testing.T) {
	setAWSTestEnv(t)
	api := &lambdaAPI{status: http.StatusNotFound}
	srv := httptest.NewServer(api)
	defer srv.Close()
	l, err := launch.NewLambda(context.Background(), launch.LambdaConfig{
		Function: "missing", Endpoint: srv.URL, Region: "eu-west-1",
		Event: launch.Event{Run: "r", Slots: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Start = %v, want an error naming the function", err)
	}
	if c := l.Cost(); c.Invocations != 0 {
		t.Errorf("cost invocations = %d, want 0 after a failed invoke", c.Invocations)
	}
}

func TestNewLambdaNeedsRegion(t *testing.T) {
	setAWSTestEnv(t)
	_, err := launch.NewLambda(context.Background(), launch.LambdaConfig{
		Function: "f", Endpoint: "http://127.0.0.1:1", Event: launch.Event{Run: "r", Slots: 1},
	})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("NewLambda = %v, want an error that names AWS_REGION", err)
	}
}

func TestLambdaCostFromUsage(t *testing.T) {
	setAWSTestEnv(t)
	srv := testutil.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, srv.URL(), "cost-test")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	l, err := launch.NewLambda(ctx, launch.LambdaConfig{
		Function: "f", Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
		Event: launch.Event{Run: "cost", Slots: 2}, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := l.CollectUsage(b, "cost")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	usages := []launch.Usage{
		{RequestID: "a", Outcome: "handed_over", DurationMS: 1999.2, InitMS: 80.5, MemoryMB: 2048},
		{RequestID: "b", Outcome: "no_free_slot", DurationMS: 12, MemoryMB: 2048},
	}
	for _, u := range usages {
		data, _ := json.Marshal(u)
		if err := b.NC.Publish(bus.UsageSubject("cost"), data); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return l.Cost().Reported == 2 }, "2 usages arrived")

	c := l.Cost()
	// 2 GB for ceil(2079.7) ms and for 12 ms.
	wantGBs := 2.0*2.080 + 2.0*0.012
	if math.Abs(c.GBSeconds-wantGBs) > 1e-9 {
		t.Errorf("GB-seconds = %v, want %v", c.GBSeconds, wantGBs)
	}
	wantUSD := wantGBs*launch.DefaultLambdaPricePerGBSecond + 2*launch.DefaultLambdaPricePerRequest
	if math.Abs(c.USD()-wantUSD) > 1e-12 {
		t.Errorf("USD = %v, want %v", c.USD(), wantUSD)
	}
	if !strings.Contains(c.String(), "2 invocations") {
		t.Errorf("estimate %q does not count 2 invocations", c.String())
	}
}

func TestEventCheck(t *testing.T) {
	tests := []struct {
		name  string
		event launch.Event
		ok    bool
	}{
		{"valid", launch.Event{Run: "r-1", Slots: 3, HandoverMargin: "1500ms"}, true},
		{"missing run", launch.Event{Slots: 1}, false},
		{"run with a dot", launch.Event{Run: "a.b", Slots: 1}, false},
		{"no slots", launch.Event{Run: "r"}, false},
		{"invalid margin", launch.Event{Run: "r", Slots: 1, HandoverMargin: "soon"}, false},
		{"negative margin", launch.Event{Run: "r", Slots: 1, HandoverMargin: "-1s"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.event.Check(); (err == nil) != tt.ok {
				t.Errorf("Check = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
