#!/usr/bin/env bash
# Installs what is missing, builds, and runs switchboardd with its embedded
# defaults (gRPC on 127.0.0.1:50051, /healthz and /metrics on 127.0.0.1:8081).
# Extra arguments go to switchboardd. State: $SWITCHBOARD_DATA_DIR
# (default ~/.local/share/switchboard).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
"$ROOT/tools/bootstrap.sh"
DATA="${SWITCHBOARD_DATA_DIR:-$HOME/.local/share/switchboard}"
mkdir -p "$DATA"
echo "[run] switchboardd: data in $DATA; sbctl is $BUILD/clients/sbctl/sbctl" >&2
# The gateway (switchboard-gateway) will be started beside it once it lands.
exec "$BUILD/server/switchboardd" --data_dir="$DATA" "$@"
