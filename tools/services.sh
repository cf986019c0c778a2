#!/usr/bin/env bash
# Starts and stops the services the tests use, on free loopback ports, with
# their state in a temp folder:
#   tools/services.sh start   # RabbitMQ and Azurite
#   tools/services.sh env     # prints export lines for the tests
#   tools/services.sh stop    # safe to call twice
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SWITCHBOARD_SERVICES_DIR:-/tmp/switchboard-services}"
STATE="$DIR/state"
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { echo "[services] $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_tcp() {  # host port seconds pidfile
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$4")" 2>/dev/null || return 1  # it died
    sleep 0.5
  done
  return 1
}

start() {
  if [ -f "$STATE" ]; then
    log "already started (state in $STATE); stopping the old ones first"
    stop
  fi
  mkdir -p "$DIR"
  local amqp dist blob queue table
  amqp=$(free_port); dist=$(free_port); blob=$(free_port); queue=$(free_port); table=$(free_port)
  local node="sbtest-$amqp@localhost"

  # RabbitMQ: loopback only, no plugins, all state in $DIR/rabbitmq.
  mkdir -p "$DIR/rabbitmq/mnesia" "$DIR/rabbitmq/log"
  echo "[]." > "$DIR/rabbitmq/enabled_plugins"
  cat > "$DIR/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
loopback_users = none
CONF
  # Debian's rabbitmq-server switches to the rabbitmq user when run as root.
  if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$DIR/rabbitmq"
    chmod 755 "$DIR"
  fi
  log "starting RabbitMQ on 127.0.0.1:$amqp"
  env RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp" \
      RABBITMQ_DIST_PORT="$dist" ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      RABBITMQ_CONFIG_FILE="$DIR/rabbitmq/rabbitmq" \
      RABBITMQ_MNESIA_BASE="$DIR/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$DIR/rabbitmq/log" \
      RABBITMQ_PID_FILE="$DIR/rabbitmq/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbitmq/enabled_plugins" \
      rabbitmq-server > "$DIR/rabbitmq/stdout.log" 2>&1 &
  echo $! > "$DIR/rabbitmq.launcher.pid"

  # Azurite: blob, queue and table on loopback, data in $DIR/azurite.
  mkdir -p "$DIR/azurite"
  log "starting Azurite (blob 127.0.0.1:$blob, queue 127.0.0.1:$queue)"
  node "$ROOT/tools/.local/azurite/node_modules/azurite/dist/src/azurite.js" \
      --blobHost 127.0.0.1 --blobPort "$blob" --queueHost 127.0.0.1 --queuePort "$queue" \
      --tableHost 127.0.0.1 --tablePort "$table" --location "$DIR/azurite" \
      --skipApiVersionCheck --loose --silent > "$DIR/azurite.log" 2>&1 &
  echo $! > "$DIR/azurite.pid"

  cat > "$STATE" <<S
AMQP_PORT=$amqp
RABBIT_NODE=$node
BLOB_PORT=$blob
QUEUE_PORT=$queue
S
  if ! wait_tcp 127.0.0.1 "$blob" 60 "$DIR/azurite.pid"; then
    log "Azurite did not start; its log:"; tail -n 30 "$DIR/azurite.log" >&2 || true; exit 1
  fi
  if ! wait_tcp 127.0.0.1 "$amqp" 120 "$DIR/rabbitmq.launcher.pid"; then
    log "RabbitMQ did not start; its log:"; tail -n 40 "$DIR/rabbitmq/stdout.log" >&2 || true
    tail -n 40 "$DIR"/rabbitmq/log/*.log >&2 2>/dev/null || true
    exit 1
  fi
  log "ready"
}

env_lines() {
  [ -f "$STATE" ] || { log "not started: run tools/services.sh start"; exit 1; }
  # shellcheck disable=SC1090
  . "$STATE"
  echo "export SWITCHBOARD_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
  echo "export SWITCHBOARD_TEST_AMQP_PORT=$AMQP_PORT"
  echo "export SWITCHBOARD_TEST_AZURITE_BLOB=http://127.0.0.1:$BLOB_PORT/devstoreaccount1"
  echo "export SWITCHBOARD_TEST_AZURITE_QUEUE=http://127.0.0.1:$QUEUE_PORT/devstoreaccount1"
  echo "export SWITCHBOARD_TEST_AZURITE_ACCOUNT=devstoreaccount1"
  echo "export SWITCHBOARD_TEST_AZURITE_KEY=$AZURITE_KEY"
}

kill_wait() {  # pidfile
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

stop() {
  if [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
    log "stopping RabbitMQ ($RABBIT_NODE)"
    rabbitmqctl -n "$RABBIT_NODE" stop >/dev/null 2>&1 || true
  fi
  kill_wait "$DIR/azurite.pid"
  kill_wait "$DIR/rabbitmq/pid"
  kill_wait "$DIR/rabbitmq.launcher.pid"
  # Erlang leaves epmd behind; it holds no state of ours.
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) echo "usage: tools/services.sh start|stop|env" >&2; exit 2 ;;
esac
