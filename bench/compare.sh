#!/usr/bin/env bash
# Measures requests per second of one Barrage worker on one core against
# nginx on the other core, next to wrk, vegeta and hey with the same number
# of connections and the same duration. Needs a 2-core Linux machine, root
# for apt-get, and Go. Prints one line per tool and run.
#
#   bench/compare.sh [RUNS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-10}
conns=${3:-50}
port=18080
work=$(mktemp -d)
trap 'nginx -c "$work/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$work"' EXIT

for pkg in nginx-light wrk hey; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt-get install -y -qq "$pkg" >/dev/null
done
GOBIN="$work" go install github.com/tsenart/vegeta/v12@v12.13.0
go build -o "$work/" ./cmd/coordinator ./cmd/worker

cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:$port; location / { return 200 "hello\n"; } }
}
CONF
taskset -c 1 nginx -c "$work/nginx.conf"
sleep 0.5

cat >"$work/plan.yaml" <<PLAN
name: bench
target: http://127.0.0.1:$port
users: $conns
spawn_rate: 100000
duration: ${seconds}s
tasks:
  - name: home
    url: /
PLAN

for run in $(seq "$runs"); do
  # The coordinator and its embedded NATS server share the target's core,
  # so the worker has core 0 to itself, as the other tools do.
  taskset -c 1 "$work/coordinator" start "$work/plan.yaml" \
    --local-workers 0 --report-interval 1s --out "$work/summary.json" \
    --listen 127.0.0.1:14222 >/dev/null 2>"$work/coordinator.log" &
  coordinator=$!
  sleep 1
  GOMAXPROCS=1 taskset -c 0 "$work/worker" --nats nats://127.0.0.1:14222 2>/dev/null
  wait "$coordinator" || true
  printf 'barrage run %d: %s req/s\n' "$run" "$(grep -o '"rps": [0-9.]*' "$work/summary.json" | head -1 | cut -d' ' -f2)"

  printf 'wrk     run %d: %s req/s\n' "$run" \
    "$(taskset -c 0 wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')"

  printf 'vegeta  run %d: %s req/s\n' "$run" \
    "$(echo "GET http://127.0.0.1:$port/" | GOMAXPROCS=1 taskset -c 0 "$work/vegeta" attack -rate 0 \
      -max-workers "$conns" -workers "$conns" -duration "${seconds}s" | "$work/vegeta" report -type json |
      grep -o '"throughput":[0-9.]*' | cut -d: -f2)"

  printf 'hey     run %d: %s req/s\n' "$run" \
    "$(GOMAXPROCS=1 taskset -c 0 hey -z "${seconds}s" -c "$conns" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')"
done
