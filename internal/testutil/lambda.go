package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// RIEModule and RIEVersion name the AWS Lambda runtime interface emulator
// that RIE builds.
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// rieBuildTimeout bounds fetching and building the emulator. With a warm
// module cache the build took about 10 seconds on a 2-core machine.
const rieBuildTimeout = 10 * time.Minute

var rie struct {
	once    sync.Once
	path    string
	skip    string // the reason the tests that need it are skipped
	err     error
	bsOnce  sync.Once
	bsPath  string
	bsError error
}

// RIE returns the path of the runtime interface emulator's aws-lambda-rie
// command at RIEVersion. The first call in a machine's life fetches the
// module through the Go module proxy and builds the command into the
// user's cache directory under barrage-test, where later test runs find
// it. The test is skipped, saying why, only when the module cannot be
// fetched; a failed build fails it.
func RIE(t testing.TB) string {
	t.Helper()
	rie.once.Do(func() {
		rie.path, rie.skip, rie.err = findOrBuildRIE()
	})
	if rie.skip != "" {
		t.Skip(rie.skip)
	}
	if rie.err != nil {
		t.Fatal(rie.err)
	}
	return rie.path
}

func findOrBuildRIE() (path, skip string, err error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("find the runtime interface emulator: %w", err)
	}
	dir := filepath.Join(cache, "barrage-test", "aws-lambda-rie-"+RIEVersion)
	path = filepath.Join(dir, "aws-lambda-rie")
	if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
		return path, "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create the emulator's cache directory: %w", err)
	}
	staging, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		return "", "", fmt.Errorf("create the emulator's staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	ctx, cancel := context.WithTimeout(context.Background(), rieBuildTimeout)
	defer cancel()
	module := RIEModule + "@" + RIEVersion
	// Outside any module, so that this repository's go.mod plays no part.
	env := append(os.Environ(), "GOBIN="+staging, "GOWORK=off")
	download := exec.CommandContext(ctx, "go", "mod", "download", module)
	download.Dir = staging
	download.Env = env
	if output, err := download.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("the runtime interface emulator %s cannot be fetched, so the Lambda tests cannot run: %v\n%s", module, err, output), nil
	}
	pkg := RIEModule + "/cmd/aws-lambda-rie@" + RIEVersion
	install := exec.CommandContext(ctx, "go", "install", pkg)
	install.Dir = staging
	install.Env = env
	if output, err := install.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go install %s failed: %v\n%s", pkg, err, output)
	}
	if err := os.Rename(filepath.Join(staging, "aws-lambda-rie"), path); err != nil {
		return "", "", fmt.Errorf("move the emulator into %s: %w", dir, err)
	}
	return path, "", nil
}

// LambdaBootstrap builds cmd/worker as a Lambda bootstrap, with the tag
// lambda.norpc as for the provided.al2023 runtime, and returns its path. It
// lives beside the binaries of BuildBinaries and is built once per test
// process.
func LambdaBootstrap(t testing.TB) string {
	t.Helper()
	rie.bsOnce.Do(func() {
		rie.bsPath, rie.bsError = buildBootstrap()
	})
	if rie.bsError != nil {
		t.Fatal(rie.bsError)
	}
	return rie.bsPath
}

func buildBootstrap() (string, error) {
	return buildTemp("bootstrap", []string{"-tags", "lambda.norpc"}, "./cmd/worker")
}

// Emulator is a runtime interface emulator process that runs a bootstrap.
type Emulator struct {
	// URL is the emulator's base URL; invocations go to
	// URL + "/2015-03-31/functions/function/invocations".
	URL string
	// Process is the emulator, whose output holds the function's log.
	Process *Process
}

// StartEmulator runs the emulator at path with bootstrap as the function,
// on free loopback ports, with a function timeout of timeout (whole
// seconds). env is added to the emulator's environment, which the function
// inherits. It returns once the emulator accepts connections; the process
// is killed when the test ends.
func StartEmulator(t testing.TB, path, bootstrap string, timeout time.Duration, env ...string) *Emulator {
	t.Helper()
	apiPort, invokePort := freePort(t), freePort(t)
	seconds := strconv.Itoa(int(timeout / time.Second))
	env = append([]string{"AWS_LAMBDA_FUNCTION_TIMEOUT=" + seconds}, env...)
	p := StartProcessWithEnv(t, env, path,
		"--runtime-api-address", "127.0.0.1:"+apiPort,
		"--runtime-interface-emulator-address", "127.0.0.1:"+invokePort,
		bootstrap)
	addr := "127.0.0.1:" + invokePort
	Eventually(t, 10*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return p.Exited()
		}
		conn.Close()
		return true
	}, "the emulator listens on %s", addr)
	if p.Exited() {
		t.Fatalf("the emulator exited at start:\n%s%s", p.Stdout(), p.Stderr())
	}
	return &Emulator{URL: "http://" + addr, Process: p}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// extraDirs are temporary directories that Main removes.
var extraDirs dirList

type dirList struct {
	mu   sync.Mutex
	dirs []string
}

func (d *dirList) add(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dirs = append(d.dirs, dir)
}

func (d *dirList) removeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dir := range d.dirs {
		os.RemoveAll(dir)
	}
	d.dirs = nil
}
