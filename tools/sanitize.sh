#!/usr/bin/env bash
# The whole test suite under a sanitizer (docs/reliability.md):
#
#   tools/sanitize.sh asan     # AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included)
#   tools/sanitize.sh ubsan    # UndefinedBehaviorSanitizer alone
#   tools/sanitize.sh tsan     # ThreadSanitizer
#   tools/sanitize.sh asan -R Watch   # extra arguments go to ctest
#
# Builds everything into a folder of its own (build-<mode>/, or
# SB_SANITIZE_BUILD_DIR) with gcc and -DSB_SANITIZE=..., then runs
# tools/test.sh against it: the same services (RabbitMQ, Azurite), the same
# ctest. Every process the tests start (switchboardd, the gateway, sbctl)
# inherits the sanitizer options, and every report goes to a file under
# <build>/sanitizer-reports/. At the end it prints one line per distinct
# report and a summary line, and exits 1 if ctest failed or any report was
# written. Suppressions: tools/sanitize/<mode>.supp (and lsan.supp), each
# entry justified in docs/reliability.md.
#
# Too slow for CI on two cores (a build from scratch is about twice the
# normal one): run it before resolving and after changes to threading.
# Debug information is line tables only (-g1): enough for every frame of a
# report to name its file and line. Disk: build-asan/ takes about 39 GB
# (over 50 GB with full -g), build-tsan/ about 22 GB with full -g. Free
# that much first, and delete the folder after a run.
# SB_SANITIZE_JOBS: build jobs (default nproc).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  asan) KIND=address ;;
  ubsan) KIND=undefined ;;
  tsan) KIND=thread ;;
  *) echo "tools/sanitize.sh: give the sanitizer: asan, ubsan or tsan (see --help)" >&2; exit 2 ;;
esac
MODE="$1"
shift
BUILD="${SB_SANITIZE_BUILD_DIR:-$ROOT/build-$MODE}"
JOBS="${SB_SANITIZE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
REPORTS="$BUILD/sanitizer-reports"
SUPP="$ROOT/tools/sanitize"

# Install what is missing and the test services' packages (no build: the
# sanitized build is configured here).
"$ROOT/tools/bootstrap.sh" --test --no-build

LAUNCHER=()
command -v ccache >/dev/null 2>&1 && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
mkdir -p "$BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  echo "[sanitize] configuring $BUILD (SB_SANITIZE=$KIND)" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DSB_SANITIZE="$KIND" "${LAUNCHER[@]}" \
    > "$BUILD/configure.log" 2>&1 || { tail -30 "$BUILD/configure.log" >&2; exit 1; }
fi
echo "[sanitize] building $BUILD (-j$JOBS; log: $BUILD/build.log)" >&2
start=$(date +%s)
cmake --build "$BUILD" -j"$JOBS" > "$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log" >&2; exit 1; }
echo "[sanitize] built in $(( $(date +%s) - start ))s" >&2

rm -rf "$REPORTS"
mkdir -p "$REPORTS"
common="log_path=$REPORTS/report:print_stacktrace=1:symbolize=1"
case "$MODE" in
  asan)
    export ASAN_OPTIONS="$common:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0"
    export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
    # UBSan reports and goes on, so one run shows every report.
    export UBSAN_OPTIONS="$common:halt_on_error=0:suppressions=$SUPP/ubsan.supp"
    ;;
  ubsan)
    export UBSAN_OPTIONS="$common:halt_on_error=0:suppressions=$SUPP/ubsan.supp"
    ;;
  tsan)
    export TSAN_OPTIONS="$common:halt_on_error=0:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp"
    ;;
esac

start=$(date +%s)
status=0
SWITCHBOARD_BUILD_DIR="$BUILD" SWITCHBOARD_BUILD_JOBS="$JOBS" "$ROOT/tools/test.sh" "$@" || status=$?
elapsed=$(( $(date +%s) - start ))

# One line per distinct report: its kind and the first frame of our code.
shopt -s nullglob
files=("$REPORTS"/report.*)
echo "[sanitize] $MODE: ctest exited $status after ${elapsed}s; ${#files[@]} report file(s) in $REPORTS" >&2
if [ "${#files[@]}" -gt 0 ]; then
  for f in "${files[@]}"; do
    kind=$(grep -m1 -oE '(ERROR|WARNING): [A-Za-z]+Sanitizer: [^(]*|runtime error: .*' "$f" | head -c 160 || true)
    frame=$(grep -m1 -E "#[0-9]+ .*$ROOT/(server|gateway|common|clients|tools|tests)/" "$f" \
              | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //' | head -c 200 || true)
    echo "$kind | ${frame:-?}"
  done | sort | uniq -c | sort -rn >&2
fi
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "[sanitize] result: mode=$MODE commit=$commit date=$(date -u +%Y-%m-%dT%H:%MZ) ctest=$status reports=${#files[@]}" >&2
[ "$status" -eq 0 ] && [ "${#files[@]}" -eq 0 ]
