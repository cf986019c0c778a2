#!/usr/bin/env bash
# Installs what Switchboard needs (idempotently) and builds it.
#
#   tools/bootstrap.sh              # build dependencies, then cmake + build
#   tools/bootstrap.sh --test       # also what the tests use: RabbitMQ, ffmpeg, mediainfo, Azurite (npm, project-local)
#   tools/bootstrap.sh --no-build   # install only (combines with --test)
#
# SWITCHBOARD_BUILD_DIR overrides the build folder (default: build/).
#
# Packages are installed one at a time, and only those dpkg does not already
# list as installed; `apt-get update` runs once, and only if something is
# missing. A second run with nothing missing touches apt not at all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
WITH_TEST=0
DO_BUILD=1
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "[bootstrap] unknown argument '$arg'; see --help" >&2; exit 2 ;;
  esac
done

log() { echo "[bootstrap] $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else log "run as root (or install sudo)"; exit 1; fi
fi

# All names checked with `apt-cache policy` on Debian 12 (bookworm).
#
# libcurl: libcurl4-gnutls-dev, not libcurl4-openssl-dev. The two conflict,
# and libmediainfo-dev (below) depends on the gnutls one, so asking for both
# makes apt remove one to install the other on every run (that is also why a
# single combined `apt-get install` of everything fails with "held broken
# packages"). Both ship the same <curl/curl.h>, libcurl.so and libcurl.pc, so
# find_package(CURL) / pkg-config libcurl work the same.
BASE_PACKAGES=(
  build-essential cmake pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  nlohmann-json3-dev libgit2-dev libsqlite3-dev libgtest-dev libgmock-dev libabsl-dev libssl-dev
  libcurl4-gnutls-dev libboost-dev curl ca-certificates
  librabbitmq-dev libjemalloc-dev
)
# nodejs and npm are not in this list: the image ships node 20 and npm
# (nodesource's nodejs, which bundles npm; Debian's `npm` package would
# conflict with it). They are installed from Debian only if missing.
TEST_PACKAGES=(rabbitmq-server ffmpeg mediainfo libmediainfo-dev git python3 wrk openssl)

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

for p in "${BASE_PACKAGES[@]}"; do apt_install "$p"; done

if [ "$WITH_TEST" -eq 1 ]; then
  for p in "${TEST_PACKAGES[@]}"; do apt_install "$p"; done

  # The package's postinst calls invoke-rc.d; on this image policy-rc.d stops
  # it from starting a broker (and there is no systemd), but where it does
  # start one, the default node (rabbit@<host>, port 5672) is stopped: the
  # tests start their own on free ports (tools/services.sh).
  if [[ " ${INSTALLED_NOW[*]} " == *" rabbitmq-server "* ]] && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    log "stopping the RabbitMQ node the package install started"
    "${SUDO[@]}" rabbitmqctl stop >/dev/null 2>&1 || true
  fi

  if ! command -v node >/dev/null 2>&1; then apt_install nodejs; fi
  if ! command -v npm >/dev/null 2>&1; then apt_install npm; fi

  AZURITE_DIR="$ROOT/tools/.local/azurite"
  if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite" ]; then
    log "installing Azurite from npm into tools/.local/azurite"
    mkdir -p "$AZURITE_DIR"
    npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --no-update-notifier --loglevel=error azurite@3 >/dev/null
  fi
fi

if [ "$DO_BUILD" -eq 1 ]; then
  LAUNCHER=()
  if command -v ccache >/dev/null 2>&1; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
  log "building $BUILD (-j2)"
  cmake --build "$BUILD" -j2
  log "built"
fi
