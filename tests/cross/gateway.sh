#!/usr/bin/env bash
# gateway.sh ARCH DIR CLI "EMULATOR ARGS" GLIBC_MAX BROKERCTL HOST_HAMQTT
#
# Tests one ARM build of `make cross` (mk/cross.mk) on this x86-64 machine, under qemu-user:
#   - the files: each is an ELF for ARCH (arm: the hard-float ABI); libhamqtt.so exports
#     exactly the header's functions with the SONAME libhamqtt.so.0 (tests/c/check_exports.sh);
#     the gateway needs libhamqtt.so.0; no binary needs a glibc symbol newer than GLIBC_MAX;
#     the hamqtt command is static
#   - `hamqtt --version` under the emulator names linux/ARCH
#   - the example gateway (DIR/bin/gateway) under the emulator against a real Mosquitto
#     broker on a free 127.0.0.1 port (BROKERCTL, as the C tests start theirs): its QoS 1
#     readings reach a native subscriber (HOST_HAMQTT sub) through the broker, a command
#     published by the ARM hamqtt under the emulator reaches it, SIGTERM ends it cleanly.
# ARCH is arm64 or arm; EMULATOR ARGS is e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu".
set -euo pipefail
# shellcheck source=../lib/brokerctl.sh
. "$(dirname "$0")/../lib/brokerctl.sh"
arch=$1 dir=$2 cli=$3 glibc_max=$5 brokerctl=$6 host=$7
read -r -a emu <<<"$4"
src=$(cd "$(dirname "$0")/../.." && pwd)
lib=$dir/lib/libhamqtt.so gw=$dir/bin/gateway
case $arch in
  arm64) machine=AArch64 ;;
  arm) machine=ARM ;;
  *) echo "gateway.sh: unknown arch $arch" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
under_test= sub_pid=
cleanup() {
  [ -n "$under_test" ] && kill -9 "$under_test" 2>/dev/null || true
  [ -n "$sub_pid" ] && kill -9 "$sub_pid" 2>/dev/null || true
  brokers_quit
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "cross-test $arch: FAIL: $*"
  if [ -s "$tmp/gw.out" ]; then echo "--- gateway output (last 30 lines):"; tail -30 "$tmp/gw.out"; fi
  if [ -s "$tmp/sub.err" ]; then echo "--- subscriber stderr:"; tail -10 "$tmp/sub.err"; fi
  exit 1
}

# --- The files.
for f in "$lib" "$gw" "$dir/bin/epoll_loop" "$cli"; do
  [ -f "$f" ] || fail "$f missing (make cross)"
  readelf -h "$f" | grep -Eq "Machine: +$machine\$" || fail "$f is not an ELF for $machine: $(readelf -h "$f" | grep Machine)"
done
if [ "$arch" = arm ]; then
  for f in "$lib" "$gw"; do
    readelf -h "$f" | grep -q 'hard-float ABI' || fail "$f is not built for the hard-float ABI (armhf)"
  done
fi
exports=$("$src/tests/c/check_exports.sh" "$lib" "$src/include/hamqtt.h") || fail "$exports"
readelf -d "$gw" | grep -q 'NEEDED.*\[libhamqtt\.so\.0\]' || fail "the gateway does not need libhamqtt.so.0"
readelf -l "$cli" | grep -q INTERP && fail "$cli is dynamically linked; it must run on any glibc or none"
need=$(objdump -T "$lib" "$gw" "$dir/bin/epoll_loop" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ "$(printf '%s\n%s\n' "$need" "$glibc_max" | sort -V | tail -1)" = "$glibc_max" ] ||
  fail "the library or the examples need glibc $need, more than the documented $glibc_max: a newer symbol came in (objdump -T); update the README and CROSS_GLIBC_MAX, or avoid it"

# --- hamqtt --version under the emulator.
version=$("${emu[@]}" "$cli" --version 2>&1) || fail "hamqtt --version under ${emu[0]}: $version"
[[ $version =~ ^hamqtt\ ([^ ]+)\ \(go[^,]+,\ linux/$arch\)$ ]] || fail "hamqtt --version said: $version"
cli_version=${BASH_REMATCH[1]}

# --- The gateway under the emulator, against a real broker.
brokers_start 1
port=${PORTS[0]}
dev=cross-$arch
cat >"$tmp/gw.yaml" <<YAML
defaultCluster: cross
clusters:
  - name: cross
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:$port]
YAML

# The subscriber first, so that it sees the first readings.
"$host" sub -endpoints "tcp://127.0.0.1:$port" -t "sensors/$dev/temperature" -q 1 -count 5 -duration 60s \
  >"$tmp/sub.out" 2>"$tmp/sub.err" &
sub_pid=$!
wait_for 30 "the subscriber" grep -q subscribed "$tmp/sub.err"

"${emu[@]}" "$gw" -c "$tmp/gw.yaml" -i 100 -d "$dev" >"$tmp/gw.out" 2>&1 &
under_test=$!
published() { grep -c '^published seq=' "$tmp/gw.out" || true; }
wait_for 60 "5 readings" bash -c "[ \$(grep -c '^published seq=' '$tmp/gw.out') -ge 5 ]"
rc=0
wait "$sub_pid" || rc=$?
sub_pid=
[ $rc -eq 0 ] || fail "the subscriber did not get 5 readings (exit $rc)"
relayed=$(grep -c "\"device\":\"$dev\"" "$tmp/sub.out" || true)
[ "$relayed" -eq 5 ] || fail "the subscriber got $relayed readings of $dev: $(head -5 "$tmp/sub.out")"
for seq in $(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' "$tmp/sub.out"); do
  grep -qx "published seq=$seq" "$tmp/gw.out" || fail "reading seq=$seq was relayed but the gateway did not report it published"
done

# A command from the ARM hamqtt, under the emulator.
out=$("${emu[@]}" "$cli" pub -endpoints "tcp://127.0.0.1:$port" -t "sensors/$dev/cmd/set" -m "interval 50" -q 1 2>&1) ||
  fail "hamqtt pub under ${emu[0]}: $out"
wait_for 30 "the command" grep -q "^command on sensors/$dev/cmd/set via cross-1: interval 50\$" "$tmp/gw.out"

kill -TERM "$under_test"
rc=0
wait "$under_test" || rc=$?
under_test=
[ $rc -eq 0 ] || fail "the gateway exited with $rc after SIGTERM"
grep -q '^bye$' "$tmp/gw.out" || fail "no clean shutdown (no 'bye')"
grep -q 'publish attempts failed' "$tmp/gw.out" || fail "no shutdown summary"
grep -q '(0 publish attempts failed)' "$tmp/gw.out" || fail "a publish failed: $(grep 'publish attempts failed' "$tmp/gw.out")"
lib_version=$(sed -n 's/^hamqtt \([^,]*\), configuration .*/\1/p' "$tmp/gw.out")
[ "$lib_version" = "$cli_version" ] || fail "the library says version '$lib_version', the hamqtt command '$cli_version'"

echo "cross-test $arch: ok: $version; $(echo "$exports" | head -1 | sed 's/^ok: //'), glibc >= $need;" \
  "gateway under ${emu[0]}: $(published) readings, $relayed relayed to a subscriber, a command received, clean exit on SIGTERM"
