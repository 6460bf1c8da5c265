// Command custom-worker is a worker that runs a task written in Go as
// well as the HTTP tasks of a plan. It registers the function
// "login-and-browse" and then runs the standard worker command, so it
// takes the same flags as cmd/worker. Build it with
//
//	go build ./examples/custom-worker
//
// and name the function in a plan task:
//
//	tasks:
//	  - name: login
//	    go: login-and-browse
//
// The function reads the target from the BARRAGE_EXAMPLE_TARGET
// environment variable, http://127.0.0.1:8080 by default, because a Go
// task has no url key.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/barrage-load/barrage/task"
	"github.com/barrage-load/barrage/workercli"
)

func main() {
	target := os.Getenv("BARRAGE_EXAMPLE_TARGET")
	if target == "" {
		target = "http://127.0.0.1:8080"
	}
	task.Register("login-and-browse", loginAndBrowse(target))
	workercli.Main()
}

// loginAndBrowse returns a task function that logs in as a user of its
// own and then opens one item page with the session cookie, which the
// worker keeps per virtual user unless the plan sets http.cookies: false.
func loginAndBrowse(target string) task.Func {
	return func(ctx context.Context, vu *task.VU) error {
		form := []byte("user=user" + strconv.Itoa(vu.ID()) + "&password=secret")
		headers := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		resp, err := vu.Do(ctx, "POST", target+"/login", form, headers)
		if err != nil {
			return err
		}
		if resp.StatusCode >= 400 {
			return fmt.Errorf("login failed with status %d", resp.StatusCode)
		}

		item := vu.Iteration() % 100
		status, _, err := vu.Get(ctx, target+"/items/"+strconv.FormatInt(item, 10))
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("item %d returned status %d", item, status)
		}
		return nil
	}
}
