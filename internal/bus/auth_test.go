package bus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/barrage-load/barrage/internal/bus"
)

// failFast bounds how long Dial may take to give up on credentials that
// the server rejects; its context allows far more.
const failFast = 10 * time.Second

// startAuthServer starts an in-process server with JetStream on a free
// loopback port, configured by configure, and returns its client URL.
func startAuthServer(t *testing.T, configure func(*server.Options)) string {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true,
		NoLog:     true,
	}
	configure(opts)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	return ns.ClientURL()
}

// dial connects with creds and returns the error, closing a connection
// that succeeded. It fails the test when Dial took longer than failFast.
func dial(t *testing.T, url string, creds bus.Credentials) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	b, err := bus.Dial(ctx, bus.Config{URL: url, Name: "auth-test", Credentials: creds})
	if took := time.Since(began); took > failFast {
		t.Errorf("Dial took %s, want under %s", took.Round(time.Millisecond), failFast)
	}
	if err == nil {
		if _, err := b.KV.Put(ctx, "runs.auth-test", []byte("x")); err != nil {
			t.Errorf("put after connecting: %v", err)
		}
		b.Close()
	}
	return err
}

func TestDialWithUserAndPassword(t *testing.T) {
	url := startAuthServer(t, func(o *server.Options) { o.Username, o.Password = "alice", "s3cret-pw" })

	err := dial(t, url, bus.Credentials{})
	if !errors.Is(err, bus.ErrCredentials) {
		t.Fatalf("without credentials: got %v, want ErrCredentials", err)
	}
	for _, want := range []string{"requires credentials", "--user", "NATS_USER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	err = dial(t, url, bus.Credentials{User: "alice", Password: "wrong-pw"})
	if !errors.Is(err, bus.ErrCredentials) {
		t.Fatalf("with a wrong password: got %v, want ErrCredentials", err)
	}
	if !strings.Contains(err.Error(), "user alice") || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("error %q should name user alice and not the password", err)
	}

	if err := dial(t, url, bus.Credentials{User: "alice", Password: "s3cret-pw"}); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	// Credentials in the URL work too, and errors never show them.
	withUserinfo := strings.Replace(url, "nats://", "nats://alice:s3cret-pw@", 1)
	if err := dial(t, withUserinfo, bus.Credentials{}); err != nil {
		t.Fatalf("with credentials in the URL: %v", err)
	}
	wrongUserinfo := strings.Replace(url, "nats://", "nats://alice:wrong-pw@", 1)
	err = dial(t, wrongUserinfo, bus.Credentials{})
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("with a wrong password in the URL: got %v, want an error without the password", err)
	}
}

func TestDialWithToken(t *testing.T) {
	url := startAuthServer(t, func(o *server.Options) { o.Authorization = "t0ken-value" })

	if err := dial(t, url, bus.Credentials{Token: "bad"}); !errors.Is(err, bus.ErrCredentials) {
		t.Fatalf("with a wrong token: got %v, want ErrCredentials", err)
	}
	if err := dial(t, url, bus.Credentials{Token: "t0ken-value"}); err != nil {
		t.Fatalf("with --token: %v", err)
	}
	// As with the nats command, a user without a password is a token.
	if err := dial(t, url, bus.Credentials{User: "t0ken-value"}); err != nil {
		t.Fatalf("with --user alone: %v", err)
	}
}

func TestDialWithNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	public, _ := user.PublicKey()
	seed, _ := user.Seed()
	url := startAuthServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: public}} })

	path := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dial(t, url, bus.Credentials{NKeyFile: path}); err != nil {
		t.Fatalf("with --nkey: %v", err)
	}

	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherPath := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherPath, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dial(t, url, bus.Credentials{NKeyFile: otherPath}); !errors.Is(err, bus.ErrCredentials) {
		t.Fatalf("with an unknown nkey: got %v, want ErrCredentials", err)
	}
}

// A .creds file holds a user JWT signed by an account that an operator
// signed, for servers in operator mode.
func TestDialWithCredsFile(t *testing.T) {
	operator, _ := nkeys.CreateOperator()
	operatorPub, _ := operator.PublicKey()
	operatorClaims := jwt.NewOperatorClaims(operatorPub)
	operatorJWT, err := operatorClaims.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	decodedOperator, err := jwt.DecodeOperatorClaims(operatorJWT)
	if err != nil {
		t.Fatal(err)
	}

	account, _ := nkeys.CreateAccount()
	accountPub, _ := account.PublicKey()
	accountClaims := jwt.NewAccountClaims(accountPub)
	accountClaims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accountJWT, err := accountClaims.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}

	system, _ := nkeys.CreateAccount()
	systemPub, _ := system.PublicKey()
	systemJWT, err := jwt.NewAccountClaims(systemPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}

	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	userSeed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, userSeed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	url := startAuthServer(t, func(o *server.Options) {
		resolver := &server.MemAccResolver{}
		resolver.Store(accountPub, accountJWT)
		resolver.Store(systemPub, systemJWT)
		o.TrustedOperators = []*jwt.OperatorClaims{decodedOperator}
		o.AccountResolver = resolver
		o.SystemAccount = systemPub
	})

	if err := dial(t, url, bus.Credentials{}); !errors.Is(err, bus.ErrCredentials) {
		t.Fatalf("without credentials: got %v, want ErrCredentials", err)
	}
	if err := dial(t, url, bus.Credentials{CredsFile: path}); err != nil {
		t.Fatalf("with --creds: %v", err)
	}
}

func TestDialWithTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir)
	serverCert, serverKey := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)

	for _, first := range []bool{false, true} {
		name := "greeting first"
		if first {
			name = "handshake first"
		}
		t.Run(name, func(t *testing.T) {
			url := startAuthServer(t, func(o *server.Options) {
				config, err := server.GenTLSConfig(&server.TLSConfigOpts{
					CertFile: serverCert, KeyFile: serverKey, CaFile: ca.certFile, Verify: true,
				})
				if err != nil {
					t.Fatal(err)
				}
				o.TLSConfig, o.TLS, o.TLSVerify = config, true, true
				o.TLSHandshakeFirst = first
			})
			if !first {
				// A client that starts TLS at once gets the server's
				// greeting as its first record.
				creds := bus.Credentials{TLSCA: ca.certFile, TLSCert: clientCert, TLSKey: clientKey, TLSFirst: true}
				if err := dial(t, url, creds); !errors.Is(err, bus.ErrTLS) {
					t.Fatalf("with --tlsfirst: got %v, want ErrTLS", err)
				}

				err := dial(t, url, bus.Credentials{})
				if !errors.Is(err, bus.ErrTLS) || !strings.Contains(err.Error(), "--tlsca") {
					t.Fatalf("without a CA: got %v, want ErrTLS naming --tlsca", err)
				}
				err = dial(t, url, bus.Credentials{TLSCA: ca.certFile})
				if !errors.Is(err, bus.ErrTLS) {
					t.Fatalf("without a client certificate: got %v, want ErrTLS", err)
				}
			}
			creds := bus.Credentials{TLSCA: ca.certFile, TLSCert: clientCert, TLSKey: clientKey, TLSFirst: first}
			if err := dial(t, url, creds); err != nil {
				t.Fatalf("with CA and client certificate: %v", err)
			}
		})
	}
}

func TestCredentialsOptionsRejectsBadCombinations(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		creds bus.Credentials
		want  string
	}{
		{"a password needs a user", bus.Credentials{Password: "x"}, "--password needs --user"},
		{"a user and a token conflict", bus.Credentials{User: "a", Password: "b", Token: "c"}, "only one of"},
		{"a token and creds conflict", bus.Credentials{Token: "c", CredsFile: missing}, "only one of"},
		{"a certificate needs its key", bus.Credentials{TLSCert: missing}, "--tlscert and --tlskey"},
		{"a missing nkey file is named", bus.Credentials{NKeyFile: missing}, "--nkey " + missing},
		{"a missing creds file is named", bus.Credentials{CredsFile: missing}, "--creds"},
		{"a missing CA file is named", bus.Credentials{TLSCA: missing}, "--tlsca"},
		{"a CA file without certificates is named", bus.Credentials{TLSCA: notPEM}, "no PEM certificate"},
		{"a missing client certificate is named", bus.Credentials{TLSCert: missing, TLSKey: missing}, "--tlscert " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.creds.Options()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Options() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCredentialsStringHidesSecrets(t *testing.T) {
	for _, c := range []bus.Credentials{
		{User: "alice", Password: "pw-secret"},
		{Token: "tok-secret"},
		{User: "tok-secret"},
	} {
		if s := c.String(); strings.Contains(s, "secret") {
			t.Errorf("String() = %q shows a secret", s)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://alice:pw@127.0.0.1:4222", "nats://alice:xxxxx@127.0.0.1:4222"},
		{"nats://tok@127.0.0.1:4222", "nats://xxxxx@127.0.0.1:4222"},
		{"tls://alice:p%40ss@host:4222", "tls://alice:xxxxx@host:4222"},
		{"alice:pw@host:4222", "alice:xxxxx@host:4222"},
		{"nats://a:pw@h1:4222,nats://h2:4222, nats://tok@h3:4222",
			"nats://a:xxxxx@h1:4222,nats://h2:4222,nats://xxxxx@h3:4222"},
	}
	for _, tt := range tests {
		if got := bus.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		listen string
		want   bool
	}{
		{"127.0.0.1:4222", true},
		{"127.1.2.3:0", true},
		{"[::1]:4222", true},
		{"localhost:4222", true},
		{"0.0.0.0:4222", false},
		{":4222", false},
		{"[::]:4222", false},
		{"10.0.0.5:4222", false},
		{"nats.internal:4222", false},
	}
	for _, tt := range tests {
		if got := bus.IsLoopback(tt.listen); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.listen, got, tt.want)
		}
	}
}

func TestWriteCredentialsFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "nats.env")
	if err := bus.WriteCredentialsFile(path, "barrage", "PW123", "test"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %o, want 600", mode)
	}
	data, _ := os.ReadFile(path)
	for _, line := range []string{"NATS_USER=barrage\n", "NATS_PASSWORD=PW123\n"} {
		if !strings.Contains(string(data), line) {
			t.Errorf("file lacks %q:\n%s", line, data)
		}
	}
}

// testCA is a certificate authority for tests, with its files in a
// directory.
type testCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
}

func newCA(t *testing.T, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "barrage test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, certFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, ca.certFile, "CERTIFICATE", der)
	return ca
}

// issue creates a certificate for 127.0.0.1 signed by the CA and returns
// the paths of the certificate and its key.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
