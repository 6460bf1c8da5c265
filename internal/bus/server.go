package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultListen is the address of the embedded server when none is given.
const DefaultListen = "127.0.0.1:4222"

// maxPayload is the largest message the embedded server accepts. Reports of
// plans with hundreds of tasks pass the NATS default of 1 MiB.
const maxPayload = 8 << 20

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	ns       *server.Server
	storeDir string
	ownStore bool
}

// ServerConfig sets up an embedded server. The zero value listens on
// DefaultListen and keeps JetStream data in a temporary directory that
// Shutdown removes.
type ServerConfig struct {
	// Listen is HOST:PORT; port 0 picks a free port.
	Listen string
	// StoreDir keeps JetStream data; empty means a temporary directory.
	StoreDir string
	// User and Password, or Token, are what clients must present to
	// connect; when all are empty, clients connect without credentials.
	User     string
	Password string
	Token    string
}

// ErrListen is returned by StartServer when the address cannot be bound,
// for example because another process uses the port.
var ErrListen = errors.New("cannot listen on")

// ParseListen checks a HOST:PORT listen address.
func ParseListen(listen string) error {
	_, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: %w (use HOST:PORT, such as 127.0.0.1:4222)", listen, err)
	}
	if port, err := strconv.Atoi(portText); err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("invalid listen port %q: use a number from 0 to 65535", portText)
	}
	return nil
}

// StartServer starts an embedded NATS server with JetStream and waits until
// it accepts connections. The caller must call Shutdown.
func StartServer(cfg ServerConfig) (*Server, error) {
	listen := cfg.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("invalid listen address %q: %w (use HOST:PORT, such as 127.0.0.1:4222)", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("invalid listen port %q: use a number from 0 to 65535", portText)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// Binding first gives a precise error at once, such as "address
		// already in use", where the server would only time out.
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w; pick another address with --listen", ErrListen, listen, err)
		}
		ln.Close()
	}

	s := &Server{storeDir: cfg.StoreDir}
	if s.storeDir == "" {
		dir, err := os.MkdirTemp("", "barrage-nats-")
		if err != nil {
			return nil, fmt.Errorf("create jetstream directory: %w", err)
		}
		s.storeDir, s.ownStore = dir, true
	}

	opts := &server.Options{
		ServerName: "barrage",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   s.storeDir,
		MaxPayload: maxPayload,
		NoSigs:     true,
		NoLog:      true,

		Username:      cfg.User,
		Password:      cfg.Password,
		Authorization: cfg.Token,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.removeStore()
		return nil, fmt.Errorf("start embedded nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.removeStore()
		return nil, fmt.Errorf("embedded nats server did not start on %s within 10s", listen)
	}
	s.ns = ns
	return s, nil
}

// URL returns the address clients dial, such as nats://127.0.0.1:4222.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Shutdown stops the server, waits for it and removes a temporary store.
// It is safe to call more than once.
func (s *Server) Shutdown() {
	if s == nil || s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.removeStore()
}

func (s *Server) removeStore() {
	if s.ownStore {
		os.RemoveAll(s.storeDir)
		s.ownStore = false
	}
}
