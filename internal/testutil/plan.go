package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WritePlan writes yaml to plan.yaml in a new temporary directory of the
// test and returns its path.
func WritePlan(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatalf("write plan: %v", err)
	}
	return path
}
