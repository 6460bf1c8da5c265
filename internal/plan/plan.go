// Package plan parses, validates and splits a load-test plan written in
// YAML.
//
// A plan names the target, the number of virtual users, how fast they
// start, how long the run lasts and the weighted HTTP tasks that users
// pick from. Parse reports every problem in a plan at once, each with its
// line, column and key path. Split divides a plan's users, rates and
// iterations into shares, one for each worker.
package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Parse to keys that a plan leaves out.
const (
	DefaultName        = "run"
	DefaultTimeout     = 10 * time.Second
	DefaultMinWorkers  = 1
	DefaultJoinTimeout = time.Minute
	DefaultMethod      = "GET"
	DefaultWeight      = 1
)

// Limits enforced by Parse.
const (
	// MaxInputSize is the maximum size of a plan file in bytes.
	MaxInputSize = 1 << 20
	// MaxTasks is the maximum number of tasks in a plan.
	MaxTasks = 1000
	// MaxUsers is the maximum number of users of a plan, fleet-wide. Every
	// worker sizes its connection pools for the plan's users, so a number
	// far beyond what a fleet can run is more likely a typo.
	MaxUsers = 10_000_000
	// MaxHeaders is the maximum number of headers in one task.
	MaxHeaders = 100
	// MaxBodySize is the maximum size of one task's body in bytes.
	MaxBodySize = 1 << 20
	// MaxWeight is the maximum weight of one task. It keeps the sum of
	// all weights far from integer overflow.
	MaxWeight = 1_000_000
	// MaxRate is the maximum arrival rate of an open-model plan, in task
	// executions per second across the fleet.
	MaxRate = 10_000_000
	// MaxSteps is the maximum number of steps in one task.
	MaxSteps = 50
)

// Plan is a parsed and validated load test. Parse fills every field that
// has a default, so a zero value means "not set" only where noted.
type Plan struct {
	// Name identifies the run. It defaults to DefaultName.
	Name string `json:"name" msgpack:"name"`
	// Target is the base URL that task paths are joined to. It is empty
	// when the plan sets none, and then every task URL is absolute.
	Target string `json:"target" msgpack:"target"`
	// Users is the number of concurrent virtual users across all workers.
	// In an open-model plan it caps the task executions in progress at
	// once, and defaults to Rate times Timeout, so that no arrival is
	// dropped while the target responds within the timeout.
	Users int `json:"users" msgpack:"users"`
	// Rate, when above 0, makes the plan an open model: task executions
	// start at Rate per second across the fleet, whether or not earlier
	// ones have finished. With rate stages it is the highest stage's
	// rate. It is 0 for a closed model, where each user runs one task
	// after another.
	Rate float64 `json:"rate,omitempty" msgpack:"rate,omitempty"`
	// SpawnRate is the number of users started per second across all
	// workers. It defaults to Users, so all users start within a second.
	SpawnRate float64 `json:"spawn_rate" msgpack:"spawn_rate"`
	// Duration is how long the run lasts, or 0 when only Iterations
	// bounds it. When both are set, the run stops at whichever comes
	// first.
	Duration time.Duration `json:"duration" msgpack:"duration"`
	// Stages, when set, move the fleet's users linearly from one count to
	// the next, and SpawnRate is then ignored because each stage's slope
	// sets the rate. Users is at least the highest stage's users, and
	// Duration is the sum of the stage durations. It is nil without
	// stages.
	Stages []Stage `json:"stages" msgpack:"stages"`
	// Iterations is the exact number of task executions across all
	// workers, or 0 when only Duration bounds the run.
	Iterations int64 `json:"iterations" msgpack:"iterations"`
	// MaxRPS caps requests per second across all workers, or is 0 for
	// no cap.
	MaxRPS float64 `json:"max_rps" msgpack:"max_rps"`
	// Timeout is the timeout of one request. It defaults to
	// DefaultTimeout.
	Timeout time.Duration `json:"timeout" msgpack:"timeout"`
	// ThinkTime is the pause after each task execution of a task that
	// sets no think time of its own. The zero value means no pause.
	ThinkTime ThinkTime `json:"think_time" msgpack:"think_time"`
	// GracefulStop is how long requests in flight at the end of the run
	// may continue. It defaults to DefaultGracefulStop.
	GracefulStop time.Duration `json:"graceful_stop" msgpack:"graceful_stop"`
	// Workers sets how many workers the coordinator waits for.
	Workers Workers `json:"workers" msgpack:"workers"`
	// Thresholds limit the statistics of the whole run, all tasks
	// together. The zero value sets no limit.
	Thresholds Thresholds `json:"thresholds" msgpack:"thresholds"`
	// HTTP sets how requests are sent.
	HTTP HTTP `json:"http" msgpack:"http"`
	// Data is the table of rows that task executions take their column
	// variables from, or nil when the plan has no data key.
	Data *Data `json:"data,omitempty" msgpack:"data,omitempty"`
	// Tasks contains at least one task, and at least one of them has a
	// weight above 0.
	Tasks []Task `json:"tasks" msgpack:"tasks"`
}

// Workers is the part of a plan that sets how many workers must join
// before the run starts.
type Workers struct {
	// Min is the number of workers the coordinator waits for before it
	// starts the run. It defaults to DefaultMinWorkers.
	Min int `json:"min" msgpack:"min"`
	// JoinTimeout is how long the coordinator waits for Min workers. It
	// defaults to DefaultJoinTimeout.
	JoinTimeout time.Duration `json:"join_timeout" msgpack:"join_timeout"`
}

// Task is one kind of HTTP request that virtual users send.
type Task struct {
	// Name is unique within the plan and contains only the characters
	// A-Z, a-z, 0-9, '_', '.' and '-', so it can serve as a metric label.
	Name string `json:"name" msgpack:"name"`
	// Weight is the relative chance that a user picks this task, from 0
	// (never) to MaxWeight. It defaults to DefaultWeight.
	Weight int `json:"weight" msgpack:"weight"`
	// Method is an uppercase HTTP method. It defaults to DefaultMethod.
	Method string `json:"method" msgpack:"method"`
	// URL is an absolute http or https URL, already joined with the
	// plan's Target when the plan gave a path.
	URL string `json:"url" msgpack:"url"`
	// Go is the name of a function registered with package task, which
	// the task runs instead of sending a request. It is empty for an HTTP
	// task. When it is set, URL, Method, Headers and Body are empty.
	Go string `json:"go,omitempty" msgpack:"go,omitempty"`
	// Headers maps header names to values. It is nil when the task sets
	// no headers.
	Headers map[string]string `json:"headers" msgpack:"headers"`
	// Body is the request body, empty for none. Parse reads it from
	// body_file when the plan names one.
	Body string `json:"body" msgpack:"body"`
	// BodyFile is the body_file path as the plan wrote it, or empty. When
	// it is set, Body is sent byte for byte, without variables.
	BodyFile string `json:"body_file,omitempty" msgpack:"body_file,omitempty"`
	// Extract sets variables from the response, in the plan's order.
	Extract []Extract `json:"extract,omitempty" msgpack:"extract,omitempty"`
	// Expect is the check of the response. The zero value fails a status
	// of 400 or more.
	Expect Expect `json:"expect,omitzero" msgpack:"expect"`
	// Steps, when set, are the requests of one execution of the task,
	// sent in order, and URL, Method, Headers, Body, Extract and Expect
	// are empty. It is nil for a task with one request and for a Go task.
	Steps []Step `json:"steps,omitempty" msgpack:"steps,omitempty"`
	// ThinkTime is the pause of a user after each execution of this task.
	// Parse sets it to the plan's ThinkTime when the task sets none.
	ThinkTime ThinkTime `json:"think_time" msgpack:"think_time"`
	// Thresholds limit the statistics of this task alone. The zero value
	// sets no limit.
	Thresholds Thresholds `json:"thresholds" msgpack:"thresholds"`
}

// Parse decodes a YAML plan, applies defaults and validates it. On failure
// it returns a nil plan and an Errors value listing every problem found.
// Files that the plan names are read relative to the current directory.
func Parse(data []byte) (*Plan, error) {
	return parse(data, ".", MaxInputSize)
}

// Load reads the plan file at path and parses it. Files that the plan
// names are read relative to the plan file's directory. Every error it
// returns names the file. When the plan is invalid, errors.As on the error
// recovers the Errors list.
func Load(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}
	defer f.Close()

	// Read one byte past the limit so that Parse can report an oversized
	// file without this function loading all of it.
	data, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}

	p, err := parse(data, filepath.Dir(path), MaxInputSize)
	if err != nil {
		var list Errors
		if errors.As(err, &list) && len(list) > 1 {
			return nil, fmt.Errorf("plan %s has %d problems:\n%w", path, len(list), err)
		}
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return p, nil
}

// parse is Parse with the directory of named files and the input size
// limit as parameters, so tests can reach checks that the real limit makes
// unreachable.
func parse(data []byte, dir string, maxInput int) (*Plan, error) {
	var ps problems
	if len(data) > maxInput {
		ps.addf(nil, "", "plan is over the limit of %d bytes; split it or move task bodies into body_file",
			maxInput)
		return nil, ps.sorted()
	}

	root := readDocument(data, &ps)
	if root == nil {
		return nil, ps.sorted()
	}
	rejectAliases(root, &ps)

	d := decoder{problems: &ps, dir: dir}
	p := d.plan(root)
	if len(ps.list) > 0 {
		return nil, ps.sorted()
	}
	return p, nil
}

// readDocument parses data into a node tree and returns its top-level
// mapping, or nil after recording why there is none.
func readDocument(data []byte, ps *problems) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) || err == nil && len(doc.Content) == 0 {
		ps.addf(nil, "", "plan is empty; write a YAML mapping with at least users, tasks and duration or iterations")
		return nil
	}
	if err != nil {
		addSyntaxError(err, ps)
		return nil
	}

	// A trailing "---" with nothing after it yields an empty document,
	// which is harmless. Any other second document would be ignored
	// silently, so it is an error.
	var next yaml.Node
	err = dec.Decode(&next)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		addSyntaxError(err, ps)
	case len(next.Content) > 0 && next.Content[0].ShortTag() != "!!null":
		ps.addf(&next, "", "found a second YAML document; a plan file holds one document, so remove the \"---\" line and what follows or merge it into the first")
	}

	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.addf(root, "", "plan must be a YAML mapping with keys such as users and tasks, but the document is %s",
			kindName(root))
		return nil
	}
	return root
}

// addSyntaxError records a YAML syntax error, taking the line from the
// message where the YAML library includes one.
func addSyntaxError(err error, ps *problems) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	switch {
	case strings.Contains(msg, "found character that cannot start any token"):
		// The usual cause is a tab, which YAML does not allow in indentation.
		msg += " (YAML indents with spaces: replace any tab on this line with spaces)"
	case strings.Contains(msg, "did not find expected"):
		// The YAML library reports where it gave up, which may be a line
		// before or after the mistake.
		msg += " (check the indentation of this line and the next ones, and that every [ { and quote is closed)"
	case strings.Contains(msg, "unexpected end of stream"):
		msg += " (a quote or bracket is not closed)"
	case strings.Contains(msg, "could not find expected ':'"):
		msg += " (write each key as key: value, with a space after the colon)"
	}
	ps.list = append(ps.list, Problem{
		Line:    line,
		Message: "invalid YAML: " + msg,
	})
}

// rejectAliases records a problem for each alias in the tree. Aliases let
// a small file expand into a huge one ("billion laughs"), and a plan has
// no need for them. Only the first maxAliasProblems are listed one by one.
func rejectAliases(root *yaml.Node, ps *problems) {
	const maxAliasProblems = 20
	count := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			count++
			switch {
			case count <= maxAliasProblems:
				ps.addf(n, "", "alias *%s is not supported; write the value out in full instead of using anchors and aliases", n.Value)
			case count == maxAliasProblems+1:
				ps.addf(n, "", "more aliases follow from here; remove every alias")
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
}
