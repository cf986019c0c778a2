#!/usr/bin/env bash
# Runs the "Try it" walkthroughs of the README and the docs as a user would
# paste them, and fails on any error or time-out.
#
#   tools/readme-check.sh                 # README.md and every docs/*.md with a "Try it" section
#   tools/readme-check.sh docs/media.md   # only these files
#   tools/readme-check.sh --list FILE     # print the script made from FILE's blocks, run nothing
#
# For each file: a fresh data folder (a temp HOME, so `~/.local/share/switchboard`
# is new), `tools/run.sh` started in the background and waited for (its
# "[run] ready:" line), then every ```sh block of the file's "Try it" sections,
# in order, in one bash with `set -e -o pipefail`: a failing command fails the
# check and names its block and line. Commands ending in `&` run in the
# background, as they do for a user in another shell; they are stopped when
# the file's blocks are done. Finally run.sh gets SIGTERM and must exit 0.
#
# The README's ports are the defaults (50051, 8080, 8081, 9000, 9100). So that
# the check neither needs them free nor disturbs anything else on the machine,
# it runs in a network namespace of its own (`unshare -n`, root only) whose
# loopback is up: the same ports, on a private loopback. Without unshare it
# runs in the machine's namespace when those ports are free, and fails saying
# so when they are not.
#
# A file holding the line `<!-- readme-check: cluster -->` starts no run.sh:
# its blocks start their own cluster (tools/cluster.sh, docs/scale-out.md),
# in a folder of the check's own (SWITCHBOARD_CLUSTER_DIR), and the check
# runs `tools/cluster.sh stop` afterwards, whatever happened.
#
# Needs the build (tools/test.sh builds everything first). Environment:
#   SWITCHBOARD_BUILD_DIR   build folder (default build/)
#   README_CHECK_TIMEOUT    seconds for one file's blocks (default 900)
#   README_CHECK_KEEP=1     keep the temp folders (their paths are printed)
#   README_CHECK_BOOTSTRAP=1  let run.sh install and build as it does for a user
#                           (default: SWITCHBOARD_SKIP_BOOTSTRAP=1, the binaries
#                           are already built and ctest must not rebuild under
#                           tests running beside it; tools/fresh-machine.sh
#                           checks the install and build steps)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
TIMEOUT="${README_CHECK_TIMEOUT:-900}"
PORTS=(50051 8080 8081 9000 9100)

log() { echo "[readme-check] $*" >&2; }

# The ```sh blocks inside the "## Try it..." sections of $1, as one script.
# Each block starts with a marker line the ERR trap reports.
extract() {
  awk -v file="$1" '
    /^## / { in_try = ($0 ~ /^## Try it/) ; next }
    in_try && /^```sh[[:space:]]*$/ { in_block = 1; block++; printf "__sb_block=%d; __sb_off=$((%d - LINENO - 1))\n", block, NR + 1; next }
    in_block && /^```[[:space:]]*$/ { in_block = 0; next }
    in_block { print }
  ' "$ROOT/$1"
}

if [ "${1:-}" = "--list" ]; then
  [ -n "${2:-}" ] || { echo "usage: tools/readme-check.sh --list FILE" >&2; exit 2; }
  extract "$2"; exit 0
fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,33p' "$0"; exit 0; fi

# Re-run inside a private network namespace when we can.
if [ -z "${SB_README_NETNS:-}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    exec unshare -n env SB_README_NETNS=1 "$0" "$@"
  fi
  log "note: no private network namespace (needs root and unshare); using this machine's loopback"
  for p in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      log "FAIL: port $p is in use on 127.0.0.1; the walkthroughs use the default ports (run as root to get a namespace)"
      exit 1
    fi
  done
else
  ip link set lo up || { log "FAIL: cannot bring up the namespace's loopback (ip link set lo up)"; exit 1; }
fi

for bin in server/switchboardd gateway/switchboard-gateway clients/sbctl/sbctl; do
  [ -x "$BUILD/$bin" ] || { log "FAIL: $BUILD/$bin is missing: build first (tools/test.sh builds everything)"; exit 1; }
done

if [ "$#" -gt 0 ]; then
  FILES=("$@")
else
  FILES=(README.md)
  for f in "$ROOT"/docs/*.md; do
    grep -q '^## Try it' "$f" && FILES+=("docs/$(basename "$f")")
  done
fi

# run_blocks TMP SCRIPT [NAME=VALUE...]: runs SCRIPT in a session of its own
# (setsid, so $! is the session's id), with HOME in TMP, sbctl on PATH and
# the extra variables, its output in TMP/blocks.log; what it left running in
# the background (listeners, watches) is stopped with it. Returns its status.
run_blocks() {
  local tmp="$1" script="$2" rc
  shift 2
  env HOME="$tmp/home" PATH="$BUILD/clients/sbctl:$PATH" "$@" setsid timeout --kill-after=10 "$TIMEOUT" \
    bash "$script" > "$tmp/blocks.log" 2>&1 < /dev/null &
  local blocks_sid=$!
  wait "$blocks_sid"; rc=$?
  pkill -TERM -s "$blocks_sid" 2>/dev/null || true
  return "$rc"
}

# blocks_passed FILE TMP RC: says why FILE's blocks failed, with the end of
# their output, unless RC is 0.
blocks_passed() {
  local file="$1" tmp="$2" rc="$3"
  [ "$rc" -eq 0 ] && return 0
  if [ "$rc" -eq 124 ]; then
    log "FAIL: $file: the blocks did not finish within ${TIMEOUT}s"
  else
    log "FAIL: $file: exit $rc"
  fi
  echo "---- output of $file's blocks (last 60 lines) ----" >&2; tail -n 60 "$tmp/blocks.log" >&2
  return 1
}

# check_file FILE: one fresh run.sh, FILE's blocks, and a clean stop.
check_file() {
  local file="$1" tmp script rc run_pid
  tmp=$(mktemp -d /tmp/readme-check-XXXXXX)
  mkdir -p "$tmp/home"
  script="$tmp/walkthrough.sh"
  {
    echo 'set -e -o pipefail'
    echo "trap 'echo \"[readme-check] $file line \$((LINENO + __sb_off)) (block \$__sb_block): exit \$?: \$BASH_COMMAND\" >&2' ERR"
    echo "cd '$ROOT'"
    extract "$file"
    echo 'echo "[readme-check] all blocks ran" >&2'
  } > "$script"
  if ! grep -q '__sb_block=1;' "$script"; then
    log "FAIL: $file has no \`\`\`sh block in a '## Try it' section"; return 1
  fi

  local skip=1
  [ "${README_CHECK_BOOTSTRAP:-0}" = 1 ] && skip=0
  if grep -q '^<!-- readme-check: cluster -->' "$ROOT/$file"; then
    check_cluster_file "$file" "$tmp" "$script" "$skip"; return
  fi

  # run.sh, as the README starts it, with a data folder of its own (HOME).
  log "$file: starting tools/run.sh (HOME=$tmp/home)"
  HOME="$tmp/home" SWITCHBOARD_SKIP_BOOTSTRAP="$skip" SWITCHBOARD_BUILD_DIR="$BUILD" CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}" setsid "$ROOT/tools/run.sh" \
    > "$tmp/run.log" 2>&1 &
  run_pid=$!
  local deadline=$((SECONDS + 300))
  until grep -q '^\[run\] ready:' "$tmp/run.log" 2>/dev/null; do
    if ! kill -0 "$run_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      log "FAIL: $file: tools/run.sh did not get ready; its log:"; tail -n 40 "$tmp/run.log" >&2
      kill -TERM -- "-$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; return 1
    fi
    sleep 0.5
  done

  # The blocks, in a session of their own (setsid, so $! is the session's
  # id), so that what they left running in the background (listeners,
  # watches) is stopped with them.
  log "$file: running $(grep -c '^__sb_block=' "$script") block(s)"
  run_blocks "$tmp" "$script"; rc=$?
  local ok=1
  if ! blocks_passed "$file" "$tmp" "$rc"; then
    ok=0
    echo "---- tools/run.sh (last 30 lines) ----" >&2; tail -n 30 "$tmp/run.log" >&2
  fi

  kill -TERM "$run_pid" 2>/dev/null
  local run_rc
  wait "$run_pid"; run_rc=$?
  if [ "$run_rc" -ne 0 ] && [ "$run_rc" -ne 143 ]; then
    log "FAIL: $file: tools/run.sh exited $run_rc on SIGTERM; its log:"; tail -n 30 "$tmp/run.log" >&2; ok=0
  fi
  if [ "${README_CHECK_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  [ "$ok" -eq 1 ] && log "ok: $file"
  [ "$ok" -eq 1 ]
}

# check_cluster_file FILE TMP SCRIPT SKIP: FILE's blocks start their own
# cluster; it is stopped afterwards whatever happened.
check_cluster_file() {
  local file="$1" tmp="$2" script="$3" skip="$4" rc ok=1
  chmod 755 "$tmp"  # RabbitMQ and PostgreSQL run as their own users, under it
  log "$file: running $(grep -c '^__sb_block=' "$script") block(s) (they start their own cluster)"
  run_blocks "$tmp" "$script" SWITCHBOARD_CLUSTER_DIR="$tmp/cluster" SWITCHBOARD_SKIP_BOOTSTRAP="$skip" \
    SWITCHBOARD_BUILD_DIR="$BUILD"; rc=$?
  if ! SWITCHBOARD_CLUSTER_DIR="$tmp/cluster" SWITCHBOARD_BUILD_DIR="$BUILD" "$ROOT/tools/cluster.sh" stop \
    >> "$tmp/blocks.log" 2>&1; then
    log "FAIL: $file: tools/cluster.sh stop failed"; rc=1
  fi
  blocks_passed "$file" "$tmp" "$rc" || ok=0
  if [ "${README_CHECK_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  [ "$ok" -eq 1 ] && log "ok: $file"
  [ "$ok" -eq 1 ]
}

failed=0
for f in "${FILES[@]}"; do
  check_file "$f" || failed=$((failed + 1))
done
log "$(( ${#FILES[@]} - failed )) of ${#FILES[@]} walkthrough(s) passed"
echo "$(( ${#FILES[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
