#!/usr/bin/env bash
# Builds and runs the Foundation benchmarks side by side in one run.
# Extra arguments go to `sb_bench all` (e.g. --duration_s=20 --watchers=10000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
cmake --build "$BUILD" -j2 --target switchboardd sb_bench sb_echo_server >/dev/null
ulimit -n "$(ulimit -Hn)" || true
exec "$BUILD/tools/bench/sb_bench" all --switchboardd="$BUILD/server/switchboardd" \
  --echo_server="$BUILD/tools/bench/sb_echo_server" "$@"
