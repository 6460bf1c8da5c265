#!/usr/bin/env bash
# Builds Barrage, starts the demo target on 127.0.0.1:8080, runs
# examples/demo.yaml with the coordinator's embedded NATS server and one
# in-process worker, then stops the target, which prints what it received.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "demo: Go is not installed; see https://go.dev/doc/install" >&2; exit 1; }
mkdir -p bin
echo "demo: building bin/coordinator, bin/worker and bin/target" >&2
go build -o bin/ ./cmd/coordinator ./cmd/worker ./cmd/target

bin/target --listen 127.0.0.1:8080 &
target_pid=$!
trap 'kill "$target_pid" 2>/dev/null || true; wait "$target_pid" 2>/dev/null || true' EXIT
sleep 0.5
kill -0 "$target_pid" 2>/dev/null || { echo "demo: the target did not start; is 127.0.0.1:8080 in use?" >&2; exit 1; }

status=0
rm -f bin/demo-summary.json
bin/coordinator start examples/demo.yaml --out bin/demo-summary.json "$@" || status=$?
if [ -f bin/demo-summary.json ]; then
  echo "demo: summary written to bin/demo-summary.json; the target's own counts follow" >&2
else
  echo "demo: the run did not start (exit status $status), so no summary was written; see the message above" >&2
fi
exit "$status"
