// Package vuhost connects the public task package to the engine that runs
// its functions: the engine implements Host, and package task wraps a Host
// into the *task.VU that a task function receives.
package vuhost

import (
	"context"

	"github.com/valyala/fasthttp"
)

// Host is the part of an engine's virtual user that a task function
// reaches through its *task.VU. Only the user's goroutine calls it.
type Host interface {
	// ID returns the user's number within its worker.
	ID() int
	// Iteration returns how many tasks the user ran before the current
	// execution.
	Iteration() int64
	// Do sends req, following redirects as the plan allows, and copies
	// the final response into resp. Each request sent is recorded under
	// the running task. Do returns the transport error or the redirect
	// failure of the last request, and returns ctx's error without
	// sending anything when ctx is done.
	Do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error
}

// NewVU wraps h into a *task.VU, returned as any so that this package does
// not import package task. Package task sets NewVU when it is initialized,
// which happens before any engine runs because the engine imports it.
var NewVU func(h Host) any
