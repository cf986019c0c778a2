#!/usr/bin/env bash
# Builds switchboardd, sb_bench and sb_echo_server (-j2: the machine is
# shared) and runs `sb_bench all` with the built paths. Extra arguments go to
# `sb_bench all`, e.g.:
#   tools/bench/run.sh --duration_s=5 --watchers=1000
#   tools/bench/run.sh --duration_s=10 --watchers=10000 | tee /tmp/bench.md
# Set SWITCHBOARD_BUILD_DIR to use another build directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
if ! out="$(cmake --build "$BUILD" -j2 --target switchboardd sb_bench sb_echo_server 2>&1)"; then
  printf '%s\n' "$out" >&2
  echo "run.sh: build failed" >&2
  exit 1
fi
# sb_bench raises its own soft RLIMIT_NOFILE to the hard limit; doing it here
# too covers the servers it starts (they inherit it either way).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$BUILD/tools/bench/sb_bench" all \
  --switchboardd="$BUILD/server/switchboardd" \
  --echo_server="$BUILD/tools/bench/sb_echo_server" "$@"
