#!/usr/bin/env bash
# Several switchboardd replicas and gateways on one PostgreSQL, on loopback
# (docs/scale-out.md):
#
#   tools/cluster.sh start         # PostgreSQL, Azurite (tools/services.sh), shared git remotes,
#                                  # 3 replicas, a local Event Grid topic (sbctl eventgrid listen)
#                                  # and 2 gateways; prints one "[cluster] ready" line
#   tools/cluster.sh env           # export lines: SB_CLUSTER_TARGET (a gRPC target listing every
#                                  # replica, for sbctl --server), SB_REPLICA_<n>, SB_GATEWAY_<n>,
#                                  # SB_EVENTGRID_* (the topic's URL and log), SB_*_QUEUE, Azurite's
#   tools/cluster.sh status        # each process: alive or not, its address, and which gateway
#                                  # holds the publisher's and the status emitter's leases
#   tools/cluster.sh kill N        # kill -9 replica N
#   tools/cluster.sh start-replica N   # start replica N again, on its own data dir
#   tools/cluster.sh kill-gateway N    # kill -9 gateway N
#   tools/cluster.sh start-gateway N   # start gateway N again, with its config
#   tools/cluster.sh holder eventgrid|status-queue  # the number of the gateway holding that
#                                  # cursor's lease (waits up to 30 s for one to hold it)
#   tools/cluster.sh queue put QUEUE FILE   # put FILE's JSON on an Azurite queue of the cluster
#   tools/cluster.sh queue peek QUEUE       # print the messages waiting on it, one a line
#   tools/cluster.sh wait-topic PATTERN [COUNT]  # wait (60 s at most) for COUNT events (1) in the
#                                  # topic's log matching PATTERN (grep -E); print them
#   tools/cluster.sh wait-queue QUEUE PATTERN    # wait (60 s at most) for a message on QUEUE
#                                  # matching PATTERN; print the matches
#   tools/cluster.sh stop          # stops everything and removes the folder; safe to call twice
#
# State in $SWITCHBOARD_CLUSTER_DIR (default /tmp/switchboard-cluster).
# SWITCHBOARD_CLUSTER_REPLICAS sets the number of replicas (default 3).
# Builds what is missing first (tools/bootstrap.sh --test; not with
# SWITCHBOARD_SKIP_BOOTSTRAP=1, as tools/readme-check.sh runs it). Plain HTTP and
# gRPC on 127.0.0.1, on free ports. Replicated mode needs real git remotes
# and no local blob accounts: the remotes are bare repositories in the
# cluster's folder (file:// URLs, outside every replica's data dir), and the
# blob account is Azurite's devstoreaccount1.
#
# Both gateways take Event Grid requests (/api/eventgrid, key in eventgrid.key)
# and run the publisher, posting to the cluster's topic (`sbctl eventgrid
# listen` on a free port, key in eventgrid-topic.key, one line per event in
# eventgrid-topic.log), and both run the storage queue adapter on Azurite's
# queues (run requests in, status messages out). One gateway publishes and one
# emits status messages at a time, through their cursors' leases (10 s); the
# other stands by and takes over when the holder dies (docs/gateway.md,
# "Several gateways, one publisher").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
DIR="${SWITCHBOARD_CLUSTER_DIR:-/tmp/switchboard-cluster}"
N="${SWITCHBOARD_CLUSTER_REPLICAS:-3}"
GATEWAYS=2
SB_BIN="$BUILD/server/switchboardd"
GW_BIN="$BUILD/gateway/switchboard-gateway"
SBCTL_BIN="$BUILD/clients/sbctl/sbctl"
STATE="$DIR/state"

log() { echo "[cluster] $*" >&2; }
die() { log "$*"; exit 1; }

# wait_http URL PID LOG: until URL answers 200 (healthz); fails if PID died.
wait_http() {
  local deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      log "process $2 exited; the end of its log ($3):"
      tail -n 20 "$3" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "$1 did not answer within 60s"
  return 1
}

load_state() {
  [ -f "$STATE" ] || die "not started ($STATE is missing): run tools/cluster.sh start"
  # shellcheck disable=SC1090
  . "$STATE"
}

# The bare remotes every replica pushes to: infra (a README and
# terraform/projects/) and modules (the example templates).
make_remotes() {
  local r="$DIR/remotes" work
  mkdir -p "$r"
  git init -q --bare -b main "$r/infra.git"
  git init -q --bare -b main "$r/modules.git"
  work=$(mktemp -d "$DIR/seed-XXXXXX")
  git -C "$work" init -q -b main infra
  printf '# Infrastructure\n\nManaged by Switchboard.\n' > "$work/infra/README.md"
  mkdir -p "$work/infra/terraform/projects"
  touch "$work/infra/terraform/projects/.gitkeep"
  git -C "$work/infra" add -A
  git -C "$work/infra" -c user.name=switchboard -c user.email=switchboard@localhost commit -q -m "Initial commit"
  git -C "$work/infra" push -q "$r/infra.git" main
  cp -r "$ROOT/examples/modules" "$work/modules"
  git -C "$work/modules" init -q -b main
  git -C "$work/modules" add -A
  git -C "$work/modules" -c user.name=switchboard -c user.email=switchboard@localhost commit -q -m "Modules"
  git -C "$work/modules" push -q "$r/modules.git" main
  rm -rf "$work"
}

start_replica() {
  local i="$1" grpc http
  eval "grpc=\$REPLICA_${i}_GRPC; http=\$REPLICA_${i}_HTTP"
  mkdir -p "$DIR/replica-$i"
  setsid "$SB_BIN" --config="$DIR/switchboardd.json" --data_dir="$DIR/replica-$i" \
    --grpc_address="127.0.0.1:$grpc" --http_address="127.0.0.1:$http" \
    </dev/null >>"$DIR/replica-$i.log" 2>&1 &
  echo $! > "$DIR/replica-$i.pid"
  wait_http "http://127.0.0.1:$http/healthz" "$!" "$DIR/replica-$i.log" || return 1
  log "replica $i: gRPC 127.0.0.1:$grpc, HTTP 127.0.0.1:$http (pid $(cat "$DIR/replica-$i.pid"))"
}

start() {
  [ -e "$STATE" ] && { log "$DIR holds an earlier start; stopping that first"; stop; }
  if [ "${SWITCHBOARD_SKIP_BOOTSTRAP:-0}" != 1 ]; then "$ROOT/tools/bootstrap.sh" --test >&2; fi
  [ -x "$SB_BIN" ] && [ -x "$GW_BIN" ] && [ -x "$SBCTL_BIN" ] || die "switchboardd, the gateway or sbctl is not built in $BUILD"
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  # Written first, so that `stop` after a half-done start still finds everything.
  local ports i
  read -r -a ports < <("$ROOT/tools/services.sh" free-ports $((2 * N + GATEWAYS)))
  {
    echo "N=$N"
    echo "GATEWAYS=$GATEWAYS"
    for i in $(seq 1 "$N"); do
      echo "REPLICA_${i}_GRPC=${ports[$((2 * i - 2))]}"
      echo "REPLICA_${i}_HTTP=${ports[$((2 * i - 1))]}"
    done
    for i in $(seq 1 "$GATEWAYS"); do echo "GATEWAY_${i}_HTTP=${ports[$((2 * N + i - 1))]}"; done
    echo "RUN_REQUEST_QUEUE=resource-run-request"
    echo "STATUS_QUEUE=terraform-output"
  } > "$STATE"
  load_state

  SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" start || { stop; exit 1; }
  eval "$(SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" env)"
  make_remotes
  python3 - "$DIR/switchboardd.json" <<PY
import json, sys
cfg = {
  "store": "$SWITCHBOARD_TEST_PG_URL",
  "resourcing": {"infra_url": "file://$DIR/remotes/infra.git", "modules_url": "file://$DIR/remotes/modules.git"},
  "media": {"local_accounts": [],
            "azure_accounts": [{"name": "$SWITCHBOARD_TEST_AZURITE_ACCOUNT", "endpoint": "$SWITCHBOARD_TEST_AZURITE_BLOB",
                                "key1": "$SWITCHBOARD_TEST_AZURITE_KEY"}]},
}
with open(sys.argv[1], "w") as f:
    json.dump(cfg, f, indent=2)
PY
  for i in $(seq 1 "$N"); do start_replica "$i" || { stop; exit 1; }; done

  new_secret "$DIR/eventgrid.key"
  new_secret "$DIR/eventgrid-topic.key"
  printf '%s\n' "$SWITCHBOARD_TEST_AZURITE_KEY" > "$DIR/azurite.key"
  chmod 600 "$DIR/azurite.key"
  start_topic || { stop; exit 1; }
  load_state

  # Each gateway lists every replica, its own first: gRPC's pick_first
  # connects to the first that answers and moves on when it dies.
  local g targets k
  for g in $(seq 1 "$GATEWAYS"); do
    targets=""
    for k in $(seq 0 $((N - 1))); do
      i=$(( (g - 1 + k) % N + 1 ))
      eval "targets=\"\${targets:+\$targets,}127.0.0.1:\$REPLICA_${i}_GRPC\""
    done
    eval "local port=\$GATEWAY_${g}_HTTP"
    cat > "$DIR/gateway-$g.json" <<JSON
{
  "server": "ipv4:$targets",
  "http_address": "127.0.0.1:$port",
  "eventgrid_key_file": "$DIR/eventgrid.key",
  "eventgrid_topic_url": "$TOPIC_URL",
  "eventgrid_topic_key_file": "$DIR/eventgrid-topic.key",
  "azure_queue_endpoint": "$SWITCHBOARD_TEST_AZURITE_QUEUE",
  "azure_storage_account": "$SWITCHBOARD_TEST_AZURITE_ACCOUNT",
  "azure_storage_key_file": "$DIR/azurite.key",
  "run_request_queue": "$RUN_REQUEST_QUEUE",
  "status_queue": "$STATUS_QUEUE"
}
JSON
    start_gateway "$g" || { stop; exit 1; }
  done
  log "ready: $N replicas ($(target)), $GATEWAYS gateways, Event Grid topic $TOPIC_URL; state in $DIR"
}

new_secret() {
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$1"
  chmod 600 "$1"
}

# The cluster's Event Grid topic: sbctl eventgrid listen on a free port (it
# binds port 0 and names its URL on stderr), one line per event received in
# eventgrid-topic.log. Its URL goes into the state as TOPIC_URL.
start_topic() {
  local log_file="$DIR/eventgrid-topic.log" url="" deadline=$((SECONDS + 30))
  setsid "$SBCTL_BIN" eventgrid listen --port=0 --key_file="$DIR/eventgrid-topic.key" \
    </dev/null >>"$log_file" 2>&1 &
  echo $! > "$DIR/eventgrid-topic.pid"
  while [ -z "$url" ]; do
    url=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*/api/events\).*|\1|p' "$log_file" | head -n 1)
    [ -n "$url" ] && break
    if ! alive "$DIR/eventgrid-topic.pid" || [ "$SECONDS" -ge "$deadline" ]; then
      log "the Event Grid topic (sbctl eventgrid listen) did not start; its log ($log_file):"
      tail -n 20 "$log_file" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "TOPIC_URL=$url" >> "$STATE"
  log "Event Grid topic: $url (pid $(cat "$DIR/eventgrid-topic.pid")), events in $log_file"
}

start_gateway() {
  local g="$1" port
  eval "port=\$GATEWAY_${g}_HTTP"
  setsid "$GW_BIN" --config="$DIR/gateway-$g.json" </dev/null >>"$DIR/gateway-$g.log" 2>&1 &
  echo $! > "$DIR/gateway-$g.pid"
  wait_http "http://127.0.0.1:$port/healthz" "$!" "$DIR/gateway-$g.log" || return 1
  log "gateway $g: HTTP 127.0.0.1:$port (pid $(cat "$DIR/gateway-$g.pid"))"
}

target() {
  local i out=""
  for i in $(seq 1 "$N"); do eval "out=\"\${out:+\$out,}127.0.0.1:\$REPLICA_${i}_GRPC\""; done
  echo "ipv4:$out"
}

env_lines() {
  load_state
  local i
  echo "export SB_CLUSTER_TARGET='$(target)'"
  for i in $(seq 1 "$N"); do
    eval "echo \"export SB_REPLICA_${i}=127.0.0.1:\$REPLICA_${i}_GRPC SB_REPLICA_${i}_HTTP=127.0.0.1:\$REPLICA_${i}_HTTP\""
  done
  for i in $(seq 1 "$GATEWAYS"); do eval "echo \"export SB_GATEWAY_${i}=http://127.0.0.1:\$GATEWAY_${i}_HTTP\""; done
  echo "export SB_EVENTGRID_KEY_FILE=$DIR/eventgrid.key"
  echo "export SB_EVENTGRID_TOPIC_URL=${TOPIC_URL:-} SB_EVENTGRID_TOPIC_KEY_FILE=$DIR/eventgrid-topic.key"
  echo "export SB_EVENTGRID_TOPIC_LOG=$DIR/eventgrid-topic.log"
  echo "export SB_RUN_REQUEST_QUEUE=$RUN_REQUEST_QUEUE SB_STATUS_QUEUE=$STATUS_QUEUE"
  SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" env
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# gauge G METRIC: the value of METRIC on gateway G's /metrics ("" if it does
# not answer).
gauge() {
  local port
  eval "port=\$GATEWAY_${1}_HTTP"
  curl -fsS -m 2 "http://127.0.0.1:$port/metrics" 2>/dev/null | awk -v m="$2" '$1 == m { print $2 }'
}

# roles G: which cursor leases gateway G holds, as words for status.
roles() {
  local out=""
  [ "$(gauge "$1" switchboard_gateway_eventgrid_cursor_lease_held)" = 1 ] && out="publishes to Event Grid"
  [ "$(gauge "$1" switchboard_gateway_status_queue_cursor_lease_held)" = 1 ] &&
    out="${out:+$out, }emits status messages"
  echo "${out:-stands by}"
}

status() {
  load_state
  local i s
  for i in $(seq 1 "$N"); do
    if alive "$DIR/replica-$i.pid"; then s=up; else s=down; fi
    eval "echo \"replica $i: \$s (gRPC 127.0.0.1:\$REPLICA_${i}_GRPC)\""
  done
  if alive "$DIR/eventgrid-topic.pid"; then s=up; else s=down; fi
  echo "event grid topic: $s (${TOPIC_URL:-no URL}, $(grep -c '^#' "$DIR/eventgrid-topic.log" 2>/dev/null || true) events in $DIR/eventgrid-topic.log)"
  for i in $(seq 1 "$GATEWAYS"); do
    if alive "$DIR/gateway-$i.pid"; then s="up, $(roles "$i")"; else s=down; fi
    eval "echo \"gateway $i: \$s (HTTP 127.0.0.1:\$GATEWAY_${i}_HTTP)\""
  done
}

# holder eventgrid|status-queue: prints the number of the one live gateway
# whose gauge says it holds that cursor's lease; waits up to 30 s (a dead
# holder's lease runs out after 10 s, and a standby tries every 2 s).
holder() {
  load_state
  local metric g found deadline=$((SECONDS + 30))
  case "${1:-}" in
    eventgrid) metric=switchboard_gateway_eventgrid_cursor_lease_held ;;
    status-queue) metric=switchboard_gateway_status_queue_cursor_lease_held ;;
    *) die "holder: give eventgrid or status-queue" ;;
  esac
  while :; do
    found=""
    for g in $(seq 1 "$GATEWAYS"); do
      alive "$DIR/gateway-$g.pid" && [ "$(gauge "$g" "$metric")" = 1 ] && found="$found $g"
    done
    # shellcheck disable=SC2086 # one word per gateway number
    set -- "$1" $found
    [ "$#" -gt 2 ] && die "gateways$found all say they hold the $1 lease"
    [ "$#" -eq 2 ] && { echo "$2"; return 0; }
    [ "$SECONDS" -lt "$deadline" ] || die "no live gateway holds the $1 lease after 30 s"
    sleep 0.5
  done
}

# queue put QUEUE FILE | queue peek QUEUE: puts FILE's JSON on an Azurite
# queue of the cluster (base64, as Azure Functions put it), or prints the
# first 32 messages waiting on one, one JSON document a line (base64 bodies
# decoded), leaving them there. SharedKey with Azurite's account, from the
# standard library only.
queue() {
  load_state
  eval "$(SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" env)"
  case "${1:-}:${2:-}" in
    put:?*) [ -f "${3:-}" ] || die "queue put: give the queue and a file" ;;
    peek:?*) ;;
    *) die "usage: tools/cluster.sh queue put QUEUE FILE | queue peek QUEUE" ;;
  esac
  python3 - "$SWITCHBOARD_TEST_AZURITE_QUEUE" "$SWITCHBOARD_TEST_AZURITE_ACCOUNT" "$DIR/azurite.key" "$@" <<'PY'
import base64, hashlib, hmac, json, sys, urllib.error, urllib.parse, urllib.request
import xml.etree.ElementTree as ET
from email.utils import formatdate

endpoint, account, key_file, op, queue = sys.argv[1:6]
key = base64.b64decode(open(key_file).read().strip())

def call(method, path, query, body=b""):
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2020-10-02"}
    if body:
        headers["Content-Type"] = "application/xml"
    resource = urllib.parse.urlparse(endpoint).path + path
    to_sign = "\n".join([method, "", "", str(len(body)) if body else "", "", headers.get("Content-Type", ""),
                         "", "", "", "", "", ""]) + "\n"
    to_sign += "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
    to_sign += f"/{account}{resource}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    sig = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{sig}"
    url = endpoint.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        if op == "peek" and e.headers.get("x-ms-error-code") == "QueueNotFound":
            print(f"[cluster] no queue {queue} yet (the gateways make it at their first put)", file=sys.stderr)
            return b"<QueueMessagesList/>"
        sys.exit(f"[cluster] queue {op} {queue}: HTTP {e.code} {e.headers.get('x-ms-error-code', '')}")

if op == "put":
    text = base64.b64encode(open(sys.argv[6], "rb").read()).decode()
    call("PUT", f"/{queue}", {})  # made if missing (201), kept if there (204)
    call("POST", f"/{queue}/messages", {}, f"<QueueMessage><MessageText>{text}</MessageText></QueueMessage>".encode())
    print(f"[cluster] put {sys.argv[6]} on {queue}", file=sys.stderr)
else:
    xml = call("GET", f"/{queue}/messages", {"numofmessages": "32", "peekonly": "true"})
    for m in ET.fromstring(xml).iter("MessageText"):
        text = m.text or ""
        try:
            text = base64.b64decode(text, validate=True).decode()
        except ValueError:
            pass
        print(json.dumps(json.loads(text), separators=(",", ":")))
PY
}

# wait_topic PATTERN [COUNT]: waits up to 60 s until COUNT (default 1) lines
# of the topic's log match the extended regex PATTERN; prints them.
wait_topic() {
  load_state
  [ -n "${1:-}" ] || die "usage: tools/cluster.sh wait-topic PATTERN [COUNT]"
  local want="${2:-1}" deadline=$((SECONDS + 60)) log_file="$DIR/eventgrid-topic.log"
  until [ "$(grep -cE -- "$1" "$log_file" || true)" -ge "$want" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "after 60 s, $(grep -cE -- "$1" "$log_file" || true) of $want events match '$1'; the topic's log ends:"
      tail -n 20 "$log_file" >&2
      return 1
    fi
    sleep 0.5
  done
  grep -E -- "$1" "$log_file"
}

# wait_queue QUEUE PATTERN: waits up to 60 s until a message waiting on QUEUE
# matches the extended regex PATTERN; prints the matching messages.
wait_queue() {
  [ -n "${2:-}" ] || die "usage: tools/cluster.sh wait-queue QUEUE PATTERN"
  local deadline=$((SECONDS + 60)) out
  while :; do
    out=$(queue peek "$1" 2>"$DIR/wait-queue.err") || { cat "$DIR/wait-queue.err" >&2; return 1; }
    if grep -E -- "$2" <<<"$out"; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "after 60 s, no message on $1 matches '$2'; what waits there:"
      printf '%s\n' "$out" >&2
      return 1
    fi
    sleep 1
  done
}

# number_arg KIND COUNT ARG: ARG must be 1 to COUNT.
number_arg() {
  case "${3:-}" in ''|*[!0-9]*) die "give the $1's number, 1 to $2" ;; esac
  [ "$3" -ge 1 ] && [ "$3" -le "$2" ] || die "$1 $3 does not exist: give 1 to $2"
}

# kill_9 KIND N: SIGKILL of KIND-N (replica or gateway), waiting until the
# kernel has reaped it, so that status and start-KIND agree from here on.
kill_9() {
  local pid _
  pid=$(cat "$DIR/$1-$2.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "$1 $2 (pid $pid) killed with SIGKILL"
  else
    log "$1 $2 was not running"
  fi
}

stop_pid() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  rm -f "$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  [ -e "$DIR" ] || return 0
  local f
  for f in "$DIR"/gateway-*.pid "$DIR"/eventgrid-topic.pid "$DIR"/replica-*.pid; do [ -e "$f" ] && stop_pid "$f"; done
  SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" stop
  rm -rf "$DIR"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  status) status ;;
  kill) load_state; number_arg replica "$N" "${2:-}"; kill_9 replica "$2" ;;
  start-replica) load_state; number_arg replica "$N" "${2:-}"
        alive "$DIR/replica-$2.pid" && die "replica $2 is running"
        start_replica "$2" ;;
  kill-gateway) load_state; number_arg gateway "$GATEWAYS" "${2:-}"; kill_9 gateway "$2" ;;
  start-gateway) load_state; number_arg gateway "$GATEWAYS" "${2:-}"
        alive "$DIR/gateway-$2.pid" && die "gateway $2 is running"
        start_gateway "$2" ;;
  holder) holder "${2:-}" ;;
  queue) shift; queue "$@" ;;
  wait-topic) shift; wait_topic "$@" ;;
  wait-queue) shift; wait_queue "$@" ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: tools/cluster.sh start|stop|env|status|kill N|start-replica N|kill-gateway N|start-gateway N|holder eventgrid|status-queue|queue put|peek|wait-topic|wait-queue (see --help)" >&2
     exit 2 ;;
esac
