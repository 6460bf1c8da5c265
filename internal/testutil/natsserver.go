package testutil

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerBuild holds the nats-server binary once NATSServerBinary has
// built it.
var natsServerBuild struct {
	once sync.Once
	path string
	err  error
}

// serverStartTimeout bounds how long a nats-server process may take to
// accept clients, and a cluster to elect its JetStream leader.
const serverStartTimeout = 30 * time.Second

// NATSServerBinary returns the path of a nats-server binary built from the
// version of github.com/nats-io/nats-server/v2 in go.mod. The first call
// in a test process builds it into a temporary directory that Main
// removes.
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	natsServerBuild.once.Do(func() {
		natsServerBuild.path, natsServerBuild.err = buildNATSServer()
	})
	if natsServerBuild.err != nil {
		t.Fatal(natsServerBuild.err)
	}
	return natsServerBuild.path
}

func buildNATSServer() (string, error) {
	return buildTemp("nats-server", nil, "github.com/nats-io/nats-server/v2")
}

// NATSServer is a nats-server process with JetStream that listens on
// 127.0.0.1. Its methods are not safe for concurrent use.
type NATSServer struct {
	// Name is the server's name, unique in its cluster.
	Name string
	// StoreDir is the directory of JetStream's data, kept across restarts.
	StoreDir string
	// Port is the client port, the same after Restart.
	Port int

	t    testing.TB
	args []string
	proc *Process
}

// StartNATSServer starts a nats-server with JetStream on a free loopback
// port, with its store in a new temporary directory of the test, and waits
// until it accepts clients. args are added to its command line. It is
// killed when the test ends.
func StartNATSServer(t testing.TB, args ...string) *NATSServer {
	t.Helper()
	s := &NATSServer{Name: "n1", StoreDir: t.TempDir(), t: t, args: args}
	s.start(-1)
	return s
}

// StartNATSCluster starts n nats-server processes with JetStream, joined
// by routes into one cluster, and waits until its JetStream has a leader.
// They are killed when the test ends.
func StartNATSCluster(t testing.TB, n int) []*NATSServer {
	t.Helper()
	ports := FreePorts(t, n)
	routes := make([]string, n)
	for i, port := range ports {
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(port)
	}
	servers := make([]*NATSServer, n)
	for i := range servers {
		servers[i] = &NATSServer{
			Name:     "n" + strconv.Itoa(i+1),
			StoreDir: t.TempDir(),
			t:        t,
			args: []string{
				"--cluster_name", "barrage-test",
				"--cluster", routes[i],
				"--routes", strings.Join(routes, ","),
			},
		}
		servers[i].start(-1)
	}
	waitForJetStream(t, ClusterURL(servers))
	return servers
}

// ClusterURL returns the comma-separated URLs of servers, for --nats.
func ClusterURL(servers []*NATSServer) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// URL returns the server's client URL, such as nats://127.0.0.1:4222.
func (s *NATSServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.Port) }

// Kill sends SIGKILL to the server and waits until it exited.
func (s *NATSServer) Kill() {
	s.t.Helper()
	s.proc.Kill()
	if _, err := s.proc.Wait(killWait); err != nil {
		s.t.Fatal(err)
	}
}

// Restart starts the server again after Kill, on the same port and with
// the same store, and waits until it accepts clients.
func (s *NATSServer) Restart() {
	s.t.Helper()
	s.start(s.Port)
}

// Log returns what the server wrote to its standard error so far.
func (s *NATSServer) Log() string { return s.proc.Stderr() }

// start runs the server on port, or on a free port when port is -1, and
// waits until it accepts clients.
func (s *NATSServer) start(port int) {
	t := s.t
	t.Helper()
	portsDir, err := os.MkdirTemp(t.TempDir(), "ports-")
	if err != nil {
		t.Fatalf("create ports directory: %v", err)
	}
	args := append([]string{
		"--addr", "127.0.0.1", "--port", strconv.Itoa(port),
		"--jetstream", "--store_dir", s.StoreDir,
		"--server_name", s.Name,
		"--ports_file_dir", portsDir,
	}, s.args...)
	s.proc = StartProcess(t, NATSServerBinary(t), args...)

	deadline := time.Now().Add(serverStartTimeout)
	for {
		if s.Port = readClientPort(portsDir); s.Port != 0 {
			return
		}
		if s.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("nats-server %s did not start within %s:\n%s", s.Name, serverStartTimeout, s.proc.Stderr())
		}
		time.Sleep(pollInterval)
	}
}

// readClientPort returns the client port that nats-server wrote to the
// ports file in dir, or 0 when there is none yet.
func readClientPort(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var ports struct {
			Nats []string `json:"nats"`
		}
		if json.Unmarshal(data, &ports) != nil || len(ports.Nats) == 0 {
			continue
		}
		_, portText, err := net.SplitHostPort(strings.TrimPrefix(ports.Nats[0], "nats://"))
		if err != nil {
			continue
		}
		if port, err := strconv.Atoi(portText); err == nil {
			return port
		}
	}
	return 0
}

// waitForJetStream waits until the servers at url respond to JetStream
// requests, which a cluster does once it has elected its leader.
func waitForJetStream(t testing.TB, url string) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream at %s did not respond within %s: %v", url, serverStartTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago, for servers that must know each other's ports before they start.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	listeners := make([]net.Listener, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		listeners[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range listeners {
		ln.Close()
	}
	return ports
}
