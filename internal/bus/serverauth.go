package bus

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// GeneratedUser is the user name of the credentials that the coordinator
// generates for an embedded server that listens beyond loopback.
const GeneratedUser = "barrage"

// IsLoopback reports whether a HOST:PORT listen address accepts
// connections from this machine only: its host is a loopback IP address or
// "localhost". An empty host means every interface, so it is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GeneratePassword returns a random password of 26 capital letters and
// digits, 130 random bits, which needs no quoting in a shell or a URL.
func GeneratePassword() string {
	return rand.Text()
}

// WriteCredentialsFile writes user and password to path as the variables
// NATS_USER and NATS_PASSWORD, which workers read from their environment,
// in a file that only its owner may read (mode 0600). It replaces a file
// that exists, and creates the directory with mode 0700 if needed.
func WriteCredentialsFile(path, user, password, about string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	// CreateTemp creates the file with mode 0600, so the password is never
	// in a file that others may read, not even briefly.
	f, err := os.CreateTemp(dir, ".barrage-credentials-")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	content := fmt.Sprintf("# %s\n# Load into a shell with: set -a; . %s; set +a\nNATS_USER=%s\nNATS_PASSWORD=%s\n",
		about, path, user, password)
	_, err = f.WriteString(content)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write credentials to %s: %w", path, err)
	}
	return nil
}
