// Package task lets a worker run load written in Go. A program registers
// functions with Register and then runs the worker with workercli.Main. A
// plan task with the key "go: NAME" instead of "url" runs the function
// registered under NAME, once per execution by each virtual user.
//
// The plan's iterations, think time and max_rps apply to each execution as
// they apply to an HTTP task. Requests sent through the VU are recorded
// under the plan task's name.
package task

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/vuhost"
)

// Func is one execution of a task by one virtual user, which sends its
// requests through vu so that the worker records them. ctx is cancelled
// the plan's graceful_stop after the run ends, so an execution in progress
// at the end may still send its remaining requests until then.
//
// Returning a non-nil error counts the execution as failed with the
// error's message: its last request becomes a failure, and an execution
// that sent no request counts as one failed request. When the last request
// already failed, for example with status 500, nothing more is counted and
// that request's message stays. An error that is ctx's error, after ctx
// was cancelled, is not counted. A panic is recovered and counted like an
// error with the message "panic: VALUE".
type Func func(ctx context.Context, vu *VU) error

var (
	mu       sync.RWMutex
	registry = make(map[string]Func)
)

// Register makes f available to plan tasks that set "go: name". Call it
// before the worker starts, typically from an init function or at the top
// of main. Register is safe for concurrent use.
//
// Register panics when name is empty or contains characters other than
// A-Z, a-z, 0-9, '_', '.' and '-', when f is nil, or when name is already
// registered: each is a mistake in the program, not in its input.
func Register(name string, f Func) {
	if !plan.IsValidName(name) {
		panic(fmt.Sprintf("task.Register: invalid name %q: use only letters A-Z and a-z, digits, '_', '.' and '-'", name))
	}
	if f == nil {
		panic(fmt.Sprintf("task.Register: nil function for task %q", name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := registry[name]; ok {
		panic(fmt.Sprintf("task.Register: task %q is already registered", name))
	}
	registry[name] = f
}

// Lookup returns the function registered under name, and false when there
// is none. Lookup is safe for concurrent use.
func Lookup(name string) (Func, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// Names returns the registered names in sorted order. Names is safe for
// concurrent use.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func init() {
	vuhost.NewVU = func(h vuhost.Host) any { return &VU{host: h} }
}
