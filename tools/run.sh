#!/usr/bin/env bash
# The README's "run Switchboard": installs what is missing, builds switchboardd,
# switchboard-gateway and sbctl, then runs switchboardd (gRPC 127.0.0.1:50051,
# HTTP 127.0.0.1:8081) and, once it is healthy, the gateway (HTTP 127.0.0.1:8080).
#
#   tools/run.sh [SWITCHBOARDD_FLAGS...] [-- GATEWAY_FLAGS...]
#   tools/run.sh --log_level=debug                      # flags for switchboardd
#   tools/run.sh -- --http_address=127.0.0.1:9080       # flags after a lone -- go to the gateway
#
# Both run or neither: if either fails to start (a port in use, a bad flag),
# the other is stopped and run.sh exits non-zero with that process's last log
# lines. When both answer /healthz it prints one line to stderr starting with
# "[run] ready:". Ctrl-C or SIGTERM stops both (exit 0 when both stop cleanly);
# if one exits by itself, the other is stopped and run.sh exits non-zero.
#
# HTTPS: both HTTP listeners serve TLS with a certificate for localhost,
# 127.0.0.1 and ::1 from a local CA that run.sh makes on first start in
# <data>/tls/ (ca.pem is the one to trust: curl --cacert, sbctl --http_ca or
# SWITCHBOARD_HTTP_CA). Flags or a config naming their own http_tls_cert_file
# (or switchboardd's tls_cert_file) are left alone.
#
# Environment:
#   SWITCHBOARD_DATA_DIR        state folder (default ~/.local/share/switchboard); logs in its logs/
#   SWITCHBOARD_BUILD_DIR       build folder (default build/)
#   SWITCHBOARD_SKIP_BOOTSTRAP  1: install and build nothing, run the binaries already built
#   SWITCHBOARD_GATEWAY_CONFIG  gateway JSON config (default: one made in the data folder)
#   SWITCHBOARD_NO_GATEWAY      1: run switchboardd alone
#   SWITCHBOARD_START_TIMEOUT   seconds each process gets to become healthy (default 60)
#   SWITCHBOARD_HTTP            plain: serve HTTP, not HTTPS, and make no CA
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
START_TIMEOUT="${SWITCHBOARD_START_TIMEOUT:-60}"

log() { echo "[run] $*" >&2; }
die() { log "$*"; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
case "$START_TIMEOUT" in ''|*[!0-9]*) die "SWITCHBOARD_START_TIMEOUT must be a number of seconds, got '$START_TIMEOUT'" ;; esac

# Arguments before a lone `--` go to switchboardd, the rest to the gateway.
SB_ARGS=()
GW_ARGS=()
to_gateway=0
for arg in "$@"; do
  if [ "$to_gateway" -eq 0 ] && [ "$arg" = "--" ]; then to_gateway=1; continue; fi
  if [ "$to_gateway" -eq 1 ]; then GW_ARGS+=("$arg"); else SB_ARGS+=("$arg"); fi
done

SB_BIN="$BUILD/server/switchboardd"
GW_BIN="$BUILD/gateway/switchboard-gateway"
if [ "${SWITCHBOARD_SKIP_BOOTSTRAP:-0}" = 1 ]; then
  for bin in "$SB_BIN" "$GW_BIN"; do
    [ -x "$bin" ] || die "$bin is not built; run tools/run.sh without SWITCHBOARD_SKIP_BOOTSTRAP=1"
  done
else
  "$ROOT/tools/bootstrap.sh"
fi

DATA="${SWITCHBOARD_DATA_DIR:-${HOME:-/root}/.local/share/switchboard}"
mkdir -p "$DATA/logs"
SB_LOG="$DATA/logs/switchboardd.log"
GW_LOG="$DATA/logs/gateway.log"

# --- addresses ---------------------------------------------------------------

# flag_value NAME ARGS...: the value of the last --NAME=V or --NAME V in ARGS.
flag_value() {
  local name="$1" value="" found=1
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --) break ;;
      "--$name="*) value="${1#*=}"; found=0 ;;
      "--$name") if [ $# -gt 1 ]; then value="$2"; found=0; shift; fi ;;
    esac
    shift
  done
  [ "$found" -eq 0 ] && printf '%s\n' "$value"
}

# config_value FILE KEY: the string value of KEY in a JSON config file, if any.
config_value() {
  [ -f "$1" ] && command -v python3 >/dev/null 2>&1 || return 1
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    sys.exit(1)
if not isinstance(v, str):
    sys.exit(1)
print(v)
PY
}

# address NAME DEFAULT ARGS...: where a process will listen, from its flags,
# then its --config file, then its default.
address() {
  local name="$1" default="$2" v cfg
  shift 2
  if v=$(flag_value "$name" "$@"); then echo "$v"; return; fi
  if cfg=$(flag_value config "$@") && v=$(config_value "$cfg" "$name"); then echo "$v"; return; fi
  echo "$default"
}

# logged_address LOG KEY: KEY of the "serving" line the process logged (its real, bound address).
logged_address() {
  { grep -m1 '"msg":"serving"' "$1" 2>/dev/null | grep -o "\"$2\":\"[^\"]*\"" | head -n1 | cut -d'"' -f4; } || true
}

# dialable ADDRESS: the address to connect to for a listen address (a wildcard host means loopback).
dialable() {
  case "$1" in
    0.0.0.0:*) echo "127.0.0.1:${1##*:}" ;;
    "[::]:"*) echo "[::1]:${1##*:}" ;;
    :*) echo "127.0.0.1$1" ;;
    *) echo "$1" ;;
  esac
}

# healthy ADDRESS SCHEME: the process answers /healthz. A liveness probe of
# our own child on loopback, so the certificate is not checked (-k): the
# user's own certificates need not be from the local CA.
healthy() { curl -gfsSk --max-time 2 -o /dev/null "$2://$(dialable "$1")/healthz" 2>/dev/null; }

# --- HTTPS -------------------------------------------------------------------

TLS_DIR="$DATA/tls"
LOCAL_CA="$TLS_DIR/ca.pem"
HTTPS=1
[ "${SWITCHBOARD_HTTP:-}" = plain ] && HTTPS=0

# make_local_ca: a CA and a server certificate signed by it, once (kept
# across runs, so a client that trusts ca.pem keeps trusting it).
make_local_ca() {
  [ -f "$LOCAL_CA" ] && [ -f "$TLS_DIR/server.pem" ] && [ -f "$TLS_DIR/server.key" ] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the local CA: run tools/bootstrap.sh (or SWITCHBOARD_HTTP=plain)"
  mkdir -p "$TLS_DIR"
  local out="$TLS_DIR/openssl.log"
  (
    umask 077
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem.tmp -days 3650 \
      -subj "/CN=Switchboard local CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem.tmp -CAkey ca.key -CAcreateserial -out server.pem -days 825 \
      -extfile server.ext &&
    rm -f server.csr server.ext ca.srl && chmod 644 ca.pem.tmp server.pem && mv ca.pem.tmp ca.pem
  ) > "$out" 2>&1 || { tail -n 5 "$out" >&2; die "could not make the local CA in $TLS_DIR (see $out)"; }
  log "made a local CA for HTTPS: $LOCAL_CA (trust it: curl --cacert, sbctl --http_ca or SWITCHBOARD_HTTP_CA)"
}
CA_NOTE=""  # "; local CA <path>" once a process serves with the local CA's certificate

# has_tls_setting KEY... -- ARGS: a flag or the --config file among ARGS names one of the KEYs.
has_tls_setting() {
  local keys=() cfg k
  while [ "$1" != "--" ]; do keys+=("$1"); shift; done
  shift
  for k in "${keys[@]}"; do
    flag_value "$k" "$@" >/dev/null && return 0
    if cfg=$(flag_value config "$@") && config_value "$cfg" "$k" >/dev/null; then return 0; fi
  done
  return 1
}

# --- processes ---------------------------------------------------------------

SB_PID=""
GW_PID=""

# start LOG COMMAND...: runs COMMAND in the background with its output both on
# our stderr and in LOG (truncated); sets STARTED_PID. The tee ignores
# Ctrl-C, so the process's last lines while it drains still get through.
start() {
  local logfile="$1"
  shift
  : > "$logfile"
  "$@" > >(trap '' INT TERM; exec tee -a "$logfile" >&2) 2>&1 &
  STARTED_PID=$!
}

# stop_pid PID: SIGTERM, up to 30s to exit, then SIGKILL; returns its exit status.
stop_pid() {
  local pid="$1" _
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop within 30s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# stop_all: the gateway first (it depends on switchboardd); 0 if both stopped cleanly.
stop_all() {
  local rc=0
  trap - INT TERM
  if [ -n "$GW_PID" ]; then stop_pid "$GW_PID" || rc=1; GW_PID=""; fi
  if [ -n "$SB_PID" ]; then stop_pid "$SB_PID" || rc=1; SB_PID=""; fi
  return "$rc"
}

on_signal() {
  log "stopping"
  if stop_all; then log "stopped"; exit 0; fi
  log "stopped; a process did not exit cleanly (see above)"
  exit 1
}
trap on_signal INT TERM
trap 'stop_all || true' EXIT

# failed NAME PID LOG WHY: reports why NAME did not start, with its last log lines, and exits 1.
failed() {
  local name="$1" pid="$2" logfile="$3" why="$4"
  if ! kill -0 "$pid" 2>/dev/null; then
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    why="exited with status $rc"
    if [ "$pid" = "$SB_PID" ]; then SB_PID=""; else GW_PID=""; fi
  fi
  log "$name did not start: $why. Its last log lines ($logfile):"
  tail -n 15 "$logfile" | sed 's/^/    /' >&2
  stop_all || true
  exit 1
}

# wait_healthy NAME PID LOG FALLBACK ARGS...: waits until the process answers
# /healthz on its HTTP address and sets HEALTHY_ADDR to it. The address is the
# http_address of its "serving" log line (the bound one, so port 0 works and
# another process on the port is never taken for ours); FALLBACK (from its
# flags or config) only when its log_level (in ARGS) hides that line.
HEALTHY_ADDR=""
HEALTHY_SCHEME=""
wait_healthy() {
  local name="$1" pid="$2" logfile="$3" fallback="$4" scheme_key="$5" addr="" level scheme
  shift 5
  level=$(address log_level info "$@")
  case "$level" in warn|error) ;; *) fallback="" ;; esac
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    kill -0 "$pid" 2>/dev/null || failed "$name" "$pid" "$logfile" "it exited"
    addr=$(logged_address "$logfile" http_address)
    [ -n "$addr" ] || addr="$fallback"
    scheme=$(logged_address "$logfile" "$scheme_key")
    [ -n "$scheme" ] || scheme="$FALLBACK_SCHEME"
    if [ -n "$addr" ] && healthy "$addr" "$scheme"; then
      if [ "$addr" = "$fallback" ]; then
        # No log line says the port is ours: one that lost it to another process exits at once.
        sleep 1
        kill -0 "$pid" 2>/dev/null || failed "$name" "$pid" "$logfile" "it exited"
      fi
      HEALTHY_ADDR="$addr"
      HEALTHY_SCHEME="$scheme"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      failed "$name" "$pid" "$logfile" \
        "not healthy within ${START_TIMEOUT}s ($scheme://${addr:-<no \"serving\" log line yet>}/healthz)"
    fi
    sleep 0.25
  done
}

# --- switchboardd ------------------------------------------------------------

SB_CMD=("$SB_BIN" --data_dir="$DATA")
FALLBACK_SCHEME=http
if [ "$HTTPS" -eq 1 ] && ! has_tls_setting http_tls_cert_file tls_cert_file -- "${SB_ARGS[@]}"; then
  make_local_ca
  SB_CMD+=(--http_tls_cert_file="$TLS_DIR/server.pem" --http_tls_key_file="$TLS_DIR/server.key")
  FALLBACK_SCHEME=https
  CA_NOTE="; local CA $LOCAL_CA"
fi
SB_CMD+=("${SB_ARGS[@]}")
log "starting switchboardd (data in $DATA)"
start "$SB_LOG" "${SB_CMD[@]}"
SB_PID=$STARTED_PID
wait_healthy switchboardd "$SB_PID" "$SB_LOG" "$(address http_address 127.0.0.1:8081 "${SB_ARGS[@]}")" http_scheme \
  "${SB_ARGS[@]}"
SB_HTTP="$HEALTHY_SCHEME://$HEALTHY_ADDR"
SB_GRPC=$(logged_address "$SB_LOG" grpc_address)
[ -n "$SB_GRPC" ] || SB_GRPC=$(address grpc_address 127.0.0.1:50051 "${SB_ARGS[@]}")

if [ "${SWITCHBOARD_NO_GATEWAY:-0}" = 1 ]; then
  log "ready: switchboardd $SB_GRPC ($SB_HTTP), no gateway (SWITCHBOARD_NO_GATEWAY=1)$CA_NOTE"
else
  # --- the gateway -----------------------------------------------------------

  # Without a config of its own, the gateway gets a local one made once in the
  # data folder: /api/eventgrid on with a key of its own, the publisher posting
  # to http://127.0.0.1:9100/api/events (where `sbctl eventgrid listen` plays
  # the topic), and /resource on with a sig of its own. The secrets are files
  # beside it (0600). A config from an older run that lacks the sig gets it.
  new_secret() { (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$1"); }
  local_gateway_config() {
    local cfg="$DATA/gateway.json"
    if [ ! -f "$cfg" ]; then
      new_secret "$DATA/eventgrid.key"
      new_secret "$DATA/eventgrid-topic.key"
      new_secret "$DATA/managedapp.sig"
      (umask 077
       cat > "$cfg" <<JSON
{
  "eventgrid_key_file": "$DATA/eventgrid.key",
  "eventgrid_topic_url": "http://127.0.0.1:9100/api/events",
  "eventgrid_topic_key_file": "$DATA/eventgrid-topic.key",
  "managedapp_sig_file": "$DATA/managedapp.sig"
}
JSON
      )
    elif ! grep -q '"managedapp_sig' "$cfg"; then
      command -v python3 >/dev/null 2>&1 || die "python3 is needed to add managedapp_sig_file to $cfg; run tools/bootstrap.sh"
      [ -f "$DATA/managedapp.sig" ] || new_secret "$DATA/managedapp.sig"
      python3 - "$cfg" "$DATA/managedapp.sig" <<'PY' || die "cannot add managedapp_sig_file to $DATA/gateway.json (is it valid JSON?)"
import json, os, stat, sys
path, sig = sys.argv[1], sys.argv[2]
with open(path) as f:
    cfg = json.load(f)
cfg["managedapp_sig_file"] = sig
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
os.replace(tmp, path)
PY
      log "added managedapp_sig_file ($DATA/managedapp.sig) to $cfg"
    fi
    GW_CONFIG="$cfg"
  }

  GW_CMD=("$GW_BIN")
  if GW_CONFIG=$(flag_value config "${GW_ARGS[@]}"); then
    :  # the user's --config, among GW_ARGS
  else
    if [ -n "${SWITCHBOARD_GATEWAY_CONFIG:-}" ]; then GW_CONFIG="$SWITCHBOARD_GATEWAY_CONFIG"; else local_gateway_config; fi
    GW_CMD+=(--config="$GW_CONFIG")
  fi
  # The gateway talks to this switchboardd unless told otherwise.
  if ! flag_value server "${GW_ARGS[@]}" >/dev/null && ! config_value "$GW_CONFIG" server >/dev/null; then
    GW_CMD+=(--server="$(dialable "$SB_GRPC")")
  fi
  FALLBACK_SCHEME=http
  if [ "$HTTPS" -eq 1 ] && ! has_tls_setting http_tls_cert_file -- --config="$GW_CONFIG" "${GW_ARGS[@]}"; then
    make_local_ca
    GW_CMD+=(--http_tls_cert_file="$TLS_DIR/server.pem" --http_tls_key_file="$TLS_DIR/server.key")
    FALLBACK_SCHEME=https
    CA_NOTE="; local CA $LOCAL_CA"
  fi
  GW_CMD+=("${GW_ARGS[@]}")
  log "switchboardd is healthy; starting switchboard-gateway (config $GW_CONFIG)"
  start "$GW_LOG" "${GW_CMD[@]}"
  GW_PID=$STARTED_PID
  wait_healthy switchboard-gateway "$GW_PID" "$GW_LOG" \
    "$(address http_address 127.0.0.1:8080 --config="$GW_CONFIG" "${GW_ARGS[@]}")" scheme --config="$GW_CONFIG" \
    "${GW_ARGS[@]}"
  GW_HTTP="$HEALTHY_SCHEME://$HEALTHY_ADDR"
  log "ready: switchboardd $SB_GRPC ($SB_HTTP), gateway $GW_HTTP$CA_NOTE"
fi

# Until one of them exits (or a signal): then the other is stopped too.
set +e
if [ -n "$GW_PID" ]; then wait -n "$SB_PID" "$GW_PID"; else wait "$SB_PID"; fi
rc=$?
if ! kill -0 "$SB_PID" 2>/dev/null; then who=switchboardd; SB_PID=""; else who=switchboard-gateway; GW_PID=""; fi
log "$who exited with status $rc; stopping"
stop_all
exit 1
