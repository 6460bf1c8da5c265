package engine

import (
	"context"
	"testing"
)

func TestPauseReleasesBuffers(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 1
duration: 1m
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	u := e.newUser(0)
	task := e.tasks[0]

	u.run(task)
	if u.req == nil || u.resp == nil {
		t.Fatal("the user holds no request or response after sending one")
	}
	u.sleep(context.Background(), releaseAfter/2)
	if u.req == nil {
		t.Errorf("a pause shorter than %s released the request", releaseAfter)
	}
	u.sleep(context.Background(), releaseAfter)
	if u.req != nil || u.resp != nil {
		t.Errorf("a pause of %s kept the request or the response", releaseAfter)
	}
	u.run(task)

	if n := tg.count("/home"); n != 2 {
		t.Errorf("target received %d requests for /home, want 2", n)
	}
	if got := total(e.Collect()); got.Requests != 2 || got.Failures != 0 {
		t.Errorf("Collect counts %d requests and %d failures, want 2 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
}

func TestVariablesSurviveReleasedBuffers(t *testing.T) {
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 1
duration: 1m
tasks:
  - name: login
    method: POST
    url: /login
    body: '{"user": "u${user}"}'
    extract: {token: {json: $.token}}
  - name: profile
    url: /profile
    headers: {Authorization: "Bearer ${token}"}
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	u := e.newUser(0)
	login, profile := e.tasks[0], e.tasks[1]

	u.run(login)
	u.sleep(context.Background(), releaseAfter)
	if u.req != nil {
		t.Fatalf("a pause of %s kept the request", releaseAfter)
	}
	u.run(profile)

	if n := tg.profileOK.Load(); n != 1 {
		t.Errorf("target accepted %d profile requests, want 1: the token did not survive the pause", n)
	}
	if got := total(e.Collect()); got.Requests != 2 || got.Failures != 0 {
		t.Errorf("Collect counts %d requests and %d failures, want 2 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
}
