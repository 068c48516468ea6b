#!/usr/bin/env bash
# promtool, Prometheus' own checker, built from the Go module proxy (no release download
# here): tests/unit/test_prometheus_rules.py checks deploy/prometheus/ with it. The Go
# module github.com/prometheus/prometheus v0.3NN.M is Prometheus 3.NN.M, the version
# docker-compose runs. Idempotent; the first build takes a few minutes.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
REDTHREAD_HOME=${REDTHREAD_HOME:-$REPO_ROOT/.local}
MODULE_VERSION=v0.316.0
BIN=$REDTHREAD_HOME/bin
BUILT=$BIN/promtool.module-version  # go install leaves the binary's own version blank
if [[ -x $BIN/promtool && $(cat "$BUILT" 2>/dev/null) == "$MODULE_VERSION" ]]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "promtool: go not found; the alert rules' test will say so" >&2
  exit 0
fi
mkdir -p "$BIN"
echo "promtool: building github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION (once, a few minutes) …" >&2
GOBIN=$BIN GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION"
echo "$MODULE_VERSION" >"$BUILT"
echo "promtool: $BIN/promtool" >&2
