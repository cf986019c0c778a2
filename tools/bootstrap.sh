#!/usr/bin/env bash
# Installs what Switchboard needs (idempotently) and builds it.
#
#   tools/bootstrap.sh            # build dependencies, then cmake + build
#   tools/bootstrap.sh --test     # also the test services: RabbitMQ, Azurite (npm, project-local), ffmpeg...
#   tools/bootstrap.sh --no-build # install only
#
# Packages are installed one at a time: on this image one large combined
# `apt-get install` once failed with "held broken packages" where the same
# packages installed fine one by one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SWITCHBOARD_BUILD_DIR:-$ROOT/build}"
WITH_TEST=0
DO_BUILD=1
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "[bootstrap] unknown argument '$arg'; see --help" >&2; exit 2 ;;
  esac
done

log() { echo "[bootstrap] $*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else log "run as root (or install sudo)"; exit 1; fi
fi

BASE_PACKAGES=(
  build-essential cmake pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  nlohmann-json3-dev libgit2-dev libsqlite3-dev libgtest-dev libgmock-dev libabsl-dev libssl-dev
  libcurl4-openssl-dev libboost-dev curl ca-certificates
)
TEST_PACKAGES=(rabbitmq-server ffmpeg mediainfo libmediainfo-dev git python3)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

UPDATED=0
apt_install() {
  local pkg="$1"
  installed "$pkg" && return 0
  if [ "$UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    UPDATED=1
  fi
  log "installing $pkg"
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; then
    log "retrying $pkg after apt-get -f install"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >/dev/null || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  fi
}

for p in "${BASE_PACKAGES[@]}"; do apt_install "$p"; done

if [ "$WITH_TEST" -eq 1 ]; then
  for p in "${TEST_PACKAGES[@]}"; do apt_install "$p"; done
  # The package may start a broker of its own (no systemd here, but
  # invoke-rc.d can). Tests start their own on free ports; stop any default one.
  if pgrep -f 'beam.*rabbit' >/dev/null 2>&1 && [ ! -f "${SWITCHBOARD_SERVICES_DIR:-/tmp/switchboard-services}/state" ]; then
    log "stopping the RabbitMQ node the package started"
    $SUDO rabbitmqctl stop >/dev/null 2>&1 || true
  fi
  if ! command -v node >/dev/null 2>&1; then apt_install nodejs; fi
  if ! command -v npm >/dev/null 2>&1; then apt_install npm; fi
  AZURITE_DIR="$ROOT/tools/.local/azurite"
  if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite" ]; then
    log "installing Azurite from npm into tools/.local/azurite"
    mkdir -p "$AZURITE_DIR"
    npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --loglevel=error azurite@3 >/dev/null
  fi
fi

if [ "$DO_BUILD" -eq 1 ]; then
  LAUNCHER=()
  if command -v ccache >/dev/null 2>&1; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
  log "building (-j2)"
  cmake --build "$BUILD" -j2
fi
