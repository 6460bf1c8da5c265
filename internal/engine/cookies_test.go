package engine

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// sessionServer issues a new session cookie on every request for /login
// and checks the session cookie of every request. Users name themselves
// with the query parameter user.
type sessionServer struct {
	mu        sync.Mutex
	issued    int
	owner     map[string]string // session -> user it was issued to
	latest    map[string]string // user -> session issued to it last
	withValue map[string]int    // path -> requests that sent the latest session
	problems  []string
}

func newSessionServer() *sessionServer {
	return &sessionServer{
		owner:     make(map[string]string),
		latest:    make(map[string]string),
		withValue: make(map[string]int),
	}
}

func (s *sessionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user := r.URL.Query().Get("user")
	want, loggedIn := s.latest[user]
	c, err := r.Cookie("session")
	switch {
	case err != nil && loggedIn:
		s.problems = append(s.problems, fmt.Sprintf("user %s sent no session on %s after logging in", user, r.URL.Path))
	case err == nil && s.owner[c.Value] != user:
		s.problems = append(s.problems, fmt.Sprintf("user %s sent session %s of user %q on %s", user, c.Value, s.owner[c.Value], r.URL.Path))
	case err == nil && c.Value != want:
		s.problems = append(s.problems, fmt.Sprintf("user %s sent session %s on %s, want its latest %s", user, c.Value, r.URL.Path, want))
	case err == nil:
		s.withValue[r.URL.Path]++
	}

	if r.URL.Path == "/login" {
		s.issued++
		value := "s" + strconv.Itoa(s.issued)
		s.owner[value] = user
		s.latest[user] = value
		http.SetCookie(w, &http.Cookie{Name: "session", Value: value})
	}
}

func TestCookieSetByOneTaskSentByNext(t *testing.T) {
	tests := []struct {
		name  string
		http2 bool
		start func(*testing.T, http.Handler) *httptest.Server
	}{
		{"HTTP/1.1", false, newHTTP1Server},
		{"HTTP/2", true, newH2CServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sessions := newSessionServer()
			server := tt.start(t, sessions)

			got := runPlan(t, `
target: %s
users: 4
spawn_rate: 1000
iterations: 200
http:
  http2: %t
tasks:
  - name: login
    url: /login?user=${user}
  - name: browse
    url: /browse?user=${user}
`, server.URL, tt.http2)

			if got.Requests != 200 || got.Failures != 0 {
				t.Errorf("Collect counts %d requests and %d failures, want 200 and 0: %v", got.Requests, got.Failures, got.Errors)
			}
			sessions.mu.Lock()
			defer sessions.mu.Unlock()
			for _, problem := range sessions.problems {
				t.Error(problem)
			}
			if len(sessions.latest) < 2 {
				t.Errorf("%d users logged in, want several to check that cookies stay with their user", len(sessions.latest))
			}
			// Each user picks login or browse at random, so with 200
			// executions many a browse follows a login.
			if n := sessions.withValue["/browse"]; n == 0 {
				t.Errorf("no browse request sent the session that a login set, want many")
			}
			if n := sessions.withValue["/login"]; n == 0 {
				t.Errorf("no login request sent the session of an earlier login, want many")
			}
		})
	}
}
