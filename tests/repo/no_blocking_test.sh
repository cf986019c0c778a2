#!/usr/bin/env bash
# No gRPC reaction blocks (issue 21): the service adapters and the reactors
# they start contain no blocking wait. gRPC's callback API runs handlers and
# reactions on its own threads; one that waits holds a thread every other
# call needs.
#
# What is scanned (the code that runs in a gRPC callback or reaction):
#   server/*/*_service.{h,cc}          the service adapters
#   server/rpc/*.{h,cc}                guard, watch streams and their state
#                                      machine, WatchMany, health, interceptors
#   server/notification/subscribe_stream.{h,cc}   the Subscribe reactor
# What counts as a blocking wait (comments are ignored):
#   ->Commit( .Commit(       Store::Commit, the blocking wrapper of CommitAsync
#   std::future, std::promise, std::async, <future>, common/wait.h, Wait<
#                            a future (or Wait<T>, which gets one) in these
#                            files: so no `.get()` on a future can be here
#                            (`.get()` on a smart pointer stays legal)
#   .wait( wait_for( wait_until( Wait() WaitForNotification
#                            condition variables, Notifications, gRPC's Wait
#   sleep (sleep_for, usleep, absl::SleepFor, ...)
#   .join( ->join(           joining a thread
#   Lease( Wait(             a store read-connection lease, the sync Wait helper
#
# What it does NOT see:
#   - what the engines do when an adapter calls them. An engine method that
#     answers through `done` (AsyncCall) is asynchronous by contract; one that
#     returns its answer (SyncCall, FinishNow) does its work on the gRPC
#     thread. Those are store reads: a SQLite WAL read on a pooled read
#     connection (core::SqliteOptions::read_connections), which never waits
#     for the writer, a commit or another request's I/O, and which waits for a
#     free connection only while all of them are reading (a bounded, short
#     wait: decision in docs/decisions.md, "Reads on the gRPC threads").
#     A sync call into an engine that did wait (Commit, a mutex held across
#     I/O) would pass this check: the engines' own tests cover that, such as
#     ResourcingNonBlocking.SlowPushDoesNotDelayUnrelatedCalls.
#   - short mutex sections (std::lock_guard) that are never held across I/O:
#     the watch state machine and the hub take them by design.
#   - calls hidden behind a macro or a helper in another folder.
#
# Allow-list: each entry is a file and a fixed piece of one line, with the
# reason it does not block. An entry that matches nothing fails the test, so
# the list cannot go stale.
#
#   tests/repo/no_blocking_test.sh [REPO_ROOT]       check the tree
#   tests/repo/no_blocking_test.sh --scan-only DIR   check DIR only (no self-test)
# Prints each blocking line with file and line number, and fails.
set -uo pipefail

SCAN_ONLY=0
if [ "${1:-}" = "--scan-only" ]; then
  SCAN_ONLY=1
  shift
fi
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$ROOT" || { echo "FAIL: cannot enter $ROOT"; exit 1; }

# The patterns (extended regex), one per kind of wait; NAME|REGEX.
PATTERNS=(
  'sync store commit|(->|\.)Commit\('
  'a future|std::(future|shared_future|promise|async|packaged_task)\b|#[[:space:]]*include[[:space:]]*<future>|common/wait\.h|\bWait<'
  'a condition or notification wait|\.wait\(|->wait\(|\bwait_for\(|\bwait_until\(|\bWait\(\)|WaitForNotification|WaitWithTimeout'
  'a sleep|\bsleep_for\(|\bsleep_until\(|\bu?sleep\(|\bnanosleep\(|SleepFor\('
  'a thread join|(\.|->)join\(\)'
  'a lease or a sync wait|\bLease([[:space:]]+[A-Za-z_]+)?\(|\bWait\('
)

# ALLOW: FILE|FIXED TEXT OF THE LINE|WHY IT DOES NOT BLOCK
ALLOW=(
  'server/cursors/cursor_service.cc|engine_->Commit(*req, rpc::Completer(|CursorEngine::Commit(req, done) is asynchronous (CommitAsync inside); the Completer finishes the reactor'
)

files() {
  ls server/*/*_service.h server/*/*_service.cc server/rpc/*.h server/rpc/*.cc \
    server/notification/subscribe_stream.h server/notification/subscribe_stream.cc 2>/dev/null
}

# The scanned files with comments stripped, in a mirror under $STRIPPED.
STRIPPED=$(mktemp -d)
strip_all() {
  local f
  files | while IFS= read -r f; do
    mkdir -p "$STRIPPED/$(dirname "$f")"
    sed -e 's#//.*$##' "$f" >"$STRIPPED/$f"
  done
}

# Prints "file:line: text" for each line matching the regex, allow-listed
# lines left out.
scan() {
  local regex="$1" hit entry
  (cd "$STRIPPED" && grep -rnE "$regex" . | sed 's#^\./##') | while IFS= read -r hit; do
    local f="${hit%%:*}" allowed=0
    for entry in "${ALLOW[@]}"; do
      local af="${entry%%|*}" rest="${entry#*|}"
      local text="${rest%%|*}"
      if [ "$af" = "$f" ] && [[ "$hit" == *"$text"* ]]; then allowed=1; fi
    done
    [ "$allowed" = 1 ] || echo "$hit"
  done
}

check() {
  local fail=0 p name regex hits entry
  strip_all
  for p in "${PATTERNS[@]}"; do
    name="${p%%|*}"
    regex="${p#*|}"
    hits=$(scan "$regex")
    if [ -n "$hits" ]; then
      echo "FAIL: $name in a service adapter or reactor (see tests/repo/no_blocking_test.sh):"
      echo "$hits" | sed 's/^/  /'
      fail=1
    fi
  done
  for entry in "${ALLOW[@]}"; do
    local af="${entry%%|*}" rest="${entry#*|}"
    local text="${rest%%|*}"
    if ! [ -f "$af" ] || ! grep -qF -- "$text" "$af"; then
      echo "FAIL: allow-list entry matches nothing, remove it: $af: $text"
      fail=1
    fi
  done
  # The check must see the code it guards: a wrong root would pass.
  local n
  n=$(files | wc -l)
  if [ "$n" -lt 15 ]; then
    echo "FAIL: only $n adapter and reactor files found under $ROOT/server; is this the repository root?"
    fail=1
  fi
  return "$fail"
}

if [ "$SCAN_ONLY" = 1 ]; then
  check
  rc=$?
  rm -rf "$STRIPPED"
  exit "$rc"
fi

check
fail=$?

# Self-test: on a scratch copy, one planted wait of each kind must fail the
# check, and the copy without a plant must pass.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$STRIPPED"' EXIT
plant_into=server/media/media_service.cc
PLANTS=(
  'void Planted() { (void)store_->Commit(core::Mutation{}); }'
  'void Planted() { s.Commit(std::move(m)); }'
  '#include <future>'
  'void Planted() { auto v = Wait<int>(start); }'
  'void Planted() { std::unique_lock<std::mutex> l(mu); cv.wait(l); }'
  'void Planted() { cv_.wait_for(l, std::chrono::seconds(1)); }'
  'void Planted() { server_->Wait(); }'
  'void Planted() { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }'
  'void Planted() { absl::SleepFor(absl::Seconds(1)); }'
  'void Planted() { worker.join(); }'
  'void Planted() { Lease lease(this); }'
)
copy_tree() {
  rm -rf "$scratch/tree"
  mkdir -p "$scratch/tree"
  files | while IFS= read -r f; do
    mkdir -p "$scratch/tree/$(dirname "$f")"
    cp "$f" "$scratch/tree/$f"
  done
}
copy_tree
if ! (bash "$SELF" --scan-only "$scratch/tree" >"$scratch/out" 2>&1); then
  echo "FAIL: self-test: the unplanted copy fails:"
  sed 's/^/  /' "$scratch/out"
  fail=1
fi
caught=0
for plant in "${PLANTS[@]}"; do
  copy_tree
  printf '%s\n' "$plant" >>"$scratch/tree/$plant_into"
  if (bash "$SELF" --scan-only "$scratch/tree" >"$scratch/out" 2>&1); then
    echo "FAIL: self-test: a planted wait passed the check: $plant"
    fail=1
  else
    caught=$((caught + 1))
  fi
done
# A wait in a comment is not code.
copy_tree
printf '%s\n' '// never cv.wait(l) here; sleep_for nothing' >>"$scratch/tree/$plant_into"
if ! (bash "$SELF" --scan-only "$scratch/tree" >"$scratch/out" 2>&1); then
  echo "FAIL: self-test: a wait named in a comment failed the check"
  fail=1
fi

[ "$fail" = 0 ] && echo "PASS: no blocking wait in $(files | wc -l) adapter and reactor files; self-test caught $caught of ${#PLANTS[@]} planted waits"
exit "$fail"
