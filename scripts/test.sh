#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, when it is
# missing, and runs the suite. It needs gcc for the race detector, Debian's
# chromium for the HTML report's browser test, and the nats CLI and the AWS
# Lambda runtime interface emulator for the end-to-end tests. With
# BARRAGE_NO_BROWSER=1 it installs no browser and skips the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
  echo "test: Go is missing. Install Go 1.26, see https://go.dev/doc/install" >&2
  exit 1
fi

# apt_install installs Debian packages, through sudo when not run as root.
apt_install() {
  local sudo=()
  if ! command -v apt-get >/dev/null; then
    echo "test: apt-get is missing. Install $* with your package manager and rerun" >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "test: installing $* needs root, and sudo is missing. Install them as root and rerun" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  echo "test: installing $*" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# The race detector needs cgo and a C compiler.
if ! command -v gcc >/dev/null; then
  apt_install gcc libc6-dev
fi

# internal/report's browser test runs Debian's chromium from this path.
if [ "${BARRAGE_NO_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# The end-to-end tests run the real nats CLI. Building it takes minutes on
# a machine with an empty module cache, so it is built here, before the
# tests, into the cache directory the tests look in.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/barrage-test/natscli-v0.5.0"
if [ ! -x "$cache/nats" ]; then
  mkdir -p "$cache"
  GOBIN="$cache" go install github.com/nats-io/natscli/nats@v0.5.0
fi

# The Lambda tests run the AWS Lambda runtime interface emulator, built the
# same way into the directory internal/testutil looks in.
rie_version=v0.0.0-20261030222936-bef5c4ba774d
rie="${XDG_CACHE_HOME:-$HOME/.cache}/barrage-test/aws-lambda-rie-$rie_version"
if [ ! -x "$rie/aws-lambda-rie" ]; then
  mkdir -p "$rie"
  (cd "$rie" && GOBIN="$rie" GOWORK=off go install \
    "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version")
fi

go test -race -count=1 ./...
