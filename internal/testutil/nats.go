package testutil

import (
	"testing"

	"github.com/barrage-load/barrage/internal/bus"
)

// StartNATS starts an embedded NATS server with JetStream on a free
// loopback port. The server shuts down when the test ends.
func StartNATS(t testing.TB) *bus.Server {
	t.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
