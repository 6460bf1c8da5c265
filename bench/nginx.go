//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// targetBody is the body of nginx's response to every request: 6 bytes.
const targetBody = "hello\n"

// targetCore is the core of the target, nginx. The load generators run on
// loadCore.
const (
	targetCore = 1
	loadCore   = 0
)

// nginx is the target of every figure: one nginx process on targetCore,
// which returns a static 200 response of targetBody to every request on a
// loopback port.
type nginx struct {
	proc *process
	url  string // such as http://127.0.0.1:34567
	log  string // path of the error log
}

// startNginx writes a configuration into dir and starts nginx with it on
// targetCore, in the foreground so that killing it ends it.
func startNginx(ctx context.Context, pin pinning, path, dir string) (*nginx, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// One process without a master, so that killing it leaves no worker
	// behind. The open model opens thousands of connections at once when
	// its arrivals fall behind. The backlog and the connection limit keep
	// nginx from dropping them, because with the default backlog of 511
	// the client sent the dropped SYNs again only a second later.
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:%[2]d backlog=4096;
    location / { default_type text/plain; return 200 %[3]q; }
  }
}
`, dir, port, targetBody)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write nginx configuration: %w", err)
	}
	proc, err := pin.start(ctx, targetCore, nil, path, "-e", filepath.Join(dir, "nginx-error.log"), "-p", dir, "-c", file)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitPort(ctx, addr, 10*time.Second); err != nil {
		proc.kill()
		return nil, fmt.Errorf("nginx: %w; its output:\n%s", err, proc.tail())
	}
	return &nginx{proc: proc, url: "http://" + addr, log: filepath.Join(dir, "nginx-error.log")}, nil
}

// stop ends nginx: SIGQUIT lets its worker finish, SIGKILL follows if it
// has not exited within 5 s.
func (n *nginx) stop() {
	n.proc.signal(syscall.SIGQUIT)
	select {
	case <-n.proc.done:
	case <-time.After(5 * time.Second):
		n.proc.kill()
	}
}

// errorLog returns the last lines of nginx's error log, for messages
// about failed requests.
func (n *nginx) errorLog() string {
	data, err := os.ReadFile(n.log)
	if err != nil {
		return "nginx's error log cannot be read: " + err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "nginx's error log ends with:\n" + strings.Join(lines, "\n")
}
