package launch_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/testutil"
)

// nomadAPI serves the parts of the Nomad HTTP API that the launcher uses:
// dispatching a parameterized job and listing a job's allocations. The
// test sets each dispatched job's allocations.
type nomadAPI struct {
	t *testing.T

	mu         sync.Mutex
	dispatches []api.JobDispatchRequest
	allocs     map[string][]*api.AllocationListStub // dispatched job id → allocations
	gone       map[string]bool                      // dispatched jobs whose requests get 404
	tokens     []string
}

func newNomadAPI(t *testing.T) *nomadAPI {
	return &nomadAPI{t: t, allocs: make(map[string][]*api.AllocationListStub), gone: make(map[string]bool)}
}

func (n *nomadAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tokens = append(n.tokens, r.Header.Get("X-Nomad-Token"))
	w.Header().Set("X-Nomad-Index", "7")
	w.Header().Set("X-Nomad-LastContact", "0")
	w.Header().Set("X-Nomad-KnownLeader", "true")

	path := strings.TrimPrefix(r.URL.EscapedPath(), "/v1/job/")
	switch {
	case r.Method == http.MethodPut && strings.HasSuffix(path, "/dispatch"):
		var req api.JobDispatchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.dispatches = append(n.dispatches, req)
		id := fmt.Sprintf("%s/dispatch-%d-%s", req.JobID, len(n.dispatches), req.IdPrefixTemplate)
		n.allocs[id] = []*api.AllocationListStub{{ID: fmt.Sprint("alloc-", len(n.dispatches)), JobID: id, ClientStatus: "running"}}
		json.NewEncoder(w).Encode(api.JobDispatchResponse{DispatchedJobID: id, EvalID: "eval-1"})
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/allocations"):
		id, err := url.PathUnescape(strings.TrimSuffix(path, "/allocations"))
		if err != nil || r.URL.Query().Get("all") != "true" {
			http.Error(w, "bad allocations request", http.StatusBadRequest)
			return
		}
		if n.gone[id] {
			http.Error(w, "job not found", http.StatusNotFound)
			return
		}
		allocs, ok := n.allocs[id]
		if !ok {
			http.Error(w, "job not found", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(allocs)
	default:
		n.t.Errorf("unexpected Nomad API request %s %s", r.Method, r.URL)
		http.Error(w, "not served by this test", http.StatusNotFound)
	}
}

// setStatus sets the client status of dispatched job i's allocation,
// counting from 1.
func (n *nomadAPI) setStatus(i int, status string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, allocs := range n.allocs {
		if strings.Contains(id, fmt.Sprintf("/dispatch-%d-", i)) {
			allocs[0].ClientStatus = status
		}
	}
}

// remove makes requests for dispatched job i get 404, as for a purged job.
func (n *nomadAPI) remove(i int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id := range n.allocs {
		if strings.Contains(id, fmt.Sprintf("/dispatch-%d-", i)) {
			n.gone[id] = true
		}
	}
}

func (n *nomadAPI) dispatched() []api.JobDispatchRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]api.JobDispatchRequest(nil), n.dispatches...)
}

func TestNomadDispatchesAndReplaces(t *testing.T) {
	t.Setenv("NOMAD_TOKEN", "test-token")
	t.Setenv("NOMAD_NAMESPACE", "")
	t.Setenv("NOMAD_REGION", "")
	b := testBus(t)
	setRunState(t, b, "nomad-run", bus.RunRunning)
	fake := newNomadAPI(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	platform, err := launch.NewNomad(launch.NomadConfig{
		Address: srv.URL, Job: "barrage-worker", Run: "nomad-run", Slots: 2,
		PollInterval: 20 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := launch.New(launch.Config{
		Platform: platform, Bus: b, Run: "nomad-run", Workers: 2,
		MinBackoff: 50 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	defer l.Stop()

	count := func() int { return len(fake.dispatched()) }
	testutil.Eventually(t, 5*time.Second, func() bool { return count() == 2 }, "2 jobs dispatched (%d)", count())
	for i, req := range fake.dispatched() {
		if req.JobID != "barrage-worker" {
			t.Errorf("dispatch %d of job %q, want barrage-worker", i, req.JobID)
		}
		if req.Meta["run"] != "nomad-run" || req.Meta["slots"] != "2" {
			t.Errorf("dispatch %d meta = %v, want run nomad-run and slots 2", i, req.Meta)
		}
		if req.IdPrefixTemplate != "nomad-run" {
			t.Errorf("dispatch %d id prefix = %q, want the run id", i, req.IdPrefixTemplate)
		}
	}
	stable(t, 100*time.Millisecond, func() bool { return count() == 2 }, "running allocations are not replaced")

	t.Run("completed allocation is replaced", func(t *testing.T) {
		fake.setStatus(1, "complete")
		testutil.Eventually(t, 5*time.Second, func() bool { return count() == 3 }, "a third job dispatched (%d)", count())
	})
	t.Run("purged job is replaced", func(t *testing.T) {
		fake.remove(2)
		testutil.Eventually(t, 5*time.Second, func() bool { return count() == 4 }, "a fourth job dispatched (%d)", count())
	})
	t.Run("pending rescheduling is not a finish", func(t *testing.T) {
		fake.mu.Lock()
		for id, allocs := range fake.allocs {
			if strings.Contains(id, "/dispatch-3-") {
				allocs[0].ClientStatus = "failed"
				allocs[0].FollowupEvalID = "eval-followup"
			}
		}
		fake.mu.Unlock()
		stable(t, 150*time.Millisecond, func() bool { return count() == 4 }, "no dispatch while Nomad reschedules")
	})
	t.Run("no replacement once the run stops", func(t *testing.T) {
		setRunState(t, b, "nomad-run", bus.RunStopping)
		fake.setStatus(4, "failed")
		stable(t, 300*time.Millisecond, func() bool { return count() == 4 }, "no dispatch after the run stopped")
	})

	fake.mu.Lock()
	defer fake.mu.Unlock()
	for i, token := range fake.tokens {
		if token != "test-token" {
			t.Errorf("request %d carried token %q, want NOMAD_TOKEN's", i, token)
			break
		}
	}
}

func TestNewNomadNeedsAddressAndJob(t *testing.T) {
	if _, err := launch.NewNomad(launch.NomadConfig{Job: "j", Run: "r"}); err == nil || !strings.Contains(err.Error(), "--nomad-addr") {
		t.Errorf("NewNomad without address = %v, want an error naming --nomad-addr", err)
	}
	if _, err := launch.NewNomad(launch.NomadConfig{Address: "http://127.0.0.1:1", Run: "r"}); err == nil || !strings.Contains(err.Error(), "--nomad-job") {
		t.Errorf("NewNomad without job = %v, want an error naming --nomad-job", err)
	}
}
