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
# Without a config of its own, the gateway gets a local one made once in the
# data folder: /api/eventgrid on, with a key of its own, and the publisher
# posting to http://127.0.0.1:9100/api/events, where `sbctl eventgrid listen`
# plays the topic (README, "Try it"). The keys are files beside it (0600).
local_gateway_config() {
  local cfg="$DATA/gateway.json"
  if [ ! -f "$cfg" ]; then
    (umask 077
     head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DATA/eventgrid.key"
     head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DATA/eventgrid-topic.key"
     cat > "$cfg" <<JSON
{
  "eventgrid_key_file": "$DATA/eventgrid.key",
  "eventgrid_topic_url": "http://127.0.0.1:9100/api/events",
  "eventgrid_topic_key_file": "$DATA/eventgrid-topic.key"
}
JSON
    )
  fi
  echo "$cfg"
}
if [ "${SWITCHBOARD_NO_GATEWAY:-0}" != 1 ]; then
  GW_CONFIG="${SWITCHBOARD_GATEWAY_CONFIG:-$(local_gateway_config)}"
  echo "[run] switchboard-gateway on 127.0.0.1:8080 (unless its config says otherwise), config $GW_CONFIG" >&2
  "$BUILD/gateway/switchboard-gateway" --config="$GW_CONFIG" &
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
