#!/usr/bin/env bash
# tools/run.sh: both processes run or neither, the "[run] ready:" line, the
# local CA and HTTPS on both HTTP listeners (SWITCHBOARD_HTTP=plain: HTTP), the
# local gateway config's managed-app sig, gateway flags after `--`, and a
# clean stop on SIGTERM and on Ctrl-C.
#
#   tests/tools/run_sh_test.sh [REPO_ROOT]
#
# Runs the built binaries (SWITCHBOARD_BUILD_DIR, default build/) with
# SWITCHBOARD_SKIP_BOOTSTRAP=1, so it installs and builds nothing. The
# default ports (50051, 8081, 8080) are used, on the private loopback of a
# network namespace of its own (`unshare -n`, root only): nothing else on the
# machine is disturbed, and nothing there can take the ports.
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"

if [ -z "${SB_RUN_SH_TEST_NETNS:-}" ]; then
  if ! unshare -n true 2>/dev/null; then
    echo "FAIL: cannot make a network namespace (unshare -n needs root); this test runs run.sh on the default ports there"
    exit 1
  fi
  exec unshare -n env SB_RUN_SH_TEST_NETNS=1 "$0" "$ROOT"
fi
ip link set lo up || { echo "FAIL: ip link set lo up (iproute2) failed in the namespace"; exit 1; }
for bin in server/switchboardd gateway/switchboard-gateway; do
  [ -x "$BUILD/$bin" ] || { echo "FAIL: $BUILD/$bin is not built"; exit 1; }
done

TMP=$(mktemp -d /tmp/run-sh-test-XXXXXX)
FAILS=0
RUN_PID=""
cleanup() {
  [ -z "$RUN_PID" ] || kill -KILL -- "-$RUN_PID" 2>/dev/null
  pkill -KILL -f "$TMP" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# start_run NAME ARGS...: tools/run.sh with data in $TMP/NAME, in a session of
# its own (so a Ctrl-C can be sent to its whole process group, as a terminal
# does) with SIGINT at its default (a background job of a script ignores it).
start_run() {
  local name="$1"
  shift
  DATA="$TMP/$name"
  OUT="$TMP/$name.out"
  mkdir -p "$DATA"
  SWITCHBOARD_DATA_DIR="$DATA" SWITCHBOARD_BUILD_DIR="$BUILD" SWITCHBOARD_SKIP_BOOTSTRAP=1 \
    SWITCHBOARD_START_TIMEOUT=30 setsid python3 -c \
    'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$ROOT/tools/run.sh" "$@" > "$OUT" 2>&1 < /dev/null &
  RUN_PID=$!
}

# wait_ready: until the ready line (0) or run.sh's exit (1), at most 60s.
wait_ready() {
  local i
  for i in $(seq 1 240); do
    grep -q '^\[run\] ready:' "$OUT" && return 0
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

# wait_exit: run.sh's exit status (124 if it is still running after 60s).
wait_exit() {
  local i
  for i in $(seq 1 240); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then
      local rc=0
      wait "$RUN_PID" || rc=$?
      RUN_PID=""
      return "$rc"
    fi
    sleep 0.25
  done
  return 124
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# nothing_left NAME: no process with the case's data folder on its command line, no port open.
nothing_left() {
  local p
  if pgrep -f "$DATA" >/dev/null; then fail "$1: processes left behind: $(pgrep -af "$DATA" | tr '\n' ';')"; fi
  for p in "${@:2}"; do
    if port_open "$p"; then fail "$1: port $p still open after run.sh exited"; fi
  done
}

show() { echo "---- run.sh output ($1) ----"; cat "$OUT"; echo "----"; }

# --- 1: defaults; ready line; /resource with the generated sig; SIGTERM -----
start_run defaults
if wait_ready; then
  ready=$(grep '^\[run\] ready:' "$OUT")
  CA="$DATA/tls/ca.pem"
  want="[run] ready: switchboardd 127.0.0.1:50051 (https://127.0.0.1:8081), gateway https://127.0.0.1:8080; local CA $CA"
  [ "$ready" = "$want" ] && ok "ready line: $ready" || fail "ready line is '$ready', want '$want'"
  [ "$(grep -c '^\[run\] ready:' "$OUT")" -eq 1 ] || fail "more than one ready line"
  # Verified against the local CA, by name and by address: the certificate is right, not just present.
  for url in https://127.0.0.1:8080/healthz https://localhost:8080/healthz https://127.0.0.1:8081/healthz; do
    [ "$(curl -s --cacert "$CA" "$url")" = ok ] && ok "$url verified against the local CA" || fail "$url is not ok with --cacert $CA"
  done
  if curl -s -o /dev/null http://127.0.0.1:8080/healthz; then fail "plain HTTP to the gateway's HTTPS port was answered"; fi
  [ "$(stat -c %a "$DATA/tls/ca.key")" = 600 ] && [ "$(stat -c %a "$DATA/tls/server.key")" = 600 ] \
    && ok "the CA's and the server's keys are 0600" || fail "key modes: $(stat -c '%n %a' "$DATA"/tls/*.key)"
  grep -q "made a local CA for HTTPS: $CA" "$OUT" && ok "run.sh says where the CA is" || fail "no 'made a local CA' line"
  if grep -qi 'refused' "$OUT"; then fail "'connection refused' in the output: the gateway started before switchboardd"; fi
  sig_file="$DATA/managedapp.sig"
  if [ -s "$sig_file" ] && [ "$(stat -c %a "$sig_file")" = 600 ]; then ok "managedapp.sig is 0600"
  else fail "managedapp.sig missing, empty or not 0600"; fi
  grep -q "\"managedapp_sig_file\": \"$sig_file\"" "$DATA/gateway.json" \
    && ok "gateway.json names the sig file" || fail "gateway.json lacks managedapp_sig_file: $(cat "$DATA/gateway.json")"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
           --data-binary @"$ROOT/examples/wire/managedapp/put-succeeded.service-catalog.json" \
           --cacert "$CA" "https://127.0.0.1:8080/resource?sig=$(cat "$sig_file")")
  [ "$code" = 200 ] && ok "POST /resource?sig=<the sig> answers 200" || fail "POST /resource?sig=<the sig> answered $code, want 200"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{}' --cacert "$CA" \
           "https://127.0.0.1:8080/resource?sig=wrong")
  [ "$code" = 401 ] && ok "a wrong sig gets 401" || fail "a wrong sig got $code, want 401"
else
  fail "defaults: no ready line"; show defaults
fi
kill -TERM "$RUN_PID" 2>/dev/null
wait_exit; rc=$?
[ "$rc" -eq 0 ] && ok "SIGTERM: run.sh exits 0" || { fail "SIGTERM: run.sh exited $rc, want 0"; show defaults; }
grep -q '"msg":"stopped"' "$OUT" && ok "switchboardd drained and logged 'stopped'" || fail "no 'stopped' line from switchboardd"
nothing_left defaults 50051 8081 8080

# --- 2: port 8080 taken: neither runs ---------------------------------------
python3 -m http.server 8080 --bind 127.0.0.1 > /dev/null 2>&1 &
squatter=$!
for _ in $(seq 1 40); do port_open 8080 && break; sleep 0.25; done
start_run port_taken
wait_exit; rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then ok "port 8080 taken: run.sh exits $rc"; else fail "port 8080 taken: run.sh status $rc, want non-zero"; show port_taken; fi
grep -q '^\[run\] switchboard-gateway did not start' "$OUT" && ok "port 8080 taken: says the gateway did not start" \
  || { fail "port 8080 taken: no '[run] switchboard-gateway did not start'"; show port_taken; }
grep -q '^    .*8080' "$OUT" && ok "port 8080 taken: shows the gateway's last log lines" \
  || fail "port 8080 taken: the gateway's log lines (naming 8080) are not shown"
if grep -q '^\[run\] ready:' "$OUT"; then fail "port 8080 taken: a ready line was printed"; fi
kill "$squatter" 2>/dev/null; wait "$squatter" 2>/dev/null
nothing_left port_taken 50051 8081

# --- 3: a bad switchboardd flag: the gateway is never started ----------------
start_run bad_flag --no_such_flag=1
wait_exit; rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "bad flag: run.sh exits $rc" || fail "bad flag: run.sh status $rc, want non-zero"
grep -q '^\[run\] switchboardd did not start' "$OUT" && grep -q 'no_such_flag' "$OUT" \
  && ok "bad flag: says switchboardd did not start, naming the flag" || { fail "bad flag: reason not shown"; show bad_flag; }
if grep -q 'starting switchboard-gateway' "$OUT"; then fail "bad flag: the gateway was started"; fi
nothing_left bad_flag 50051 8081 8080

# --- 4: an older gateway.json gets the sig; free ports; gateway flags after --; Ctrl-C
mkdir -p "$TMP/older"
printf 'k1\n' > "$TMP/older/eventgrid.key"
printf 'k2\n' > "$TMP/older/eventgrid-topic.key"
cat > "$TMP/older/gateway.json" <<JSON
{
  "eventgrid_key_file": "$TMP/older/eventgrid.key",
  "eventgrid_topic_url": "http://127.0.0.1:9100/api/events",
  "eventgrid_topic_key_file": "$TMP/older/eventgrid-topic.key",
  "log_level": "info"
}
JSON
chmod 600 "$TMP/older/gateway.json"
start_run older --grpc_address=127.0.0.1:0 --http_address=127.0.0.1:0 -- --http_address=127.0.0.1:0
if wait_ready; then
  ready=$(grep '^\[run\] ready:' "$OUT")
  re='^\[run\] ready: switchboardd 127\.0\.0\.1:([0-9]+) \(https://127\.0\.0\.1:([0-9]+)\), gateway https://127\.0\.0\.1:([0-9]+); local CA .*/tls/ca\.pem$'
  if [[ "$ready" =~ $re ]] && [ "${BASH_REMATCH[1]}" != 0 ] && [ "${BASH_REMATCH[2]}" != 0 ] \
     && [ "${BASH_REMATCH[3]}" != 0 ] && [ "${BASH_REMATCH[3]}" != 8080 ]; then
    ok "port 0 everywhere: the ready line has the bound ports ($ready)"
    gw="127.0.0.1:${BASH_REMATCH[3]}"
    [ "$(curl -s --cacert "$DATA/tls/ca.pem" "https://$gw/healthz")" = ok ] && ok "gateway flag after --: the gateway serves on $gw and reaches switchboardd" \
      || fail "gateway /healthz on $gw is not ok"
  else
    fail "port 0: ready line '$ready'"
  fi
  python3 - "$TMP/older" <<'PY' && ok "older gateway.json: sig added, other keys kept" || fail "older gateway.json: $(cat "$TMP/older/gateway.json")"
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/gateway.json"))
assert c == {"eventgrid_key_file": d + "/eventgrid.key", "eventgrid_topic_url": "http://127.0.0.1:9100/api/events",
             "eventgrid_topic_key_file": d + "/eventgrid-topic.key", "log_level": "info",
             "managedapp_sig_file": d + "/managedapp.sig"}, c
PY
  [ "$(stat -c %a "$TMP/older/gateway.json")" = 600 ] && ok "older gateway.json keeps mode 0600" || fail "older gateway.json mode changed"
else
  fail "older: no ready line"; show older
fi
kill -INT -- "-$RUN_PID" 2>/dev/null   # Ctrl-C: the whole process group
wait_exit; rc=$?
[ "$rc" -eq 0 ] && ok "Ctrl-C: run.sh exits 0" || { fail "Ctrl-C: run.sh exited $rc, want 0"; show older; }
grep -q '"msg":"stopped"' "$OUT" && ok "Ctrl-C: switchboardd's last log line still reaches the output" \
  || fail "Ctrl-C: no 'stopped' line from switchboardd"
nothing_left older

# --- 5: --log_level=warn hides the "serving" lines: the addresses come from the defaults
start_run quiet --log_level=warn -- --log_level=warn
if wait_ready; then
  ready=$(grep '^\[run\] ready:' "$OUT")
  [ "$ready" = "[run] ready: switchboardd 127.0.0.1:50051 (https://127.0.0.1:8081), gateway https://127.0.0.1:8080; local CA $DATA/tls/ca.pem" ] \
    && ok "log_level=warn: ready ($ready)" || fail "log_level=warn: ready line '$ready'"
else
  fail "log_level=warn: no ready line"; show quiet
fi
kill -TERM "$RUN_PID" 2>/dev/null
wait_exit; rc=$?
[ "$rc" -eq 0 ] || fail "log_level=warn: SIGTERM status $rc"
nothing_left quiet 50051 8081 8080

# --- 6: SWITCHBOARD_HTTP=plain: HTTP on both, no CA made ---------------------
SWITCHBOARD_HTTP=plain start_run plain
if wait_ready; then
  ready=$(grep '^\[run\] ready:' "$OUT")
  [ "$ready" = '[run] ready: switchboardd 127.0.0.1:50051 (http://127.0.0.1:8081), gateway http://127.0.0.1:8080' ] \
    && ok "SWITCHBOARD_HTTP=plain: ready ($ready)" || fail "SWITCHBOARD_HTTP=plain: ready line '$ready'"
  [ "$(curl -s http://127.0.0.1:8080/healthz)" = ok ] && ok "plain: gateway /healthz over HTTP" || fail "plain: gateway /healthz"
  [ ! -e "$DATA/tls" ] && ok "plain: no CA made" || fail "plain: $DATA/tls exists"
else
  fail "plain: no ready line"; show plain
fi
kill -TERM "$RUN_PID" 2>/dev/null
wait_exit; rc=$?
[ "$rc" -eq 0 ] || fail "plain: SIGTERM status $rc"
nothing_left plain 50051 8081 8080

if [ "$FAILS" -ne 0 ]; then echo "FAIL: $FAILS check(s) failed"; exit 1; fi
echo "PASS"
