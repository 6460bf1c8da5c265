package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// NatsCLIVersion is the version of the nats CLI that NatsCLI builds.
const NatsCLIVersion = "v0.5.0"

// natsCLIBuildTimeout bounds `go install` of the nats CLI. It took about
// four minutes on a 2-core machine with an empty module cache.
const natsCLIBuildTimeout = 10 * time.Minute

// builds holds the binaries of this test process. A sync.Once builds them,
// so that parallel tests share one build.
var builds struct {
	once        sync.Once
	dir         string
	coordinator string
	worker      string
	err         error
}

// natsCLI holds the path of the nats CLI once NatsCLI has found or built it.
var natsCLI struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests of a package, removes the binaries that
// BuildBinaries built and exits with the tests' exit code. Call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	extraDirs.removeAll()
	os.Exit(code)
}

// BuildBinaries builds cmd/coordinator and cmd/worker of this module and
// returns their paths. The first call builds them into a temporary
// directory that Main removes, and later calls in the same test process
// reuse them. A failed build fails the test with the compiler output.
func BuildBinaries(t testing.TB) (coordinator, worker string) {
	t.Helper()
	builds.once.Do(func() {
		builds.err = buildBinaries()
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.coordinator, builds.worker
}

func buildBinaries() error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "barrage-test-bin-")
	if err != nil {
		return fmt.Errorf("create directory for binaries: %w", err)
	}
	builds.dir = dir

	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/coordinator", "./cmd/worker")
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/coordinator ./cmd/worker in %s failed: %v\n%s", root, err, output)
	}
	builds.coordinator = filepath.Join(dir, "coordinator")
	builds.worker = filepath.Join(dir, "worker")
	return nil
}

// BuildProgram builds the main package pkg of this module, a path such
// as ./examples/custom-worker, into a temporary directory of the test and
// returns the binary's path. A failed build fails the test with the
// compiler output.
func BuildProgram(t testing.TB, pkg string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s failed: %v\n%s", pkg, root, err, output)
	}
	return path
}

// buildTemp builds with `go build` in the module root, into a new
// temporary directory that Main removes, and returns the path of the
// program named name. args come between "go build" and "-o", and pkg
// after it.
func buildTemp(name string, args []string, pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "barrage-test-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("create directory for %s: %w", name, err)
	}
	extraDirs.add(dir)
	path := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append(append([]string{"build"}, args...), "-o", path), pkg)...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s failed: %v\n%s", strings.Join(cmd.Args, " "), err, output)
	}
	return path, nil
}

// ModuleRoot returns the directory of the go.mod that contains the current
// working directory, which `go test` sets to the package's directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// NatsCLI returns the path of the nats CLI at NatsCLIVersion. The first
// call in a machine's life builds it with `go install`, which needs the Go
// module proxy and takes minutes, into the user's cache directory under
// barrage-test, where later test runs find it. A failed build fails the
// test with the output of `go install`.
func NatsCLI(t testing.TB) string {
	t.Helper()
	natsCLI.once.Do(func() {
		natsCLI.path, natsCLI.err = findOrBuildNatsCLI()
	})
	if natsCLI.err != nil {
		t.Fatal(natsCLI.err)
	}
	return natsCLI.path
}

func findOrBuildNatsCLI() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the nats CLI: %w", err)
	}
	dir := filepath.Join(cache, "barrage-test", "natscli-"+NatsCLIVersion)
	path := filepath.Join(dir, "nats")
	if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the nats CLI cache directory: %w", err)
	}

	// go install writes into a fresh directory and the result is renamed
	// into place, so a test process running at the same time never runs a
	// half-written binary.
	staging, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		return "", fmt.Errorf("create the nats CLI staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	ctx, cancel := context.WithTimeout(context.Background(), natsCLIBuildTimeout)
	defer cancel()
	pkg := "github.com/nats-io/natscli/nats@" + NatsCLIVersion
	cmd := exec.CommandContext(ctx, "go", "install", pkg)
	// Outside any module, so that this repository's go.mod plays no part.
	cmd.Dir = staging
	cmd.Env = append(os.Environ(), "GOBIN="+staging, "GOWORK=off")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s failed: %v\n%s", pkg, err, output)
	}
	if err := os.Rename(filepath.Join(staging, "nats"), path); err != nil {
		return "", fmt.Errorf("move the nats CLI into %s: %w", dir, err)
	}
	return path, nil
}
