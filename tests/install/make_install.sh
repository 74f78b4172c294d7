#!/usr/bin/env bash
# make_install.sh: `make install PREFIX=` into a scratch folder installs the library, its
# header, CMake package and pkg-config file and the hamqtt command, all of one version; then
# examples/c builds against that folder with find_package(hamqtt) and with pkg-config, and
# each build loads the installed library. (tests/c/installed_gateway.sh runs the gateway
# built this way through broker kills.)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "make-install-test: FAIL: $*" >&2; exit 1; }

make --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install"; }

want=$(grep -o 'HAMQTT_VERSION_STRING "[^"]*"' include/hamqtt.h | cut -d'"' -f2)
[ -x "$prefix/bin/hamqtt" ] || fail "bin/hamqtt not installed"
got=$("$prefix/bin/hamqtt" --version)
case $got in "hamqtt $want "*) ;; *) fail "hamqtt --version says '$got', the header $want" ;; esac
[ -f "$prefix/include/hamqtt.h" ] || fail "hamqtt.h not installed"
lib=$(find "$prefix" -name 'libhamqtt.so.0' | head -1)
[ -n "$lib" ] || fail "libhamqtt.so.0 not installed"
libdir=$(dirname "$lib")
[ -f "$libdir/cmake/hamqtt/hamqttConfig.cmake" ] || fail "CMake package not installed"
[ -f "$libdir/pkgconfig/hamqtt.pc" ] || fail "hamqtt.pc not installed"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion hamqtt)" = "$want" ] || fail "pkg-config says $(pkg-config --modversion hamqtt), the header $want"

cmake -S examples/c -B "$tmp/gw-cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "find_package configure"; }
cmake --build "$tmp/gw-cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "find_package build"; }
ldd "$tmp/gw-cmake/gateway" | grep "$prefix" >/dev/null || fail "the find_package build does not load the installed library"

# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/gateway-pc" examples/c/gateway.c \
  $(pkg-config --cflags --libs hamqtt) -lm -Wl,-rpath,"$(pkg-config --variable=libdir hamqtt)" || fail "pkg-config build"
ldd "$tmp/gateway-pc" | grep "$prefix" >/dev/null || fail "the pkg-config build does not load the installed library"

echo "make-install-test: ok (hamqtt $want: library, header, CMake package, pkg-config, CLI; examples/c built both ways)"
