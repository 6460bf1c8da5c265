#!/usr/bin/env bash
# Measures how long a new worker takes from the start of its process to
# its first request: as a Lambda function in the AWS Lambda runtime
# interface emulator, and as a plain process. Usage: bench/coldstart.sh
# [RUNS], 10 runs by default. The first run on a machine builds the
# emulator into the user cache directory, which takes about 10 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
go test -run '^$' -bench 'ColdStart' -benchtime "${runs}x" ./e2e/
