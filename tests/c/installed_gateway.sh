#!/usr/bin/env bash
# installed_gateway.sh BUILD SRC BROKERCTL PUBTOOL CMAKE CC
#
# Installs the build into a temporary prefix, builds examples/c/gateway.c against the
# installed package twice (CMake find_package(hamqtt) and pkg-config), then runs the gateway
# on two real brokers: each broker is SIGKILLed in turn while it publishes, a command reaches
# it, and SIGTERM shuts it down cleanly; then with a disk outbox through a total outage (every
# reading stored, then published in order once a broker is back) until the stop command.
set -euo pipefail
# shellcheck source=../lib/brokerctl.sh
. "$(dirname "$0")/../lib/brokerctl.sh"
build=$1 src=$2 brokerctl=$3 pubtool=$4 cmake=$5 cc=$6

tmp=$(mktemp -d)
under_test=
cleanup() {
  [ -n "$under_test" ] && kill -9 "$under_test" 2>/dev/null || true
  brokers_quit
  rm -rf "$tmp"
}
trap cleanup EXIT
step() { echo "--- $*"; }
fail() { echo "FAIL: $*"; [ -f "$tmp/gw.out" ] && { echo "gateway output:"; tail -40 "$tmp/gw.out"; }; exit 1; }

step "cmake --install into $tmp/prefix"
prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >/dev/null
soname=$(find "$prefix" -name libhamqtt.so.0)
[ -n "$soname" ] || fail "libhamqtt.so.0 not installed"
libdir=$(dirname "$soname")
[ -f "$prefix/include/hamqtt.h" ] || fail "hamqtt.h not installed"
[ -L "$libdir/libhamqtt.so.0" ] && [ -L "$libdir/libhamqtt.so" ] || fail "SONAME links not installed as symlinks"
[ -f "$libdir/libhamqtt.so.$(readlink "$libdir/libhamqtt.so.0" | sed 's/libhamqtt\.so\.//')" ] || fail "real library missing"
[ -f "$libdir/cmake/hamqtt/hamqttConfig.cmake" ] && [ -f "$libdir/cmake/hamqtt/hamqttConfigVersion.cmake" ] || fail "CMake package not installed"
[ -f "$libdir/pkgconfig/hamqtt.pc" ] || fail "hamqtt.pc not installed"
if [ -n "$(find "$prefix" -name "libhamqtt*.h")" ]; then fail "cgo's generated header was installed"; fi

step "examples/c with find_package(hamqtt)"
"$cmake" -S "$src/examples/c" -B "$tmp/gw-cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "configure"; }
"$cmake" --build "$tmp/gw-cmake" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build"; }
readelf -d "$tmp/gw-cmake/gateway" | grep 'NEEDED.*\[libhamqtt\.so\.0\]' >/dev/null || fail "gateway does not need libhamqtt.so.0"
ldd "$tmp/gw-cmake/gateway" | grep "$prefix" >/dev/null || fail "gateway (cmake) does not load the installed library: $(ldd "$tmp/gw-cmake/gateway" | grep hamqtt)"

step "examples/c with pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion hamqtt)" = "$(grep -o 'HAMQTT_VERSION_STRING "[^"]*"' "$prefix/include/hamqtt.h" | cut -d'"' -f2)" ] || fail "pkg-config version"
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic -o "$tmp/gateway-pc" "$src/examples/c/gateway.c" \
  $(pkg-config --cflags --libs hamqtt) -lm -Wl,-rpath,"$(pkg-config --variable=libdir hamqtt)" || fail "pkg-config build"
ldd "$tmp/gateway-pc" | grep "$prefix" >/dev/null || fail "gateway (pkg-config) does not load the installed library"

step "brokers"
brokers_start 2
p1=${PORTS[0]} p2=${PORTS[1]}
cat >"$tmp/gw.yaml" <<YAML
defaultCluster: gw
clusters:
  - name: gw
    probeDelay: 100
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:$p1, tcp://127.0.0.1:$p2]
YAML

published() { grep -c '^published seq=' "$tmp/gw.out" || true; }
more_published_than() { [ "$(published)" -gt "$1" ]; }
has_line() { grep -q "$1" "$tmp/gw.out"; }

step "gateway (find_package build): publish, broker kills, command, SIGTERM"
"$tmp/gw-cmake/gateway" -c "$tmp/gw.yaml" -i 20 -d test-gw >"$tmp/gw.out" 2>&1 &
under_test=$!
wait_for 20 "first readings" more_published_than 20
for victim in 0 1; do
  n=$(published)
  bk kill $victim
  wait_for 20 "a failover line after killing broker $victim" has_line "failover: endpoint gw-$((victim + 1)) down"
  wait_for 20 "publishing to go on after killing broker $victim" more_published_than $((n + 30))
  bk restart $victim
  wait_for 30 "broker $victim to come back" bash -c "[ \$(grep -c 'endpoint up: gw-$((victim + 1))' '$tmp/gw.out') -ge 2 ]"
done
"$pubtool" "tcp://127.0.0.1:$p1,tcp://127.0.0.1:$p2" sensors/test-gw/cmd/set "interval 10" || fail "pubtool"
wait_for 20 "the command" has_line "command on sensors/test-gw/cmd/set via gw-[12]: interval 10"
kill -TERM "$under_test"
rc=0; wait "$under_test" || rc=$?
under_test=
[ $rc -eq 0 ] || fail "gateway exited with $rc after SIGTERM"
has_line '^bye$' || fail "no clean shutdown"
grep -q 'gateway: publish' "$tmp/gw.out" && fail "a publish failed"
seqs=$(grep '^published seq=' "$tmp/gw.out" | sed 's/published seq=//')
[ "$(echo "$seqs" | sort -n | uniq | wc -l)" -eq "$(echo "$seqs" | wc -l)" ] || fail "a reading was published twice"
grep -E "^(failover|endpoint up|command|  live|shutting|  gw-)" "$tmp/gw.out" | head -20
echo "gateway: $(published) readings, $(grep -c '^failover:' "$tmp/gw.out") failover lines, clean exit"

step "gateway (pkg-config build) with a disk outbox: every broker down, then one back; the stop command"
cat >"$tmp/gw-outbox.yaml" <<YAML
defaultCluster: gw
clusters:
  - name: gw
    probeDelay: 100
    outbox: {dir: "$tmp/outbox"}
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:$p1, tcp://127.0.0.1:$p2]
YAML
"$tmp/gateway-pc" -c "$tmp/gw-outbox.yaml" -i 20 -d pc-gw >"$tmp/gw.out" 2>&1 &
under_test=$!
wait_for 20 "readings" more_published_than 5
has_line '^outbox at start: 0 readings held' || fail "the gateway did not report its outbox"
bk kill 0
bk kill 1
wait_for 20 "readings stored while no broker is up" has_line '^stored seq=[0-9]*, outbox depth [0-9]'
n=$(published)
bk restart 0
wait_for 30 "the stored readings to be published" more_published_than $((n + 30))
"$pubtool" "tcp://127.0.0.1:$p1" sensors/pc-gw/cmd/x stop || fail "pubtool"
rc=0; wait "$under_test" || rc=$?
under_test=
[ $rc -eq 0 ] || fail "pkg-config gateway exited with $rc"
has_line '^bye$' || fail "pkg-config gateway: no clean shutdown"
grep -q 'gateway: publish\|gateway: reading' "$tmp/gw.out" && fail "a reading failed"
seqs=$(grep '^published seq=' "$tmp/gw.out" | sed 's/published seq=//')
echo "$seqs" | sort -n -c || fail "readings were published out of order"
[ "$(echo "$seqs" | sort -n | uniq | wc -l)" -eq "$(echo "$seqs" | wc -l)" ] || fail "a reading was published twice"
echo "gateway with an outbox: $(published) readings in order, $(grep -c '^stored seq=' "$tmp/gw.out") stored while the brokers were down"
echo "ok"
