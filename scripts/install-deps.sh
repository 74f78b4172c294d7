#!/usr/bin/env bash
# Installs what hamqtt's build and tests need on a fresh Debian machine.
# Idempotent: a tool already present is left alone. Run as root (or with sudo available).
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

have mosquitto || need_apt+=(mosquitto)
have cmake || need_apt+=(cmake)
have pkg-config || need_apt+=(pkg-config)
have valgrind || need_apt+=(valgrind)
# RabbitMQ with its MQTT plugin (and Erlang's epmd): one of the brokers of the mixed-broker tests.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && have epmd || need_apt+=(rabbitmq-server)
have gcc || need_apt+=(gcc)
have g++ || need_apt+=(g++)
# The ARM builds and their test under emulation (make cross, make cross-test): Debian's cross
# compilers with the targets' glibc (in /usr/<triple>) and the user-mode emulators qemu-aarch64
# and qemu-arm. About 94 MB to download. HAMQTT_CROSS=0 (or --no-cross) leaves them out;
# make cross-test then says it was skipped.
want_cross=${HAMQTT_CROSS:-1}
for arg in "$@"; do [ "$arg" = --no-cross ] && want_cross=0; done
if [ "$want_cross" != 0 ]; then
  have aarch64-linux-gnu-gcc || need_apt+=(gcc-aarch64-linux-gnu)
  [ -f /usr/aarch64-linux-gnu/include/stdio.h ] || need_apt+=(libc6-dev-arm64-cross)
  have arm-linux-gnueabihf-gcc || need_apt+=(gcc-arm-linux-gnueabihf)
  [ -f /usr/arm-linux-gnueabihf/include/stdio.h ] || need_apt+=(libc6-dev-armhf-cross)
  have qemu-aarch64 && have qemu-arm || need_apt+=(qemu-user)
fi

if ((${#need_apt[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${need_apt[*]}"
  # Quiet unless it fails: apt's notes (debconf, service policy) go to the log, shown on failure.
  apt_log=$(mktemp)
  if ! { $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    rm -f "$apt_log"
    echo "install-deps: apt-get failed" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi
# The brokers run only when a test or the demo starts them; the packages' own services are not needed.
for svc in mosquitto rabbitmq-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# aedes, the third broker of the mixed-broker tests: the npm package at the version
# internal/brokertest/aedes/package.json pins, installed into that folder (no lockfile).
aedes_dir="$(cd "$(dirname "$0")/.." && pwd)/internal/brokertest/aedes"
if [ -f "$aedes_dir/package.json" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: warning: Node.js 20+ and npm are needed for aedes (the mixed-broker tests)" >&2
  elif [ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" != "true" ]; then
    echo "install-deps: warning: aedes needs Node.js 20 or later, found $(node --version)" >&2
  else
    want=$(node -p "require('$aedes_dir/package.json').dependencies.aedes")
    have_v=$(node -p "try { require('$aedes_dir/node_modules/aedes/package.json').version } catch (e) { '' }")
    if [ "$want" != "$have_v" ]; then
      echo "install-deps: installing aedes $want (npm)"
      if ! npm_out=$(cd "$aedes_dir" && npm install --no-audit --no-fund --no-progress 2>&1); then
        echo "$npm_out" >&2
        echo "install-deps: npm install of aedes failed" >&2
        exit 1
      fi
    fi
  fi
fi
echo "install-deps: ok"
