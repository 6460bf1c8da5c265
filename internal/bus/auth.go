package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Credentials identify a client to a NATS server and set how the client
// verifies the server over TLS. The zero value connects without
// credentials and verifies TLS servers with the system's CA pool.
//
// String names the method without its secrets, so a Credentials value may
// be logged.
type Credentials struct {
	// User and Password authenticate with a user name and password. A User
	// without a Password is sent as a token, as the nats command does.
	User     string
	Password string
	// Token authenticates with a token.
	Token string
	// NKeyFile is the path of a file that contains a user's NKey seed.
	NKeyFile string
	// CredsFile is the path of a .creds file: a user JWT and its NKey seed,
	// for servers in operator mode.
	CredsFile string
	// TLSCert and TLSKey are the PEM files of the client certificate and
	// its key, for servers that verify clients. Set both or neither.
	TLSCert string
	TLSKey  string
	// TLSCA is a PEM file of the certificate authorities that verify the
	// server; empty means the system's CA pool.
	TLSCA string
	// TLSFirst starts the TLS handshake before the server's greeting, for
	// servers configured with handshake_first.
	TLSFirst bool
}

// ErrCredentials wraps the errors of a server that rejected a client's
// credentials, or of a client that has none for a server that needs them.
var ErrCredentials = errors.New("nats rejected the credentials")

// ErrTLS wraps the errors of a TLS handshake with a NATS server that
// failed because of certificates or TLS settings.
var ErrTLS = errors.New("tls with nats failed")

// Empty reports whether c sets nothing.
func (c Credentials) Empty() bool { return c == Credentials{} }

// String names the authentication method and the files c uses, never a
// password or token, such as "user alice" or "creds /etc/w.creds".
func (c Credentials) String() string {
	var parts []string
	switch {
	case c.User != "" && c.Password != "":
		parts = append(parts, "user "+c.User)
	case c.User != "" || c.Token != "":
		parts = append(parts, "token")
	case c.NKeyFile != "":
		parts = append(parts, "nkey "+c.NKeyFile)
	case c.CredsFile != "":
		parts = append(parts, "creds "+c.CredsFile)
	}
	if c.TLSCert != "" {
		parts = append(parts, "client certificate "+c.TLSCert)
	}
	if c.TLSCA != "" {
		parts = append(parts, "CA "+c.TLSCA)
	}
	if c.TLSFirst {
		parts = append(parts, "TLS first")
	}
	if len(parts) == 0 {
		return "no credentials"
	}
	return strings.Join(parts, ", ")
}

// Options checks c and returns the nats.go options that apply it. It
// reads the files c names, so that a missing or invalid file is reported
// here, with its flag, rather than as a failed connection.
func (c Credentials) Options() ([]nats.Option, error) {
	methods := 0
	for _, set := range []bool{c.User != "", c.Token != "", c.NKeyFile != "", c.CredsFile != ""} {
		if set {
			methods++
		}
	}
	switch {
	case c.Password != "" && c.User == "":
		return nil, errors.New("--password needs --user: pass the user name too")
	case methods > 1:
		return nil, errors.New("conflicting nats credentials: use only one of --user (with --password), --token, --nkey and --creds")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return nil, errors.New("--tlscert and --tlskey go together: pass the client certificate and its key")
	}

	var opts []nats.Option
	switch {
	case c.User != "" && c.Password != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.User != "":
		opts = append(opts, nats.Token(c.User))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read --nkey %s: %w (it must contain a user seed, which starts with SU)", c.NKeyFile, err)
		}
		opts = append(opts, opt)
	case c.CredsFile != "":
		if err := readable("creds", c.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}

	if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return nil, fmt.Errorf("read --tlscert %s and --tlskey %s: %w", c.TLSCert, c.TLSKey, err)
		}
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		data, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("read --tlsca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("read --tlsca %s: no PEM certificate in it", c.TLSCA)
		}
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	return opts, nil
}

func readable(flag, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read --%s: %w", flag, err)
	}
	return f.Close()
}

// explainConnectError returns err with advice when it is one that retrying
// cannot fix: rejected or missing credentials, or a failed TLS handshake.
// It returns nil for other errors, such as a server that is not running.
func explainConnectError(err error, servers string, creds Credentials) error {
	where := RedactURL(servers)
	switch {
	case isCredentialsError(err) && creds.Empty() && !hasUserInfo(servers):
		return fmt.Errorf("%w: nats at %s requires credentials (%w); pass them with --user and --password, --token, --nkey or --creds, or set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_NKEY or NATS_CREDS", ErrCredentials, where, err)
	case isCredentialsError(err):
		return fmt.Errorf("%w: nats at %s rejected %s (%w); check them against the server's configuration", ErrCredentials, where, creds, err)
	case isTLSError(err):
		return fmt.Errorf("%w: with nats at %s (%w); pass the server's CA with --tlsca, and a client certificate with --tlscert and --tlskey when the server verifies clients", ErrTLS, where, err)
	}
	return nil
}

func isCredentialsError(err error) bool {
	for _, target := range []error{
		nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked,
		nats.ErrAccountAuthExpired, nats.ErrNkeysNotSupported,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func isTLSError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		alert            tls.AlertError
		record           tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted),
		errors.Is(err, nats.ErrClientCertOrRootCAsRequired):
		return true
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verification), errors.As(err, &alert), errors.As(err, &record):
		return true
	}
	// The server's alert reaches the client as text after the handshake,
	// for example when it requires a client certificate.
	return strings.Contains(err.Error(), "remote error: tls:")
}

// RedactURL returns a NATS server URL, or a comma-separated list of them,
// with the password or token of each URL replaced by "xxxxx", so that it
// can be logged: nats://alice:xxxxx@host:4222 or nats://xxxxx@host:4222.
func RedactURL(servers string) string {
	parts := strings.Split(servers, ",")
	for i, part := range parts {
		parts[i] = redactOne(strings.TrimSpace(part))
	}
	return strings.Join(parts, ",")
}

func redactOne(server string) string {
	at := strings.LastIndex(server, "@")
	if at < 0 {
		return server
	}
	start := 0
	if scheme := strings.Index(server, "://"); scheme >= 0 && scheme < at {
		start = scheme + len("://")
	}
	userinfo := server[start:at]
	if u, err := url.Parse(server); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return server[:start] + u.User.Username() + ":xxxxx" + server[at:]
		}
	} else if colon := strings.Index(userinfo, ":"); colon >= 0 {
		return server[:start] + userinfo[:colon] + ":xxxxx" + server[at:]
	}
	// A user name alone is how a URL carries a token.
	return server[:start] + "xxxxx" + server[at:]
}

// hasUserInfo reports whether any URL in servers carries credentials.
func hasUserInfo(servers string) bool {
	for part := range strings.SplitSeq(servers, ",") {
		if strings.Contains(part, "@") {
			return true
		}
	}
	return false
}
