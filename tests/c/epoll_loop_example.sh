#!/usr/bin/env bash
# epoll_loop_example.sh EPOLL_LOOP BROKERCTL [-e]
#
# Runs examples/c/epoll_loop (the client in the application's own epoll loop) on two real
# Mosquitto brokers: each broker is SIGKILLed in turn while it publishes and receives, the loop
# must print the endpoint going down, keep receiving, print it coming back; then SIGTERM stops
# it, and it must exit 0 (no publish failed) with its summary. -e runs it edge-triggered.
set -euo pipefail
# shellcheck source=../lib/brokerctl.sh
. "$(dirname "$0")/../lib/brokerctl.sh"
prog=$1 brokerctl=$2
shift 2
tmp=$(mktemp -d)
under_test=
cleanup() {
  [ -n "$under_test" ] && kill -9 "$under_test" 2>/dev/null || true
  brokers_quit
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && { echo "epoll_loop output:"; grep -v '^message' "$tmp/out" | tail -40; }; exit 1; }

brokers_start 2
p1=${PORTS[0]} p2=${PORTS[1]}

received() { grep -c '^message ' "$tmp/out" || true; }
more_received_than() { [ "$(received)" -gt "$1" ]; }
lines() { grep -c "$1" "$tmp/out" || true; }
at_least() { [ "$(lines "$1")" -ge "$2" ]; }

"$prog" "$@" -i 10 -t test/epoll/readings "tcp://127.0.0.1:$p1,tcp://127.0.0.1:$p2" >"$tmp/out" 2>&1 &
under_test=$!
wait_for 20 "both endpoints up" bash -c "grep -q '^up epoll-1' '$tmp/out' && grep -q '^up epoll-2' '$tmp/out'"
wait_for 20 "first messages" more_received_than 20
for victim in 0 1; do
  name=epoll-$((victim + 1))
  bk kill $victim
  wait_for 20 "'down $name'" at_least "^down $name: " 1
  n=$(received)
  wait_for 20 "messages after $name went down" more_received_than $((n + 30))
  bk restart $victim
  wait_for 30 "'up $name' again" at_least "^up $name\$" 2
done
n=$(received)
wait_for 20 "messages with both brokers back" more_received_than $((n + 30))
kill -TERM "$under_test"
rc=0; wait "$under_test" || rc=$?
under_test=
[ $rc -eq 0 ] || fail "epoll_loop exited with $rc"
grep -q '^signalled: stopping$' "$tmp/out" || fail "no clean stop"
summary=$(grep '^published ' "$tmp/out") || fail "no summary"
grep -v '^message' "$tmp/out"
echo "ok: $summary"
