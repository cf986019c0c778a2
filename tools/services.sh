#!/usr/bin/env bash
# Starts and stops the services the tests use, on free loopback ports, with
# all their state in one temp folder ($SWITCHBOARD_SERVICES_DIR, default
# /tmp/switchboard-services):
#
#   tools/services.sh start   # RabbitMQ, Azurite and PostgreSQL (tools/pg.sh); waits until all accept connections
#   tools/services.sh env     # prints `export` lines for the tests (eval "$(tools/services.sh env)")
#   tools/services.sh stop    # stops them all and removes the folder; safe to call twice
#   tools/services.sh free-ports N  # prints N distinct free loopback ports (tools/cluster.sh)
#   tools/services.sh restart-rabbitmq  # stops and starts the RabbitMQ application (all
#                             # connections drop; durable queues and persistent messages stay)
#
# Needs what `tools/bootstrap.sh --test` installs. Nothing listens beyond
# 127.0.0.1. Each start runs its own epmd (Erlang's port mapper) on a free
# loopback port instead of the shared 4369, and stop ends it with the node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SWITCHBOARD_SERVICES_DIR:-/tmp/switchboard-services}"
STATE="$DIR/state"
AZURITE_JS="$ROOT/tools/azurite/node_modules/azurite/dist/src/azurite.js"
# Azurite's fixed, publicly documented development account and key.
AZURITE_ACCOUNT="devstoreaccount1"
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
RABBIT_START_TIMEOUT="${SWITCHBOARD_RABBITMQ_START_TIMEOUT:-90}"   # seconds
AZURITE_START_TIMEOUT="${SWITCHBOARD_AZURITE_START_TIMEOUT:-60}"

log() { echo "[services] $*" >&2; }

# N distinct free loopback ports: all are bound at once before any is
# released, so no two are the same.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# wait_tcp PORT SECONDS PIDFILE: until 127.0.0.1:PORT accepts a connection;
# fails early if the process in PIDFILE is gone.
wait_tcp() {
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$3" 2>/dev/null)" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

# How RabbitMQ is run. As root, Debian's wrappers (rabbitmq-server,
# rabbitmqctl) switch to the rabbitmq user with HOME=/var/lib/rabbitmq, so
# the server and rabbitmqctl share /var/lib/rabbitmq/.erlang.cookie whatever
# our HOME is (/root or unset). As any other user the wrappers refuse to run,
# so the real scripts are called directly with HOME set to a folder of ours:
# Erlang creates the cookie there and rabbitmqctl reads the same one.
rabbit_mode() {
  if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then echo wrapper; else echo direct; fi
}

# rabbit_argv MODE rabbitmq-server|rabbitmqctl EPMD_PORT: sets RABBIT_ARGV to
# the command, talking to the epmd on EPMD_PORT (empty: Erlang's default).
rabbit_argv() {
  local ctl_args="-kernel inet_dist_use_interface {127,0,0,1}"  # rabbitmqctl's own node: loopback
  local -a epmd_env=()
  [ -n "${3:-}" ] && epmd_env=(ERL_EPMD_PORT="$3" ERL_EPMD_ADDRESS=127.0.0.1)
  if [ "$1" = wrapper ]; then
    RABBIT_ARGV=(env "${epmd_env[@]}" RABBITMQ_CTL_ERL_ARGS="$ctl_args" "$2")
  else
    local bin="/usr/lib/rabbitmq/bin/$2"
    [ -x "$bin" ] || bin="$2"
    RABBIT_ARGV=(env "${epmd_env[@]}" HOME="$DIR/rabbitmq/home" RABBITMQ_CTL_ERL_ARGS="$ctl_args" "$bin")
  fi
}

start() {
  command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] \
    || { log "rabbitmq-server is not installed: run tools/bootstrap.sh --test"; exit 1; }
  [ -x /usr/lib/postgresql/15/bin/initdb ] || command -v pg_config >/dev/null 2>&1 \
    || { log "PostgreSQL 15 is not installed: run tools/bootstrap.sh --test"; exit 1; }
  [ -f "$AZURITE_JS" ] || { log "Azurite is not installed: run tools/bootstrap.sh --test"; exit 1; }
  command -v node >/dev/null 2>&1 || { log "node is not installed: run tools/bootstrap.sh --test"; exit 1; }

  if [ -f "$STATE" ] || [ -f "$DIR/azurite.pid" ] || [ -f "$DIR/rabbitmq.launcher.pid" ]; then
    log "$DIR holds an earlier start; stopping that first"
    stop
  fi
  mkdir -p "$DIR"
  local amqp amqps dist blob queue table epmd mode node
  local -a RABBIT_ARGV
  read -r amqp amqps dist blob queue table epmd < <(free_ports 7)
  mode=$(rabbit_mode)
  node="sbtest-$amqp@localhost"

  # Written first, so that `stop` after a half-done start still finds everything.
  cat > "$STATE" <<S
AMQP_PORT=$amqp
AMQPS_PORT=$amqps
DIST_PORT=$dist
BLOB_PORT=$blob
QUEUE_PORT=$queue
TABLE_PORT=$table
EPMD_PORT=$epmd
RABBIT_NODE=$node
RABBIT_MODE=$mode
S

  # RabbitMQ: AMQP and Erlang distribution on loopback only, no plugins
  # (management stays off), all state in $DIR/rabbitmq.
  local rdir="$DIR/rabbitmq"
  mkdir -p "$rdir/mnesia" "$rdir/log" "$rdir/home"
  echo "[]." > "$rdir/enabled_plugins"
  # A test CA and a broker certificate for 127.0.0.1, for the amqps:// tests.
  local tls="$rdir/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=switchboard test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" \
    >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls/san.ext" -out "$tls/server.pem" >/dev/null 2>&1
  chmod 644 "$tls"/*.pem "$tls/server.key"
  cat > "$rdir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
listeners.ssl.1 = 127.0.0.1:$amqps
ssl_options.cacertfile = $tls/ca.pem
ssl_options.certfile = $tls/server.pem
ssl_options.keyfile = $tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
# guest may log in over any connection; there are only loopback ones.
loopback_users = none
CONF
  if [ "$mode" = wrapper ]; then
    chown -R rabbitmq:rabbitmq "$rdir"
    chmod 755 "$DIR"
  fi
  rabbit_argv "$mode" rabbitmq-server "$epmd"
  log "starting RabbitMQ $node on 127.0.0.1:$amqp (distribution 127.0.0.1:$dist, epmd 127.0.0.1:$epmd)"
  env RABBITMQ_NODENAME="$node" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp" \
      RABBITMQ_DIST_PORT="$dist" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      RABBITMQ_CONFIG_FILE="$rdir/rabbitmq" \
      RABBITMQ_MNESIA_BASE="$rdir/mnesia" RABBITMQ_LOG_BASE="$rdir/log" \
      RABBITMQ_PID_FILE="$rdir/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$rdir/enabled_plugins" \
      setsid "${RABBIT_ARGV[@]}" \
      </dev/null > "$rdir/stdout.log" 2>&1 &
  echo $! > "$DIR/rabbitmq.launcher.pid"
  local t0=$SECONDS

  # Azurite: blob, queue and table on loopback, data in $DIR/azurite. No
  # telemetry (it would try to reach a host on the internet).
  mkdir -p "$DIR/azurite"
  log "starting Azurite (blob 127.0.0.1:$blob, queue 127.0.0.1:$queue, table 127.0.0.1:$table)"
  setsid node "$AZURITE_JS" \
      --blobHost 127.0.0.1 --blobPort "$blob" --queueHost 127.0.0.1 --queuePort "$queue" \
      --tableHost 127.0.0.1 --tablePort "$table" --location "$DIR/azurite" \
      --skipApiVersionCheck --loose --silent --disableTelemetry \
      </dev/null > "$DIR/azurite.log" 2>&1 &
  echo $! > "$DIR/azurite.pid"

  if ! wait_tcp "$blob" "$AZURITE_START_TIMEOUT" "$DIR/azurite.pid"; then
    log "Azurite did not start within ${AZURITE_START_TIMEOUT}s; its log:"
    tail -n 30 "$DIR/azurite.log" >&2 || true
    stop; exit 1
  fi
  log "Azurite is up after $((SECONDS - t0))s"
  if ! wait_tcp "$amqp" "$RABBIT_START_TIMEOUT" "$DIR/rabbitmq.launcher.pid"; then
    log "RabbitMQ did not start within ${RABBIT_START_TIMEOUT}s; its logs:"
    tail -n 40 "$rdir/stdout.log" >&2 || true
    tail -n 40 "$rdir"/log/*.log >&2 2>/dev/null || true
    stop; exit 1
  fi
  log "RabbitMQ is up after $((SECONDS - t0))s"
  # PostgreSQL: a cluster of its own in $DIR/pg, on a unix socket only.
  if ! SWITCHBOARD_PG_DIR="$DIR/pg" "$ROOT/tools/pg.sh" start; then
    stop; exit 1
  fi
  log "ready after $((SECONDS - t0))s (state in $DIR)"
}

env_lines() {
  [ -f "$STATE" ] || { log "not started ($STATE is missing): run tools/services.sh start"; exit 1; }
  local AMQP_PORT BLOB_PORT QUEUE_PORT
  # shellcheck disable=SC1090
  . "$STATE"
  echo "export SWITCHBOARD_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
  echo "export SWITCHBOARD_TEST_AMQP_PORT=$AMQP_PORT"
  # "localhost": the name the broker certificate carries (rabbitmq-c checks DNS names, not IPs).
  echo "export SWITCHBOARD_TEST_AMQPS_URL=amqps://guest:guest@localhost:${AMQPS_PORT:-0}/"
  echo "export SWITCHBOARD_TEST_AMQPS_CA=$DIR/rabbitmq/tls/ca.pem"
  echo "export SWITCHBOARD_TEST_AZURITE_BLOB=http://127.0.0.1:$BLOB_PORT/$AZURITE_ACCOUNT"
  echo "export SWITCHBOARD_TEST_AZURITE_QUEUE=http://127.0.0.1:$QUEUE_PORT/$AZURITE_ACCOUNT"
  echo "export SWITCHBOARD_TEST_AZURITE_ACCOUNT=$AZURITE_ACCOUNT"
  echo "export SWITCHBOARD_TEST_AZURITE_KEY=$AZURITE_KEY"
  if [ -d "$DIR/pg" ]; then SWITCHBOARD_PG_DIR="$DIR/pg" "$ROOT/tools/pg.sh" env; fi
}

# kill_pid PID: SIGTERM the process (and its process group, if setsid made
# it a group leader), wait up to 10s, then SIGKILL.
kill_pid() {
  local pid="$1" _
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "pid $pid did not exit on SIGTERM; killing it"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

kill_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  rm -f "$1"
  kill_pid "$pid"
}

# The processes named $1 whose environment holds $2 ("NAME=value"): the
# Erlang VMs of a node by their RABBITMQ_NODENAME (this start's alone: its
# port is in the name; needed when the node is stopped before it wrote its
# pid file), and a start's epmd by its ERL_EPMD_PORT (inherited from the
# node), so another start's, or a system one, is left alone.
pids_with_env() {
  local p
  for p in $(pgrep -x "$1" || true); do
    if grep -qzxF "$2" "/proc/$p/environ" 2>/dev/null; then echo "$p"; fi
  done
}

stop() {
  [ -e "$DIR" ] || return 0
  local RABBIT_NODE="" RABBIT_MODE="" EPMD_PORT=""
  if [ -f "$STATE" ]; then
    local -a RABBIT_ARGV
    # shellcheck disable=SC1090
    . "$STATE"
    if [ -n "$RABBIT_NODE" ] && [ -f "$DIR/rabbitmq.launcher.pid" ]; then
      log "stopping RabbitMQ $RABBIT_NODE"
      rabbit_argv "${RABBIT_MODE:-$(rabbit_mode)}" rabbitmqctl "$EPMD_PORT"
      "${RABBIT_ARGV[@]}" -q -n "$RABBIT_NODE" stop >/dev/null 2>&1 \
        || log "rabbitmqctl stop failed; killing the node"
    fi
  fi
  # The Erlang VM itself (by its pid file, and by its node name in case it
  # has not written that yet), then the launchers.
  kill_pidfile "$DIR/rabbitmq/pid"
  if [ -n "${RABBIT_NODE:-}" ]; then
    local vm
    for vm in $(pids_with_env beam.smp "RABBITMQ_NODENAME=$RABBIT_NODE"); do kill_pid "$vm"; done
  fi
  kill_pidfile "$DIR/rabbitmq.launcher.pid"
  # Its epmd last: rabbitmqctl above may have started it again.
  if [ -n "${EPMD_PORT:-}" ]; then
    local e
    for e in $(pids_with_env epmd "ERL_EPMD_PORT=$EPMD_PORT"); do kill_pid "$e"; done
  fi
  if [ -f "$DIR/azurite.pid" ]; then log "stopping Azurite"; fi
  kill_pidfile "$DIR/azurite.pid"
  SWITCHBOARD_PG_DIR="$DIR/pg" "$ROOT/tools/pg.sh" stop
  # Only what start made, so a SWITCHBOARD_SERVICES_DIR pointed at a folder
  # with other things in it keeps them.
  rm -rf "$DIR/rabbitmq" "$DIR/azurite" "$DIR/azurite.log" "$STATE"
  rmdir "$DIR" 2>/dev/null || true
  log "stopped"
}

# The RabbitMQ application restarts inside the running node (rabbitmqctl
# stop_app / start_app): every client connection drops and the listener is
# closed meanwhile, as in a broker restart; durable state is kept.
restart_rabbitmq() {
  [ -f "$STATE" ] || { log "not started ($STATE is missing): run tools/services.sh start"; exit 1; }
  local RABBIT_NODE="" RABBIT_MODE="" AMQP_PORT="" EPMD_PORT=""
  local -a RABBIT_ARGV
  # shellcheck disable=SC1090
  . "$STATE"
  rabbit_argv "${RABBIT_MODE:-$(rabbit_mode)}" rabbitmqctl "$EPMD_PORT"
  log "restarting RabbitMQ $RABBIT_NODE"
  "${RABBIT_ARGV[@]}" -q -n "$RABBIT_NODE" stop_app >/dev/null
  "${RABBIT_ARGV[@]}" -q -n "$RABBIT_NODE" start_app >/dev/null
  wait_tcp "$AMQP_PORT" "$RABBIT_START_TIMEOUT" "$DIR/rabbitmq.launcher.pid" \
    || { log "RabbitMQ did not come back within ${RABBIT_START_TIMEOUT}s"; exit 1; }
  log "RabbitMQ is back"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  restart-rabbitmq) restart_rabbitmq ;;
  free-ports) free_ports "${2:-1}" ;;
  *) echo "usage: tools/services.sh start|stop|env|restart-rabbitmq|free-ports N" >&2; exit 2 ;;
esac
