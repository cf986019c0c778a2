#!/usr/bin/env bash
# Builds the libFuzzer targets (tools/fuzz) with clang, ASan and UBSan in a
# build folder of their own, and runs each in turn (docs/reliability.md).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs default to all of them
# (tools/fuzz/targets.cmake). New interesting inputs go to a work corpus
# outside the repository ($SB_FUZZ_WORK/<target>, default
# /var/tmp/switchboard-fuzz; kept between runs, never committed); the seed
# corpus tools/fuzz/corpus/<target> is only read. A crash input is written
# to tools/fuzz/crashes/<target>/; once fixed, commit it: the Fuzz.<target>
# test of the normal build replays it from then on.
#
# Environment: SB_FUZZ_BUILD_DIR (default build-fuzz), SB_FUZZ_WORK,
# SB_FUZZ_JOBS (build jobs, default nproc), SB_FUZZ_BUILD_ONLY=1 (build, do
# not run). Exit status: 0 when every target ran clean, 1 when one crashed,
# 2 on a usage or build error.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SB_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
WORK=${SB_FUZZ_WORK:-/var/tmp/switchboard-fuzz}
JOBS=${SB_FUZZ_JOBS:-$(nproc)}

log() { echo "[fuzz] $*" >&2; }
die() { log "$*"; exit 2; }

case "${1:-}" in
  -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
SECS=60
if [ $# -gt 0 ]; then
  [[ "$1" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number of seconds, got '$1' (usage: tools/fuzz.sh [SECONDS] [TARGET...])"
  SECS=$1
  shift
fi

ALL=$(sed -n '/^set(SB_FUZZ_TARGETS/,/)/p' "$ROOT/tools/fuzz/targets.cmake" | tr -d '()' | sed 's/set//; s/SB_FUZZ_TARGETS//' | xargs)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || read -r -a TARGETS <<< "$ALL"
for t in "${TARGETS[@]}"; do
  [[ " $ALL " == *" $t "* ]] || die "unknown target '$t'; the targets are: $ALL"
done

# clang and its libFuzzer runtime, from Debian, only if missing.
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
UPDATED=0
apt_install() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return 0
  if [ "$UPDATED" -eq 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    UPDATED=1
  fi
  log "installing $1"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
apt_install clang
apt_install libclang-rt-dev
command -v clang++ >/dev/null || die "clang++ is not on PATH after installing clang"

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  log "configuring $BUILD (clang, -DSB_FUZZ=ON)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSB_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$BUILD.configure.log" 2>&1 \
    || { tail -20 "$BUILD.configure.log" >&2; die "configure failed (log: $BUILD.configure.log)"; }
else
  # Again each time (quick): a target added to targets.cmake since the last
  # configure is otherwise unknown to make.
  cmake "$BUILD" > "$BUILD.configure.log" 2>&1 \
    || { tail -20 "$BUILD.configure.log" >&2; die "configure failed (log: $BUILD.configure.log)"; }
fi
# The commit the fuzzers are built from (with "+changes" for a dirty tree), for the summary.
BUILT_FROM="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || BUILT_FROM="$BUILT_FROM+changes"
log "building ${TARGETS[*]} ($JOBS jobs; log: $BUILD/fuzz-build.log)"
mkdir -p "$BUILD"
if ! cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]/%/_fuzzer}" > "$BUILD/fuzz-build.log" 2>&1; then
  grep -E "error|Error" "$BUILD/fuzz-build.log" | head -20 >&2
  die "build failed (log: $BUILD/fuzz-build.log)"
fi
[ "${SB_FUZZ_BUILD_ONLY:-0}" = 1 ] && { log "built; not running (SB_FUZZ_BUILD_ONLY=1)"; exit 0; }

# Inputs larger than any real message of the kind gain nothing.
max_len() {
  case "$1" in
    eventgrid|run_request|terraform_output|gorg_envelope|managed_app) echo 16384 ;;
    http_request) echo 20480 ;;  # past the 16 KB head limit
    server_config|gateway_config|token_file) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case "$1" in
    azure_xml|sas|blob_uri) echo "$ROOT/tools/fuzz/dict/$1.dict" ;;
    http_request|blob_request) echo "$ROOT/tools/fuzz/dict/http.dict" ;;
    *) echo "$ROOT/tools/fuzz/dict/json.dict" ;;
  esac
}

status=0
summary=()
for t in "${TARGETS[@]}"; do
  corpus=$WORK/$t
  crashes=$ROOT/tools/fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  out=$WORK/$t.log
  log "$t: ${SECS}s, corpus $corpus, log $out"
  rc=0
  # Crashes go to tools/fuzz/crashes/<target>/ (-artifact_prefix); the seed
  # corpus is read, the work corpus gets the new inputs.
  "$BUILD/tools/fuzz/${t}_fuzzer" "$corpus" "$ROOT/tools/fuzz/corpus/$t" \
    -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -dict="$(dict "$t")" -artifact_prefix="$crashes/" -print_final_stats=1 > "$out" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf "%s\n" | awk "{s+=\$1} END {printf \"%d\", s/1024}")
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
  if [ "$rc" -ne 0 ]; then
    status=1
    found=$(grep -o "Test unit written to .*" "$out" | tail -1 | sed 's/Test unit written to //')
    grep -E "ERROR: |fuzz check failed|SUMMARY: " "$out" | head -3 >&2
    summary+=("$(printf '%-17s FAILED (exit %s): %s' "$t" "$rc" "${found:-see $out}")")
  else
    summary+=("$(printf '%-17s ok  %10s execs %7s exec/s  cov %5s  corpus %5s files %6s KB' \
      "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$files" "$bytes")")
  fi
  rmdir "$crashes" 2>/dev/null || true  # left only when it holds a crash
done
log "done (built from $BUILT_FROM, $(date -u +%Y-%m-%dT%H:%MZ), ${SECS}s each):"
printf '  %s\n' "${summary[@]}" >&2
exit "$status"
