// Package testutil contains helpers for tests that run Barrage's real
// parts. It starts an embedded NATS server and a target that counts the
// requests it receives. It builds the coordinator, the worker and the nats
// CLI, and runs them as child processes whose output is kept for failure
// reports.
//
// Binaries built by BuildBinaries live in a directory that Main removes, so
// a package that uses them declares
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
package testutil
