package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/natsflag"
)

// embeddedCategory groups the flags of the embedded server in --help.
const embeddedCategory = "embedded NATS server"

// listenFlags are the flags that only the embedded server uses.
var listenFlags = []string{"listen-user", "listen-password", "listen-token", "listen-credentials"}

// natsFlags returns the flags of start that set how to reach NATS, beside
// --nats and --listen.
func natsFlags() []cli.Flag {
	return append(natsflag.Flags(),
		&cli.IntFlag{Name: "replicas", DefaultText: "3 in a cluster of three or more servers, else 1",
			Usage: "copies of the bucket and the report stream that a NATS cluster keeps, 1 to 5; changes existing ones"},
		&cli.StringFlag{Name: "listen-user", EnvVars: []string{"BARRAGE_LISTEN_USER"}, Category: embeddedCategory,
			Usage: "user name that clients of the embedded server must present, with --listen-password"},
		&cli.StringFlag{Name: "listen-password", EnvVars: []string{"BARRAGE_LISTEN_PASSWORD"}, Category: embeddedCategory,
			Usage: "password of --listen-user"},
		&cli.StringFlag{Name: "listen-token", EnvVars: []string{"BARRAGE_LISTEN_TOKEN"}, Category: embeddedCategory,
			Usage: "token that clients of the embedded server must present"},
		&cli.StringFlag{Name: "listen-credentials", Category: embeddedCategory,
			DefaultText: "nats-RUN.env in the barrage directory of the user's configuration directory",
			Usage:       "generate a password for the embedded server and write it to `FILE` (mode 0600); done by default when --listen is not a loopback address"},
	)
}

// checkNATSFlags returns an error for NATS flags that do not fit together,
// before anything starts.
func checkNATSFlags(c *cli.Context) error {
	if n := c.Int("replicas"); n < 0 || n > bus.MaxReplicas {
		return fmt.Errorf("invalid --replicas %d: use 1 to %d", n, bus.MaxReplicas)
	}
	if c.String("nats") != "" {
		for _, name := range listenFlags {
			if c.IsSet(name) {
				return fmt.Errorf("--%s applies to the embedded server, which does not start with --nats; drop one of them", name)
			}
		}
		_, err := natsflag.Credentials(c).Options()
		return err
	}
	switch {
	case c.Int("replicas") > 1:
		return fmt.Errorf("invalid --replicas %d: the embedded server is a single server; use --nats with a cluster for more copies", c.Int("replicas"))
	case c.IsSet("listen-password") && !c.IsSet("listen-user"):
		return errors.New("--listen-password needs --listen-user: pass the user name too")
	case c.IsSet("listen-user") && !c.IsSet("listen-password"):
		return errors.New("--listen-user needs --listen-password, or use --listen-token")
	case c.IsSet("listen-user") && c.IsSet("listen-token"):
		return errors.New("use either --listen-user with --listen-password or --listen-token, not both")
	case c.IsSet("listen-credentials") && (c.IsSet("listen-user") || c.IsSet("listen-token")):
		return errors.New("--listen-credentials receives generated credentials; with --listen-user or --listen-token nothing is generated, so drop it")
	}
	return nil
}

// natsEndpoint is the NATS server of a run and how to connect to it.
type natsEndpoint struct {
	url         string
	credentials bus.Credentials
	server      *bus.Server // the embedded server, or nil
	generated   string      // a credentials file written for this run, or empty
}

// openNATS starts the embedded server, unless --nats names a server. The
// embedded server requires credentials when the flags give some, when
// --listen-credentials is set, and when it listens beyond loopback: then
// it generates a password and writes it to a file. The caller must call
// close. Errors are cli.Exit errors with the exit status.
func openNATS(c *cli.Context, runID string, log *slog.Logger) (*natsEndpoint, error) {
	if url := c.String("nats"); url != "" {
		return &natsEndpoint{url: url, credentials: natsflag.Credentials(c)}, nil
	}
	if set := natsflag.SetNames(c); len(set) > 0 {
		log.Warn("NATS credential flags apply to --nats; the embedded server ignores them and takes --listen-user, --listen-password or --listen-token",
			"flags", set)
	}

	e := &natsEndpoint{}
	listen := c.String("listen")
	cfg := bus.ServerConfig{
		Listen:   listen,
		User:     c.String("listen-user"),
		Password: c.String("listen-password"),
		Token:    c.String("listen-token"),
	}
	if cfg.User == "" && cfg.Token == "" && (c.IsSet("listen-credentials") || !bus.IsLoopback(listen)) {
		path, err := credentialsPath(c, runID)
		if err != nil {
			return nil, cli.Exit(err.Error(), exitInvalid)
		}
		cfg.User, cfg.Password = bus.GeneratedUser, bus.GeneratePassword()
		about := fmt.Sprintf("NATS credentials of the embedded server of run %s, valid while it runs.", runID)
		if err := bus.WriteCredentialsFile(path, cfg.User, cfg.Password, about); err != nil {
			return nil, cli.Exit(fmt.Sprintf("%v; pick another file with --listen-credentials", err), exitInvalid)
		}
		e.generated = path
	}

	srv, err := bus.StartServer(cfg)
	if err != nil {
		e.close()
		if errors.Is(err, bus.ErrListen) {
			return nil, cli.Exit(err.Error(), exitInvalid)
		}
		return nil, cli.Exit(err.Error(), exitFailed)
	}
	e.server, e.url = srv, srv.URL()
	e.credentials = bus.Credentials{User: cfg.User, Password: cfg.Password, Token: cfg.Token}
	log.Info("embedded nats server started", "url", e.url, "credentials", e.credentials.String())
	if e.generated != "" {
		log.Warn("the embedded nats server requires a password; workers find it in the credentials file, which is removed at exit",
			"file", e.generated, "user", cfg.User, "load_with", "set -a; . "+e.generated+"; set +a")
	}
	return e, nil
}

// credentialsPath returns where generated credentials go.
func credentialsPath(c *cli.Context, runID string) (string, error) {
	if path := c.String("listen-credentials"); path != "" {
		return path, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("the embedded server needs a file for its generated password: %w; name one with --listen-credentials", err)
	}
	return filepath.Join(dir, "barrage", "nats-"+runID+".env"), nil
}

// config returns the settings of a connection to the endpoint.
func (e *natsEndpoint) config(name string, replicas int, opts ...nats.Option) bus.Config {
	return bus.Config{URL: e.url, Name: name, Credentials: e.credentials, Replicas: replicas, Options: opts}
}

// close stops the embedded server and removes a generated credentials
// file. It is safe to call twice.
func (e *natsEndpoint) close() {
	e.server.Shutdown()
	e.server = nil
	if e.generated != "" {
		os.Remove(e.generated)
		e.generated = ""
	}
}

// minClusterLease is the default lease when the bucket is replicated. When
// a cluster node that leads the bucket dies, the others elect a new leader
// within 4 to 9 seconds (nats-server 2.15), and no lease can be renewed
// until then.
const minClusterLease = 15 * time.Second

// clusterLease returns the lease to use: lease, or minClusterLease when the
// bucket is replicated and --lease was not given.
func clusterLease(c *cli.Context, b *bus.Bus, lease time.Duration, log *slog.Logger) time.Duration {
	if b.Replicas <= 1 || c.IsSet("lease") || lease >= minClusterLease {
		return lease
	}
	log.Info("the bucket is replicated, so leases last longer than a leader election of the cluster; set --lease to change it",
		"lease", minClusterLease)
	return minClusterLease
}
