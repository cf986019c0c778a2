#!/usr/bin/env bash
# Several switchboardd replicas and gateways on one PostgreSQL, on loopback
# (docs/scale-out.md):
#
#   tools/cluster.sh start         # PostgreSQL, Azurite (tools/services.sh), shared git remotes,
#                                  # 3 replicas and 2 gateways; prints one "[cluster] ready" line
#   tools/cluster.sh env           # export lines: SB_CLUSTER_TARGET (a gRPC target listing every
#                                  # replica, for sbctl --server), SB_REPLICA_<n>, SB_GATEWAY_<n>
#   tools/cluster.sh status        # each process: alive or not, and its address
#   tools/cluster.sh kill N        # kill -9 replica N
#   tools/cluster.sh start-replica N   # start replica N again, on its own data dir
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
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
DIR="${SWITCHBOARD_CLUSTER_DIR:-/tmp/switchboard-cluster}"
N="${SWITCHBOARD_CLUSTER_REPLICAS:-3}"
GATEWAYS=2
SB_BIN="$BUILD/server/switchboardd"
GW_BIN="$BUILD/gateway/switchboard-gateway"
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
  [ -x "$SB_BIN" ] && [ -x "$GW_BIN" ] || die "switchboardd or the gateway is not built in $BUILD"
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

  # Each gateway lists every replica, its own first: gRPC's pick_first
  # connects to the first that answers and moves on when it dies.
  local g targets k
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$DIR/eventgrid.key"
  chmod 600 "$DIR/eventgrid.key"
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
  "eventgrid_key_file": "$DIR/eventgrid.key"
}
JSON
    setsid "$GW_BIN" --config="$DIR/gateway-$g.json" </dev/null >>"$DIR/gateway-$g.log" 2>&1 &
    echo $! > "$DIR/gateway-$g.pid"
    wait_http "http://127.0.0.1:$port/healthz" "$!" "$DIR/gateway-$g.log" || { stop; exit 1; }
    log "gateway $g: HTTP 127.0.0.1:$port -> $targets"
  done
  log "ready: $N replicas ($(target)), $GATEWAYS gateways; state in $DIR"
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
  SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" env
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

status() {
  load_state
  local i
  for i in $(seq 1 "$N"); do
    if alive "$DIR/replica-$i.pid"; then s=up; else s=down; fi
    eval "echo \"replica $i: \$s (gRPC 127.0.0.1:\$REPLICA_${i}_GRPC)\""
  done
  for i in $(seq 1 "$GATEWAYS"); do
    if alive "$DIR/gateway-$i.pid"; then s=up; else s=down; fi
    eval "echo \"gateway $i: \$s (HTTP 127.0.0.1:\$GATEWAY_${i}_HTTP)\""
  done
}

replica_arg() {
  case "${1:-}" in ''|*[!0-9]*) die "give the replica's number, 1 to $N" ;; esac
  [ "$1" -ge 1 ] && [ "$1" -le "$N" ] || die "replica $1 does not exist: give 1 to $N"
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
  for f in "$DIR"/gateway-*.pid "$DIR"/replica-*.pid; do [ -e "$f" ] && stop_pid "$f"; done
  SWITCHBOARD_SERVICES_DIR="$DIR/services" "$ROOT/tools/services.sh" stop
  rm -rf "$DIR"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  status) status ;;
  kill) load_state; replica_arg "${2:-}"
        pid=$(cat "$DIR/replica-$2.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; then
          # Gone once the kernel has reaped it: status and start-replica agree from here on.
          for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
          log "replica $2 (pid $pid) killed with SIGKILL"
        else
          log "replica $2 was not running"
        fi ;;
  start-replica) load_state; replica_arg "${2:-}"
        alive "$DIR/replica-$2.pid" && die "replica $2 is running"
        start_replica "$2" ;;
  -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: tools/cluster.sh start|stop|env|status|kill N|start-replica N (see --help)" >&2; exit 2 ;;
esac
