#!/usr/bin/env bash
# The folders depend on each other in one direction only
# (docs/architecture.md, "Layers"):
#
#   common  <-  wire  <-  server, gateway, clients  <-  tools/bench, tests
#
# - common/ includes nothing of the project's other folders;
# - wire/ (the pure wire-format library) includes only common/ and the protos;
# - server/ includes nothing from gateway/ or clients/, and the gateway nothing
#   from server/: they meet only through the protos and wire/;
# - tools/bench drives the binaries through public APIs: the protos, clients/lib,
#   common/, wire/, and the two composition roots server/server.h and
#   gateway/gateway.h, never an internal header.
#
#   tests/repo/include_graph_test.sh [REPO_ROOT]
# Prints every include that breaks a rule, with file and line, and fails.
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT" || { echo "FAIL: cannot enter $ROOT"; exit 1; }

fail=0
# rule FOLDER FORBIDDEN-REGEX WHY
rule() {
  local folder="$1" forbidden="$2" why="$3" hits
  [ -d "$folder" ] || { echo "FAIL: $folder is missing"; fail=1; return; }
  hits=$(grep -rnE --include='*.h' --include='*.cc' "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($forbidden)" "$folder" || true)
  if [ -n "$hits" ]; then
    echo "FAIL: $why:"
    echo "$hits" | sed 's/^/  /'
    fail=1
  fi
}

rule common 'server/|gateway/|clients/|wire/|tools/' "common/ includes another folder of the project"
rule wire 'server/|gateway/|clients/|tools/' "wire/ includes more than common/ and the protos"
rule server 'gateway/|clients/|tools/' "server/ includes the gateway, a client or a tool"
rule gateway 'server/|tools/' "the gateway includes server/ or a tool"

# tools/bench: only public headers of the project.
bench_hits=$(grep -rnE --include='*.h' --include='*.cc' '^[[:space:]]*#[[:space:]]*include[[:space:]]+"(server|gateway|clients|common|wire)/' tools/bench |
  grep -vE '"(server/server\.h|gateway/gateway\.h|clients/lib/[^"]+|common/[^"]+|wire/[^"]+)"' || true)
if [ -n "$bench_hits" ]; then
  echo "FAIL: tools/bench includes internal headers (use the protos, clients/lib, or the composition roots):"
  echo "$bench_hits" | sed 's/^/  /'
  fail=1
fi

# The check itself must see the includes it guards: a tree with no includes
# at all would pass every rule above.
seen=$(grep -rhE --include='*.cc' '^#include "(common|wire|server)/' server gateway | wc -l)
if [ "$seen" -lt 50 ]; then
  echo "FAIL: only $seen project includes found under server/ and gateway/; is this the repository root?"
  fail=1
fi

[ "$fail" = 0 ] && echo "PASS: the include graph keeps its layers ($seen project includes checked)"
exit "$fail"
