// Package testutil holds helpers for tests that run Barrage's real parts:
// an embedded NATS server, a target that counts the requests it receives,
// the coordinator and worker binaries, the nats CLI and child processes
// whose output is kept for failure reports.
//
// Binaries built by BuildBinaries live in a directory that Main removes, so
// a package that uses them declares
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
package testutil
