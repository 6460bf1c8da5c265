package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
)

// grantTimeout bounds one request for iterations.
const grantTimeout = 2 * time.Second

// grantClient requests iterations from the coordinator of a run with a
// fleet-wide iteration count. Only the engine's refill calls it, one call
// at a time.
type grantClient struct {
	bus    *bus.Bus
	run    string
	worker string
	seq    uint64
	log    *slog.Logger
}

// Grant requests iterations until the coordinator replies or ctx is done,
// and returns the number of the first and how many. A request repeated
// after a lost reply carries the same sequence number, so the coordinator
// grants it once.
func (g *grantClient) Grant(ctx context.Context) (first, n int64, err error) {
	g.seq++
	data := mustJSON(bus.GrantRequest{Worker: g.worker, Seq: g.seq})
	for attempt := 1; ; attempt++ {
		reqCtx, cancel := context.WithTimeout(ctx, grantTimeout)
		msg, err := g.bus.NC.RequestWithContext(reqCtx, bus.GrantSubject(g.run), data)
		cancel()
		if err == nil {
			var reply bus.GrantReply
			if err := json.Unmarshal(msg.Data, &reply); err != nil {
				g.log.Warn("ignoring invalid grant reply", "err", err)
			} else {
				return reply.First, reply.Iterations, nil
			}
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		g.log.Warn("retrying request for iterations", "seq", g.seq, "attempt", attempt, "err", err)
		time.Sleep(min(time.Duration(attempt)*100*time.Millisecond, time.Second))
	}
}
