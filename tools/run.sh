#!/usr/bin/env bash
# The README's "run Switchboard": installs what is missing, builds, and runs
# switchboardd in the foreground with its defaults (gRPC on 127.0.0.1:50051).
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

# ---------------------------------------------------------------------------
# GATEWAY (not yet): the gateway will be started here, alongside switchboardd.
# It must run in the background before the `exec` below (e.g. start it with
# `&`, record its pid, and replace the exec with running switchboardd in the
# foreground plus a `trap` that stops the gateway when switchboardd exits).
# ---------------------------------------------------------------------------

echo "[run] switchboardd on 127.0.0.1:50051 (unless overridden), data in $DATA" >&2
exec "$BUILD/server/switchboardd" --data_dir="$DATA" "$@"
