package worker

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/barrage-load/barrage/internal/plan"
)

// ReservedOpenFiles is the number of open files a worker keeps for other
// things than connections to targets: standard streams, the NATS
// connection, the Lambda runtime API, name lookups and the Go runtime's
// own descriptors, with room to spare.
const ReservedOpenFiles = 64

// ErrTooManyOpenFiles is returned when a share would need more open files
// than the process may have.
var ErrTooManyOpenFiles = errors.New("share needs more open files than the process may have")

// OpenFileLimit returns the process's soft limit on open files (the one
// that applies), and false when the platform cannot tell.
func OpenFileLimit() (uint64, bool) { return openFileLimit() }

// RaiseOpenFileLimit raises the soft limit on open files to the hard
// limit and returns both. AWS Lambda allows 1,024 open files.
//
// NOTE: since Go 1.19 the runtime raises the soft limit at start on Unix
// systems by itself (package os), so on those this normally finds it
// raised already. It stays here because a custom worker may be built
// otherwise, and because it returns the limit for the log.
func RaiseOpenFileLimit() (soft, hard uint64, err error) { return raiseOpenFileLimit() }

// OpenFilesNeeded estimates the open files a worker needs to run users of
// plan p: one connection per user and per host that the plan's HTTP tasks
// name, or http.max_connections per host when that is lower, plus
// ReservedOpenFiles. Redirects to other hosts and tasks written in Go may
// open more; they are not counted.
func OpenFilesNeeded(p *plan.Plan, users int) int {
	perHost := users
	if p.HTTP.MaxConnections > 0 {
		perHost = min(perHost, p.HTTP.MaxConnections)
	}
	return perHost*taskHosts(p) + ReservedOpenFiles
}

// checkOpenFiles returns ErrTooManyOpenFiles, with the figures and what to
// do, when share s would need more open files than the process may have.
func checkOpenFiles(p *plan.Plan, s plan.Share) error {
	limit, ok := OpenFileLimit()
	if !ok {
		return nil
	}
	need := OpenFilesNeeded(p, s.Users)
	if uint64(need) <= limit {
		return nil
	}
	return fmt.Errorf("%w: share %d has %d users on %d hosts and needs about %d open files, but the limit is %d; spread the users over more workers or set http.max_connections",
		ErrTooManyOpenFiles, s.Index, s.Users, taskHosts(p), need, limit)
}

// taskHosts returns how many distinct hosts the plan's HTTP tasks send
// requests to, and at least 1.
func taskHosts(p *plan.Plan) int {
	hosts := make(map[string]bool)
	for _, t := range p.Tasks {
		if t.Go != "" || t.Weight == 0 {
			continue
		}
		if u, err := url.Parse(t.URL); err == nil {
			hosts[u.Scheme+"://"+u.Host] = true
		}
	}
	return max(1, len(hosts))
}
