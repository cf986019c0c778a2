#!/usr/bin/env bash
# Installs what is missing, builds, starts the test services (RabbitMQ,
# Azurite), runs the whole suite through ctest, and stops what it started.
# Extra arguments go to ctest (e.g. -R Watch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
"$ROOT/tools/bootstrap.sh" --test
export SWITCHBOARD_SERVICES_DIR="${SWITCHBOARD_SERVICES_DIR:-$(mktemp -d /tmp/sb-services-XXXXXX)}"
trap '"$ROOT/tools/services.sh" stop' EXIT
"$ROOT/tools/services.sh" start
eval "$("$ROOT/tools/services.sh" env)"
echo "[test] running ctest" >&2
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 600 "$@"
