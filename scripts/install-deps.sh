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
have gcc || need_apt+=(gcc)
have g++ || need_apt+=(g++)

if ((${#need_apt[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The broker runs only when a test or the demo starts it; the package's own service is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi
echo "install-deps: ok"
