#!/usr/bin/env bash
# Installs what Switchboard needs (idempotently) and builds it.
#
#   tools/bootstrap.sh              # what running needs, then builds switchboardd, switchboard-gateway, sbctl
#   tools/bootstrap.sh --test       # also what only the tests need, then builds everything (tests, benchmarks)
#   tools/bootstrap.sh --no-build   # install only (combines with --test)
#
# SWITCHBOARD_BUILD_DIR overrides the build folder (default: build/),
# SWITCHBOARD_BUILD_JOBS the parallel jobs (default: nproc). The build is
# quiet: one progress line, the full log in <build>/build.log, its tail on
# failure.
#
# Packages are installed one at a time, and only those dpkg does not already
# list as installed; `apt-get update` runs once, and only if something is
# missing. A second run with nothing missing touches apt not at all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
JOBS="${SWITCHBOARD_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
WITH_TEST=0
DO_BUILD=1
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[bootstrap] unknown argument '$arg'; see --help" >&2; exit 2 ;;
  esac
done
case "$JOBS" in ''|*[!0-9]*|0) echo "[bootstrap] SWITCHBOARD_BUILD_JOBS must be a positive number, got '$JOBS'" >&2; exit 2 ;; esac

log() { echo "[bootstrap] $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else log "run as root (or install sudo)"; exit 1; fi
fi

# All names checked with `apt-cache policy` on Debian 12 (bookworm).
#
# RUN_PACKAGES: what building switchboardd, switchboard-gateway and sbctl
# needs, and what running every documented feature needs:
# - libgtest-dev, libgmock-dev: the top CMakeLists.txt finds GTest (REQUIRED),
#   so configuring needs them even to build the binaries alone.
# - libmediainfo-dev: MediaService links libmediainfo (AnalyzeBlob).
# - ffmpeg: switchboardd runs it for every encode (docs/media.md).
# - mediainfo, git: the docs' walkthroughs run them (docs/media.md looks at an
#   encode's output with mediainfo; docs/resourcing.md reads the remotes' log).
# - curl: the README's "Try it"; python3: tools/run.sh edits gateway.json with it.
# - openssl: tools/run.sh makes its local CA and the listeners' certificate with it.
# - libpq-dev: switchboardd's PostgreSQL store (--store=postgres://..., docs/scale-out.md).
# - libcurl: libcurl4-gnutls-dev, not libcurl4-openssl-dev. The two conflict,
#   and libmediainfo-dev depends on the gnutls one, so asking for both makes
#   apt remove one to install the other on every run (that is also why a
#   single combined `apt-get install` of everything fails with "held broken
#   packages"). Both ship the same <curl/curl.h>, libcurl.so and libcurl.pc,
#   so find_package(CURL) / pkg-config libcurl work the same.
RUN_PACKAGES=(
  build-essential cmake pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  nlohmann-json3-dev libgit2-dev libsqlite3-dev libgtest-dev libgmock-dev libabsl-dev libssl-dev
  libcurl4-gnutls-dev libboost-dev librabbitmq-dev libjemalloc-dev libmediainfo-dev libpugixml-dev libpq-dev
  ffmpeg mediainfo git curl ca-certificates python3 openssl
)
# TEST_PACKAGES: what only the tests (and tools/services.sh, tools/bench) use:
# - rabbitmq-server: the broker of the RabbitMQ tests (tools/services.sh).
# (openssl, in the run list, also makes the broker's test CA in tools/services.sh
# and the tests' certificates.)
# - procps: pgrep, in tools/services.sh (finding the broker's VM) and encode_test.
# - iproute2: `ip link set lo up` in the tests that run in a network namespace
#   of their own (`unshare -n`: the README checker, tools/run.sh's test).
# - wrk: the webhook benchmark's receiver ceiling (tools/bench).
# - postgresql-15: the PostgreSQL store's tests, benchmarks and tools/cluster.sh
#   run throwaway clusters of it (tools/pg.sh). The package's own cluster
#   (15/main, port 5432) is stopped if its install started it.
# Node and npm (for Azurite) are handled below.
TEST_PACKAGES=(rabbitmq-server procps iproute2 wrk postgresql-15)

apt_env=(env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

UPDATED=0
INSTALLED_NOW=()
apt_install() {
  local pkg="$1"
  installed "$pkg" && return 0
  if [ "$UPDATED" -eq 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" "${apt_env[@]}" apt-get update -qq
    UPDATED=1
  fi
  # Say so if installing this package makes apt remove another one.
  local removes
  removes=$("${SUDO[@]}" "${apt_env[@]}" apt-get install -s --no-install-recommends "$pkg" 2>/dev/null \
              | awk '/^Remv /{print $2}' | tr '\n' ' ' || true)
  if [ -n "$removes" ]; then log "note: installing $pkg makes apt remove: $removes"; fi
  log "installing $pkg"
  if ! "${SUDO[@]}" "${apt_env[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; then
    log "installing $pkg failed; running apt-get -f install and trying once more"
    "${SUDO[@]}" "${apt_env[@]}" apt-get -f install -y -qq >/dev/null || true
    "${SUDO[@]}" "${apt_env[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  fi
  INSTALLED_NOW+=("$pkg")
}

for p in "${RUN_PACKAGES[@]}"; do apt_install "$p"; done

if [ "$WITH_TEST" -eq 1 ]; then
  for p in "${TEST_PACKAGES[@]}"; do apt_install "$p"; done

  # The package's postinst calls invoke-rc.d; where that starts a broker (the
  # default node, rabbit@<host>, port 5672), it is stopped: the tests start
  # their own on free ports (tools/services.sh).
  if [[ " ${INSTALLED_NOW[*]} " == *" rabbitmq-server "* ]] && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    log "stopping the RabbitMQ node the package install started"
    "${SUDO[@]}" rabbitmqctl stop >/dev/null 2>&1 || true
  fi
  if [[ " ${INSTALLED_NOW[*]} " == *" postgresql-15 "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    "${SUDO[@]}" pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  fi

  # nodejs and npm are not in the list: a machine may already have a node
  # with npm bundled (e.g. nodesource's nodejs, which Debian's `npm` package
  # conflicts with). They come from Debian only if missing.
  if ! command -v node >/dev/null 2>&1; then apt_install nodejs; fi
  if ! command -v npm >/dev/null 2>&1; then apt_install npm; fi

  # npm_pinned DIR WHAT: installs DIR's package-lock.json into DIR/node_modules
  # with npm ci, unless every dependency in DIR/package.json is already there
  # at its pinned version.
  npm_pinned() {
    local dir="$1" what="$2"
    if ! node -e '
      const dir = process.argv[1];
      const want = require(dir + "/package.json").dependencies;
      for (const [name, version] of Object.entries(want)) {
        let have = null;
        try { have = require(dir + "/node_modules/" + name + "/package.json").version; } catch (e) {}
        if (have !== version) process.exit(1);
      }' "$dir" 2>/dev/null; then
      log "installing $what into ${dir#"$ROOT"/}/node_modules (npm ci, pinned by its package-lock.json)"
      npm ci --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
    fi
  }
  # Azurite, the Azure Storage emulator tools/services.sh runs (tools/azurite).
  npm_pinned "$ROOT/tools/azurite" "Azurite"
  # Azure's own SDKs for the conformance tests (tests/azure-sdk: @azure/storage-blob
  # for BlobHttp.AzureSdk*, @azure/eventgrid for the gateway's HTTPS test).
  npm_pinned "$ROOT/tests/azure-sdk" "Azure's SDKs for the conformance tests"
fi

[ "$DO_BUILD" -eq 1 ] || exit 0

# quiet LOG WHAT COMMAND...: runs COMMAND with its output in LOG. On a terminal
# one line shows the progress in place; in a pipe a line at each quarter. On
# failure: the log's tail and its path.
quiet() {
  local logfile="$1" what="$2" pid pct last=-1 line t0=$SECONDS rc=0
  shift 2
  "$@" > "$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # Makefiles print "[ 42%] ...", Ninja "[12/345] ...".
    line=$(grep -aoE '^\[ *[0-9]+%\]|^\[[0-9]+/[0-9]+\]' "$logfile" | tail -n 1 || true)
    pct=""
    if [[ "$line" =~ ^\[\ *([0-9]+)%\]$ ]]; then pct="${BASH_REMATCH[1]}"
    elif [[ "$line" =~ ^\[([0-9]+)/([0-9]+)\]$ ]]; then pct=$((100 * BASH_REMATCH[1] / BASH_REMATCH[2]))
    fi
    if [ -n "$pct" ]; then
      if [ -t 2 ]; then
        printf '\r[bootstrap] %s: %3d%% (%ds)' "$what" "$pct" $((SECONDS - t0)) >&2
      elif [ $((pct / 25)) -gt "$last" ]; then
        last=$((pct / 25))
        log "$what: $pct% ($((SECONDS - t0))s)"
      fi
    fi
    sleep 1
  done
  wait "$pid" || rc=$?
  if [ -t 2 ]; then printf '\r\033[K' >&2; fi
  if [ "$rc" -ne 0 ]; then
    log "$what failed (status $rc); the end of $logfile:"
    tail -n 60 "$logfile" >&2
    log "$what failed; the full log is $logfile"
    exit "$rc"
  fi
  log "$what: done in $((SECONDS - t0))s"
}

mkdir -p "$BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ] || { [ ! -f "$BUILD/Makefile" ] && [ ! -f "$BUILD/build.ninja" ]; }; then
  LAUNCHER=()
  if command -v ccache >/dev/null 2>&1; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  quiet "$BUILD/configure.log" "configuring $BUILD" \
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}"
fi
if [ "$WITH_TEST" -eq 1 ]; then
  quiet "$BUILD/build.log" "building everything (-j$JOBS)" cmake --build "$BUILD" -j"$JOBS"
else
  quiet "$BUILD/build.log" "building switchboardd, switchboard-gateway, sbctl (-j$JOBS)" \
    cmake --build "$BUILD" -j"$JOBS" --target switchboardd switchboard-gateway sbctl
fi
