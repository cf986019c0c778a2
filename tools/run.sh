#!/usr/bin/env bash
# The README's "run Switchboard": installs what is missing, builds, and runs
# switchboardd with its defaults (gRPC on 127.0.0.1:50051) plus the gateway
# (HTTP on 127.0.0.1:8080).
#
#   tools/run.sh                       # state in ~/.local/share/switchboard
#   tools/run.sh --log_level=debug     # extra arguments go to switchboardd
#
# SWITCHBOARD_DATA_DIR overrides the state folder, SWITCHBOARD_BUILD_DIR the
# build folder. Stop it with Ctrl-C or SIGTERM.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"

"$ROOT/tools/bootstrap.sh"

DATA="${SWITCHBOARD_DATA_DIR:-${HOME:-/root}/.local/share/switchboard}"
mkdir -p "$DATA"

# switchboardd, then the gateway (HTTP on 127.0.0.1:8080 by default, talking
# to switchboardd on 127.0.0.1:50051) in the background. Both stop together:
# when switchboardd exits, or on Ctrl-C / SIGTERM. SWITCHBOARD_GATEWAY_CONFIG
# names a gateway JSON config file (docs/gateway.md); SWITCHBOARD_NO_GATEWAY=1
# runs switchboardd alone.
echo "[run] switchboardd on 127.0.0.1:50051 (unless overridden), data in $DATA" >&2
"$BUILD/server/switchboardd" --data_dir="$DATA" "$@" &
SB_PID=$!
GW_PID=""
if [ "${SWITCHBOARD_NO_GATEWAY:-0}" != 1 ]; then
  echo "[run] switchboard-gateway on 127.0.0.1:8080 (unless its config says otherwise)" >&2
  "$BUILD/gateway/switchboard-gateway" ${SWITCHBOARD_GATEWAY_CONFIG:+--config="$SWITCHBOARD_GATEWAY_CONFIG"} &
  GW_PID=$!
fi
stop_all() {
  trap - INT TERM EXIT
  [ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null
  kill -TERM "$SB_PID" 2>/dev/null
  wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT
set +e
wait "$SB_PID"
rc=$?
exit "$rc"
