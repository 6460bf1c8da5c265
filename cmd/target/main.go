// Command target is a small HTTP server to aim demo load tests at. It
// listens on loopback, counts the requests it receives per path, and prints
// the counts when it stops, so a run's totals can be checked against it.
//
//	GET /               a short text
//	GET /slow?ms=N      the same after N milliseconds (default 100)
//	GET /status/CODE    an empty response with that status
//	POST /login         {"user": NAME, "password": P} -> {"token": T}, also in X-Token; 400 without both
//	GET /profile        {"user": NAME} with "Authorization: Bearer T", 401 otherwise
//	GET /counts         the counts so far, as JSON
//
// Tokens are signed with a key drawn at start, so the target keeps no
// state per login and a token stays valid until it stops.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HOST:PORT to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "target: listen on %s: %v (pick a free address with --listen)\n", *listen, err)
		os.Exit(1)
	}
	c := &counter{paths: make(map[string]int64), key: make([]byte, 32)}
	rand.Read(c.key)
	srv := &http.Server{Handler: c.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve failed", "err", err)
		}
	}()
	log.Info("target listening", "url", "http://"+ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	total, lines := c.report()
	log.Info("target stopped", "requests", total)
	for _, line := range lines {
		fmt.Fprintln(os.Stderr, line)
	}
}

// counter counts requests per path and serves the endpoints. It is safe
// for concurrent use.
type counter struct {
	mu    sync.Mutex
	paths map[string]int64
	key   []byte // signs login tokens
}

func (c *counter) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		data, _ := json.Marshal(c.paths)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		c.add(r.URL.Path)
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			ms = 100
		}
		time.Sleep(time.Duration(min(ms, 60000)) * time.Millisecond)
		fmt.Fprintln(w, "slow hello")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		c.add(r.URL.Path)
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("GET /profile", c.profile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.add(r.URL.Path)
		fmt.Fprintln(w, "hello from the barrage demo target")
	})
	return mux
}

// login issues a token to any user that sends a name and a password.
func (c *counter) login(w http.ResponseWriter, r *http.Request) {
	c.add(r.URL.Path)
	var creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&creds)
	if err != nil || creds.User == "" || creds.Password == "" || strings.Contains(creds.User, ".") {
		http.Error(w, `send {"user": NAME, "password": PASSWORD} with a NAME without dots`, http.StatusBadRequest)
		return
	}
	token := creds.User + "." + c.sign(creds.User)
	w.Header().Set("X-Token", token)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"token": token})
}

// profile returns the user of a valid bearer token.
func (c *counter) profile(w http.ResponseWriter, r *http.Request) {
	c.add(r.URL.Path)
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(c.sign(user))) {
		http.Error(w, "missing or invalid bearer token; log in at POST /login", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"user": user})
}

// sign returns the signature of user's token.
func (c *counter) sign(user string) string {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(user))
	return hex.EncodeToString(mac.Sum(nil))
}

func (c *counter) add(path string) {
	c.mu.Lock()
	c.paths[path]++
	c.mu.Unlock()
}

// report returns the total and one line per path, most requested first.
func (c *counter) report() (int64, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	paths := make([]string, 0, len(c.paths))
	var total int64
	for p, n := range c.paths {
		paths = append(paths, p)
		total += n
	}
	sort.Slice(paths, func(i, j int) bool { return c.paths[paths[i]] > c.paths[paths[j]] })
	lines := make([]string, len(paths))
	for i, p := range paths {
		lines[i] = fmt.Sprintf("  %10d  %s", c.paths[p], p)
	}
	return total, lines
}
