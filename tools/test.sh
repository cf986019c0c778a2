#!/usr/bin/env bash
# The whole test suite (what CI runs): installs what is missing, builds,
# starts the test services (RabbitMQ, Azurite) on free loopback ports, runs
# every test through ctest, and stops the services however it ends.
#
#   tools/test.sh              # everything
#   tools/test.sh -R Watch     # extra arguments go to ctest
#   tools/test.sh --store=postgres [-R ...]   # every in-process and spawned switchboardd
#                              # that names no store of its own runs on the PostgreSQL of
#                              # tools/services.sh (SWITCHBOARD_TEST_STORE_URL; docs/development.md)
#
# Exits with ctest's status.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
STORE=sqlite
case "${1:-}" in
  --store=sqlite) shift ;;
  --store=postgres) STORE=postgres; shift ;;
  --store=*) echo "tools/test.sh: --store must be sqlite or postgres, not '${1#--store=}'" >&2; exit 2 ;;
esac

"$ROOT/tools/bootstrap.sh" --test

# A folder of its own, so two runs at once do not share (or stop) services.
SWITCHBOARD_SERVICES_DIR="${SWITCHBOARD_SERVICES_DIR:-$(mktemp -d /tmp/switchboard-services-XXXXXX)}"
export SWITCHBOARD_SERVICES_DIR
trap '"$ROOT/tools/services.sh" stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$ROOT/tools/services.sh" start
eval "$("$ROOT/tools/services.sh" env)"
if [ "$STORE" = postgres ]; then
  export SWITCHBOARD_TEST_STORE_URL="$SWITCHBOARD_TEST_PG_URL"
  echo "[test] every switchboardd that names no store runs on PostgreSQL ($SWITCHBOARD_TEST_STORE_URL)" >&2
fi

echo "[test] ctest in $BUILD (AMQP 127.0.0.1:$SWITCHBOARD_TEST_AMQP_PORT, Azurite $SWITCHBOARD_TEST_AZURITE_BLOB)" >&2
status=0
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 600 "$@" || status=$?
echo "[test] ctest exited with $status" >&2
exit "$status"
