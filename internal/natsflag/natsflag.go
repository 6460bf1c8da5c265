// Package natsflag defines the NATS credential and TLS flags that the
// coordinator and the worker share. Flags and environment variables have
// the names that the nats command (natscli v0.5.0) gives them.
package natsflag

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/bus"
)

// category groups the flags in --help.
const category = "NATS credentials"

// names are the flags that Flags returns.
var names = []string{"user", "password", "token", "nkey", "creds", "tlscert", "tlskey", "tlsca", "tlsfirst"}

// Flags returns the flags that set NATS credentials and TLS.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "user", EnvVars: []string{"NATS_USER"}, Category: category,
			Usage: "NATS user name; without --password it is sent as a token"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"NATS_PASSWORD"}, Category: category,
			Usage: "password of --user; the variable keeps it out of the process list"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"NATS_TOKEN"}, Category: category,
			Usage: "NATS authentication token"},
		&cli.StringFlag{Name: "nkey", EnvVars: []string{"NATS_NKEY"}, Category: category,
			Usage: "`FILE` that contains a user's NKey seed"},
		&cli.StringFlag{Name: "creds", EnvVars: []string{"NATS_CREDS"}, Category: category,
			Usage: "user credentials `FILE` (JWT and NKey seed) of a server in operator mode"},
		&cli.StringFlag{Name: "tlscert", EnvVars: []string{"NATS_CERT"}, Category: category,
			Usage: "client certificate `FILE` (PEM) for servers that verify clients"},
		&cli.StringFlag{Name: "tlskey", EnvVars: []string{"NATS_KEY"}, Category: category,
			Usage: "private key `FILE` (PEM) of --tlscert"},
		&cli.StringFlag{Name: "tlsca", EnvVars: []string{"NATS_CA"}, Category: category,
			Usage: "CA certificates `FILE` (PEM) that verify the server; default: the system's"},
		&cli.BoolFlag{Name: "tlsfirst", Category: category,
			Usage: "start TLS before the server's greeting, for servers with handshake_first"},
	}
}

// Credentials returns the credentials that the flags of Flags set in c.
func Credentials(c *cli.Context) bus.Credentials {
	return bus.Credentials{
		User:      c.String("user"),
		Password:  c.String("password"),
		Token:     c.String("token"),
		NKeyFile:  c.String("nkey"),
		CredsFile: c.String("creds"),
		TLSCert:   c.String("tlscert"),
		TLSKey:    c.String("tlskey"),
		TLSCA:     c.String("tlsca"),
		TLSFirst:  c.Bool("tlsfirst"),
	}
}

// SetNames returns the flags of Flags that c sets, on the command line or
// through their variables.
func SetNames(c *cli.Context) []string {
	var set []string
	for _, name := range names {
		if c.IsSet(name) {
			set = append(set, "--"+name)
		}
	}
	return set
}

// repeatEvery is how often one asynchronous error message is logged when
// the server sends it again and again.
const repeatEvery = time.Minute

// LogEvents returns nats.go options that log disconnects, reconnects and
// errors that the server reports apart from any call, such as permission
// violations. Each distinct error is logged at most once a minute.
func LogEvents(log *slog.Logger) []nats.Option {
	var mu sync.Mutex
	logged := make(map[string]time.Time)
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil && !nc.IsClosed() {
				log.Warn("disconnected from nats; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to nats", "url", bus.RedactURL(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			mu.Lock()
			last, seen := logged[err.Error()]
			repeated := seen && time.Since(last) < repeatEvery
			if !repeated {
				logged[err.Error()] = time.Now()
			}
			mu.Unlock()
			if repeated {
				return
			}
			if sub != nil {
				log.Warn("nats error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("nats error", "err", err)
		}),
	}
}
