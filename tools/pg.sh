#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests, benchmarks and
# tools/cluster.sh: a data folder of its own, a unix socket only (no TCP
# listener at all), real fsync.
#
#   tools/pg.sh start   # initdb + pg_ctl start; waits until it accepts connections
#   tools/pg.sh env     # prints `export SWITCHBOARD_TEST_PG_URL=...` (eval "$(tools/pg.sh env)")
#   tools/pg.sh url     # prints the connection URL alone
#   tools/pg.sh stop    # stops it and removes the folder; safe to call twice
#   tools/pg.sh kill    # SIGKILLs the postmaster (chaos tests); `start` again recovers the same data
#
# The folder is $SWITCHBOARD_PG_DIR (default /tmp/switchboard-pg). initdb
# refuses to run as root, so as root the cluster is run as the `postgres`
# user that Debian's postgresql-15 package creates; otherwise as yourself.
# Authentication is `trust` on the socket alone: only local users who can
# reach the socket's folder can connect, and the cluster holds test data.
# Needs postgresql-15 (tools/bootstrap.sh --test installs it).
set -euo pipefail
DIR="${SWITCHBOARD_PG_DIR:-/tmp/switchboard-pg}"
DATA="$DIR/data"
SOCK="$DIR/socket"
START_TIMEOUT="${SWITCHBOARD_PG_START_TIMEOUT:-60}"
DB=switchboard

log() { echo "[pg] $*" >&2; }

bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)"; do
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

# as_owner CMD...: runs CMD as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # runuser keeps no tty and needs no password; cd out of folders postgres cannot read.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

url() { echo "postgresql:///$DB?host=$SOCK&user=postgres"; }

start() {
  local bin
  bin=$(bindir) || { log "PostgreSQL 15 is not installed: run tools/bootstrap.sh --test"; exit 1; }
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    log "running as root needs the postgres user (Debian's postgresql-15 package makes it)"; exit 1
  fi
  if [ -f "$DATA/postmaster.pid" ] || [ -f "$DIR/started" ]; then
    if [ -f "$DATA/PG_VERSION" ] && [ ! -f "$DATA/postmaster.pid" ]; then
      : # killed (tools/pg.sh kill) or stopped: start the same data again below
    else
      log "$DIR holds a running cluster; stopping it first"
      stop
    fi
  fi
  mkdir -p "$DIR" "$SOCK"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$DIR" "$SOCK"
    chmod 755 "$DIR"
    # Every folder above must let postgres through to the socket and data.
    if ! runuser -u postgres -- test -x "$DIR"; then
      log "the postgres user cannot reach $DIR: give its parent folders o+x, or set SWITCHBOARD_PG_DIR elsewhere"
      exit 1
    fi
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb in $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$DIR/initdb.log" 2>&1 || { log "initdb failed:"; tail -n 20 "$DIR/initdb.log" >&2; exit 1; }
    cat >>"$DATA/postgresql.conf" <<CONF
# tools/pg.sh: a unix socket only, in this cluster's own folder.
listen_addresses = ''
unix_socket_directories = '$SOCK'
max_connections = 300
shared_buffers = 256MB
# Durability stays on: fsync and synchronous_commit keep their defaults.
log_min_messages = warning
logging_collector = off
CONF
  fi
  touch "$DIR/started"
  log "starting PostgreSQL (socket in $SOCK)"
  if ! as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t "$START_TIMEOUT" start >/dev/null; then
    log "PostgreSQL did not start within ${START_TIMEOUT}s; its log:"
    tail -n 30 "$DIR/server.log" >&2 || true
    exit 1
  fi
  if ! as_owner "$bin/psql" -h "$SOCK" -U postgres -d postgres -qtAc \
       "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    as_owner "$bin/createdb" -h "$SOCK" -U postgres "$DB"
  fi
  log "ready: $(url)"
}

stop() {
  [ -e "$DIR" ] || return 0
  local bin
  if bin=$(bindir) && [ -f "$DATA/postmaster.pid" ]; then
    log "stopping PostgreSQL"
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || kill_postmaster
  fi
  rm -rf "$DATA" "$SOCK" "$DIR/started" "$DIR/server.log" "$DIR/initdb.log"
  rmdir "$DIR" 2>/dev/null || true
  log "stopped"
}

kill_postmaster() {
  local pid
  pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  log "SIGKILL postmaster $pid"
  kill -KILL "$pid" 2>/dev/null || true
  # Its backends exit once they notice the postmaster is gone.
  local _
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # The pid file is left by a killed postmaster; the next start checks that
  # the pid is gone and recovers from the WAL.
  rm -f "$DATA/postmaster.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill_postmaster ;;
  url) url ;;
  env) [ -f "$DIR/started" ] || { log "not started: run tools/pg.sh start"; exit 1; }
       echo "export SWITCHBOARD_TEST_PG_URL='$(url)'" ;;
  -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: tools/pg.sh start|stop|env|url|kill" >&2; exit 2 ;;
esac
