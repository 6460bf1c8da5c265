// Command worker joins a run announced on NATS, claims a share of its plan,
// generates the load and reports statistics to the coordinator. It exits
// when the run ends. See `worker --help`.
//
// This binary runs HTTP tasks only. To run tasks written in Go, build a
// worker of your own that registers them with package task and calls
// workercli.Main, as examples/custom-worker does.
package main

import "github.com/barrage-load/barrage/workercli"

func main() {
	workercli.Main()
}
