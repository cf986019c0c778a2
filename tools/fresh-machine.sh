#!/usr/bin/env bash
# Checks the README's set-up on a fresh Debian 12: builds a minimal bookworm
# root with debootstrap, clones this repository's committed HEAD into it
# (/root/switchboard, nothing beside it) and runs, with chroot, as root:
#   1. tools/run.sh in the background, until its "[run] ready:" line; then
#      `sbctl health`, then SIGTERM, which must end it with status 0;
#   2. tools/test.sh, reporting ctest's "N tests passed/failed" summary.
# Prints how long each took and whether it passed; exits 0 only if all did.
#
#   tools/fresh-machine.sh [--keep] [--root DIR] [--skip-test] [--install-only]
#                          [--mirror URL] [--timeout MINUTES] [--logs DIR]
#
#   --keep          keep the root (default: deleted at the end)
#   --root DIR      use DIR as the root; if it holds one made before, skip debootstrap (never deleted)
#   --skip-test     step 1 only
#   --install-only  instead of steps 1-2: `tools/bootstrap.sh --test --no-build` (installs only, no build)
#   --mirror URL    Debian mirror (default: the first bookworm one of this machine's apt sources)
#   --timeout MIN   minutes each command may take (default 240: everything is built from scratch)
#   --logs DIR      where the commands' output goes (default /var/tmp/switchboard-fresh-<time>)
#
# Needs root (debootstrap, chroot, mounts) and network. The root goes under
# /var/tmp (it needs a few GB). Mounts (proc, sys, dev, dev/pts, dev/shm) are
# made in a mount namespace of the script's own and unmounted on exit; every
# process of the check runs in a PID namespace of its own, so none outlives it.
# The build inside uses all cores: run it as
#   flock /tmp/sb-build.lock tools/fresh-machine.sh
# on a machine shared with other builds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$REPO/tools/fresh-machine.sh"

log() { echo "[fresh] $*" >&2; }
die() { log "$*"; exit 1; }

KEEP=0 ROOTFS="" SKIP_TEST=0 INSTALL_ONLY=0 MIRROR="" TIMEOUT_MIN=240 LOGS="" INNER=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --root) [ $# -gt 1 ] || die "--root needs a folder"; ROOTFS="$2"; shift ;;
    --root=*) ROOTFS="${1#*=}" ;;
    --skip-test) SKIP_TEST=1 ;;
    --install-only) INSTALL_ONLY=1 ;;
    --mirror) [ $# -gt 1 ] || die "--mirror needs a URL"; MIRROR="$2"; shift ;;
    --mirror=*) MIRROR="${1#*=}" ;;
    --timeout) [ $# -gt 1 ] || die "--timeout needs minutes"; TIMEOUT_MIN="$2"; shift ;;
    --timeout=*) TIMEOUT_MIN="${1#*=}" ;;
    --logs) [ $# -gt 1 ] || die "--logs needs a folder"; LOGS="$2"; shift ;;
    --logs=*) LOGS="${1#*=}" ;;
    --inner) INNER=1 ;;   # internal: the part that runs inside the namespaces
    -h|--help) sed -n '2,27p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
  shift
done
case "$TIMEOUT_MIN" in ''|*[!0-9]*|0) die "--timeout must be a positive number of minutes, got '$TIMEOUT_MIN'" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mounts need it)"

# --- inside the namespaces: mounts, chroot, the two commands -----------------

CHROOT_ENV=(env -i HOME=/root LANG=C.UTF-8 TERM=dumb
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
MOUNTS=()

unmount_all() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || log "cannot unmount ${MOUNTS[$i]}"
  done
  MOUNTS=()
}

mount_into() {  # mount_into TARGET MOUNT-ARGS...
  local target="$1"
  shift
  mkdir -p "$target"
  mount "$@" "$target"
  MOUNTS+=("$target")
}

in_root() {  # in_root COMMAND-STRING: runs it with bash in the root, in /root/switchboard
  chroot "$ROOTFS" "${CHROOT_ENV[@]}" bash -c "cd /root/switchboard && $1"
}

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

RESULTS=()
FAILED=0
result() {  # result NAME SECONDS pass|FAIL DETAIL
  RESULTS+=("$(printf '%-28s %8s  %-4s  %s' "$1" "$(fmt_time "$2")" "$3" "$4")")
  [ "$3" = pass ] || FAILED=1
}

# run_step NAME LOGFILE COMMAND-STRING: in the root, with the timeout; sets STEP_RC, STEP_SECS.
run_step() {
  local name="$1" logfile="$2" t0=$SECONDS
  log "$name (output: $logfile)"
  STEP_RC=0
  timeout --kill-after=30 "$((TIMEOUT_MIN * 60))" \
    chroot "$ROOTFS" "${CHROOT_ENV[@]}" bash -c "cd /root/switchboard && $3" > "$logfile" 2>&1 || STEP_RC=$?
  STEP_SECS=$((SECONDS - t0))
  [ "$STEP_RC" -ne 124 ] || log "$name: timed out after ${TIMEOUT_MIN} min"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Step 1: tools/run.sh until ready, sbctl health, SIGTERM, exit 0.
check_run() {
  local logfile="$LOGS/run.log" t0=$SECONDS args="" pid ready="" rc=0 deadline health
  # The root shares this machine's network: if a default port is taken here,
  # run.sh is given free ports instead (its flags), so the check still runs.
  if ! port_free 50051 || ! port_free 8081 || ! port_free 8080; then
    args=" --grpc_address=127.0.0.1:0 --http_address=127.0.0.1:0 -- --http_address=127.0.0.1:0"
    log "a default port (50051, 8081, 8080) is in use on this machine: running tools/run.sh$args"
  fi
  log "tools/run.sh$args (output: $logfile)"
  chroot "$ROOTFS" "${CHROOT_ENV[@]}" bash -c "cd /root/switchboard && exec tools/run.sh$args" > "$logfile" 2>&1 &
  pid=$!
  deadline=$((SECONDS + TIMEOUT_MIN * 60))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    ready=$(grep -m1 '^\[run\] ready:' "$logfile" || true)
    [ -z "$ready" ] || break
    sleep 2
  done
  local secs=$((SECONDS - t0))
  if [ -z "$ready" ]; then
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      result "tools/run.sh" "$secs" FAIL "no '[run] ready:' line within $TIMEOUT_MIN min"
    else
      wait "$pid" 2>/dev/null || rc=$?
      result "tools/run.sh" "$secs" FAIL "exited with status $rc before '[run] ready:'"
    fi
    log "the end of $logfile:"
    tail -n 40 "$logfile" >&2
    return
  fi
  log "$ready"
  result "tools/run.sh until ready" "$secs" pass "${ready#\[run\] }"

  local grpc
  grpc=$(sed -n 's/^\[run\] ready: switchboardd \([^ ]*\) .*/\1/p' <<<"$ready")
  t0=$SECONDS
  if health=$(in_root "build/clients/sbctl/sbctl --server=$grpc health" 2>&1); then
    result "sbctl health" $((SECONDS - t0)) pass "$(tr '\n' ' ' <<<"$health")"
  else
    result "sbctl health" $((SECONDS - t0)) FAIL "$(tr '\n' ' ' <<<"$health")"
  fi

  t0=$SECONDS
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -eq 0 ]; then
    result "tools/run.sh SIGTERM" $((SECONDS - t0)) pass "exit status 0"
  else
    result "tools/run.sh SIGTERM" $((SECONDS - t0)) FAIL "exit status $rc (want 0)"
    tail -n 20 "$logfile" >&2
  fi
}

# Step 2: tools/test.sh.
check_test() {
  local logfile="$LOGS/test.log" summary
  run_step "tools/test.sh" "$logfile" "tools/test.sh"
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$logfile" | tail -n 1 || true)
  if [ "$STEP_RC" -eq 0 ]; then
    result "tools/test.sh" "$STEP_SECS" pass "${summary:-no ctest summary line}"
  else
    result "tools/test.sh" "$STEP_SECS" FAIL "status $STEP_RC; ${summary:-no ctest summary line}"
    grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|Not Run|Subprocess)' "$logfile" >&2 || tail -n 40 "$logfile" >&2
  fi
}

inner() {
  trap unmount_all EXIT
  # No mount made here reaches the rest of the machine.
  mount --make-rprivate /
  mount_into "$ROOTFS/proc" -t proc proc
  mount_into "$ROOTFS/sys" --bind /sys
  mount_into "$ROOTFS/dev" --bind /dev
  mount_into "$ROOTFS/dev/pts" --bind /dev/pts
  mount_into "$ROOTFS/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev shm
  cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"

  if [ "$INSTALL_ONLY" -eq 1 ]; then
    run_step "tools/bootstrap.sh --test --no-build" "$LOGS/bootstrap.log" "tools/bootstrap.sh --test --no-build"
    if [ "$STEP_RC" -eq 0 ]; then
      result "bootstrap --test --no-build" "$STEP_SECS" pass ""
    else
      result "bootstrap --test --no-build" "$STEP_SECS" FAIL "status $STEP_RC"
      tail -n 40 "$LOGS/bootstrap.log" >&2
    fi
  else
    check_run
    if [ "$SKIP_TEST" -eq 0 ]; then check_test; fi
  fi

  {
    echo "fresh-machine check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOTFS/root/switchboard" rev-parse --short HEAD)"
    printf '%s\n' "${RESULTS[@]}"
  } > "$LOGS/summary.txt"
  cat "$LOGS/summary.txt" >&2
  return "$FAILED"
}

if [ "$INNER" -eq 1 ]; then
  inner
  exit $?
fi

# --- outside: the root, then the namespaces ----------------------------------

command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing"
command -v git >/dev/null 2>&1 || die "git is missing: apt-get install git"
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The Debian stanzas of this machine's apt sources: deb822 files (*.sources)
# and one-line sources.list, bookworm suites only.
host_sources_deb822() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ && /(^|\n)Suites:[^\n]*bookworm/ && !/(^|\n)Enabled:[ \t]*no/' "$f"
  done
}
host_sources_list() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -E '^[[:space:]]*deb[[:space:]].*[[:space:]]bookworm([[:space:]]|-)' || true
}
if [ -z "$MIRROR" ]; then
  # The first URI of a stanza or line whose suites include plain "bookworm".
  MIRROR=$(host_sources_deb822 | awk 'BEGIN { RS = "" }
    /(^|\n)Suites:[^\n]*bookworm([ \t]|\n|$)/ {
      if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.*URIs:[ \t]*/, "", s); print s; exit } }')
fi
if [ -z "$MIRROR" ]; then
  MIRROR=$(host_sources_list | sed -E 's/\[[^]]*\]//' \
             | awk '{ for (i = 3; i <= NF; i++) if ($i == "bookworm") { print $2; exit } }')
fi
[ -n "$MIRROR" ] || die "no bookworm mirror in /etc/apt/sources.list{,.d/}; give one with --mirror URL"

MADE_ROOT=0
if [ -z "$ROOTFS" ]; then
  avail_kb=$(df -Pk /var/tmp | awk 'NR == 2 { print $4 }')
  [ "${avail_kb:-0}" -ge $((8 * 1024 * 1024)) ] || log "warning: /var/tmp has less than 8 GB free; the build may not fit"
  ROOTFS=$(mktemp -d /var/tmp/switchboard-fresh-root.XXXXXX)
  MADE_ROOT=1
fi
ROOTFS="$(cd "$ROOTFS" 2>/dev/null && pwd || { mkdir -p "$ROOTFS" && cd "$ROOTFS" && pwd; })"
chmod 755 "$ROOTFS"   # "/" inside: other users (rabbitmq) must traverse it
case "$ROOTFS" in /|/root|/var|/var/tmp|/tmp|/usr|/home) die "--root $ROOTFS: give a folder of its own" ;; esac
[ -n "$LOGS" ] || LOGS=/var/tmp/switchboard-fresh-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$LOGS"
LOGS="$(cd "$LOGS" && pwd)"

# mounts_under DIR: mount points at or below DIR in this mount namespace.
mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo; }

# in_background COMMAND...: runs it in the background and waits, so that a
# signal's trap runs at once (not when the command ends); the trap stops it.
CHILD=""
in_background() {
  local rc=0
  "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local p=""
  # unshare ignores SIGTERM while it waits; SIGKILL ends it, and (--kill-child)
  # the first process of its namespaces, which ends every other one in them
  # and with them the mount namespace and its mounts.
  if [ -n "$CHILD" ]; then
    log "stopping"
    kill -KILL "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
    local _
    for _ in $(seq 1 50); do
      p=$(for d in /proc/[0-9]*; do
            if [ "$(readlink "$d/root" 2>/dev/null)" = "$ROOTFS" ]; then echo "${d#/proc/}"; fi
          done)
      [ -n "$p" ] || break
      sleep 0.2
    done
    [ -z "$p" ] || log "processes still running in $ROOTFS: $p"
  fi
  # None expected: every mount is made in a namespace of its own (a safety net).
  local m
  for m in $(mounts_under "$ROOTFS" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  if [ "$KEEP" -eq 0 ] && [ "$MADE_ROOT" -eq 1 ]; then
    if [ -n "$(mounts_under "$ROOTFS")" ] || [ -n "$p" ]; then
      log "not deleting $ROOTFS: something is still mounted or running in it"
    else
      log "deleting $ROOTFS"
      rm -rf --one-file-system "$ROOTFS"
    fi
  else
    log "kept the root: $ROOTFS (reuse it with --root $ROOTFS)"
  fi
  log "logs in $LOGS"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t_all=$SECONDS
if [ -x "$ROOTFS/usr/bin/apt-get" ] && [ -f "$ROOTFS/etc/debian_version" ]; then
  log "reusing the root in $ROOTFS (no debootstrap)"
else
  log "debootstrap --variant=minbase bookworm $ROOTFS $MIRROR (output: $LOGS/debootstrap.log)"
  t0=$SECONDS
  # In a mount namespace of its own too: if it fails half-way, its mounts go with it.
  in_background unshare --mount --propagation private --pid --fork --kill-child \
    debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$LOGS/debootstrap.log" 2>&1 \
    || { tail -n 30 "$LOGS/debootstrap.log" >&2; die "debootstrap failed (log: $LOGS/debootstrap.log)"; }
  log "debootstrap: $(fmt_time $((SECONDS - t0)))"
fi

# What a fresh installation has and debootstrap leaves out: this machine's
# Debian sources (updates and security too), /etc/hosts with localhost. And no
# service starts inside the root when a package is installed (policy-rc.d), as
# nothing may outlive the check.
sources=$(host_sources_deb822)
if [ -n "$sources" ]; then
  printf '%s' "$sources" > "$ROOTFS/etc/apt/sources.list.d/debian.sources"
  : > "$ROOTFS/etc/apt/sources.list"
  for key in $(printf '%s\n' "$sources" | sed -n 's/^Signed-By:[[:space:]]*\(\/[^[:space:]]*\)$/\1/p' | sort -u); do
    [ -e "$ROOTFS$key" ] || { mkdir -p "$ROOTFS$(dirname "$key")"; cp "$key" "$ROOTFS$key"; }
  done
elif [ -n "$(host_sources_list)" ]; then
  host_sources_list > "$ROOTFS/etc/apt/sources.list"
fi
# This machine's own CA certificates (e.g. of a TLS-inspecting proxy on the
# way to the npm registry): trusted inside as outside, like resolv.conf.
# The ca-certificates package (run list) adds them to the store it installs.
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
  cp -r /usr/local/share/ca-certificates/. "$ROOTFS/usr/local/share/ca-certificates/"
  if [ -x "$ROOTFS/usr/sbin/update-ca-certificates" ]; then
    chroot "$ROOTFS" "${CHROOT_ENV[@]}" update-ca-certificates >/dev/null 2>&1 || log "update-ca-certificates failed in the root"
  fi
fi
[ -s "$ROOTFS/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOTFS/etc/hosts"
printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"

# The committed HEAD, alone in /root.
commit=$(git -C "$REPO" rev-parse HEAD)
rm -rf --one-file-system "$ROOTFS/root/switchboard"
git clone --quiet --no-hardlinks "$REPO" "$ROOTFS/root/switchboard"
git -C "$ROOTFS/root/switchboard" checkout --quiet --detach "$commit"
log "cloned $REPO at ${commit:0:12} into $ROOTFS/root/switchboard"
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  log "note: $REPO has uncommitted changes; the check uses the committed HEAD only"
fi

# The rest in new mount and PID namespaces: mounts and processes end with it.
inner_args=(--inner --root "$ROOTFS" --timeout "$TIMEOUT_MIN" --logs "$LOGS")
[ "$SKIP_TEST" -eq 0 ] || inner_args+=(--skip-test)
[ "$INSTALL_ONLY" -eq 0 ] || inner_args+=(--install-only)
rc=0
in_background unshare --mount --propagation private --pid --fork --kill-child "$SELF" "${inner_args[@]}" || rc=$?
log "all: $(fmt_time $((SECONDS - t_all))), $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (status $rc)")"
exit "$rc"
