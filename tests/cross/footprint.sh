#!/usr/bin/env bash
# footprint.sh BROKERCTL ARCH:DIR:CLI[:EMULATOR ARGS] ...
#
# Sizes and idle RSS of `make cross` builds (mk/cross.mk, target cross-footprint), printed as the
# markdown table of bench/RESULTS.md's ARM section. For each build: the files as shipped
# (libhamqtt.so, the static hamqtt command, the example gateway), then the example gateway
# (DIR/bin/gateway, a reading every second at QoS 1) connected to 3 Mosquitto brokers, its
# memory read 5 s after all three were up, the median of $FOOTPRINT_RUNS runs (default 3):
#   native: VmRSS of the gateway.
#   under qemu-user: VmRSS of the qemu process (the emulator's own memory, its translated-code
#   cache and the guest's pages together), and the guest's share of it: the Rss of every mapping
#   of /proc/PID/smaps inside the guest's address space. qemu reserves that space for a 32-bit
#   guest; for arm64 it runs with -R 1 TiB so that there is one too; `-d page` logs where it is.
#   The guest's share is what the gateway's own pages take, the estimate of its RSS on a board.
set -euo pipefail
# shellcheck source=../lib/brokerctl.sh
. "$(dirname "$0")/../lib/brokerctl.sh"
brokerctl=$1
shift
runs=${FOOTPRINT_RUNS:-3}
tmp=$(mktemp -d)
under_test=
cleanup() {
  [ -n "$under_test" ] && kill -9 "$under_test" 2>/dev/null || true
  brokers_quit
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "footprint: $*" >&2; [ -f "$tmp/gw.out" ] && tail -20 "$tmp/gw.out" >&2; exit 1; }

fail() { die "$@"; }
brokers_start 3
p1=${PORTS[0]} p2=${PORTS[1]} p3=${PORTS[2]}
cat >"$tmp/gw.yaml" <<YAML
defaultCluster: fp
clusters:
  - name: fp
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:$p1, tcp://127.0.0.1:$p2, tcp://127.0.0.1:$p3]
YAML

mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
size_kib() { echo $(( ($(stat -L -c %s "$1") + 1023) / 1024 )); }
# guest_rss PID BASE SIZE: kB of Rss in the mappings of PID within [BASE, BASE+SIZE).
guest_rss() {
  local pid=$1 lo=$(($2)) hi=$(($2 + $3)) total=0 in=0 range s e
  while read -r a b _; do
    case $a in
      Rss:) [ $in = 1 ] && total=$((total + b)) ;;
      *-*) range=$a; s=$((16#${range%-*})); e=$((16#${range#*-}))
           if [ "$s" -ge "$lo" ] && [ "$e" -le "$hi" ]; then in=1; else in=0; fi ;;
    esac
  done <"/proc/$pid/smaps"
  echo "$total"
}

echo "| build | libhamqtt.so | hamqtt (static) | gateway | gateway idle: VmRSS | guest's share (the estimate for a board) |"
echo "|---|---|---|---|---|---|"
for spec in "$@"; do
  IFS=: read -r arch dir cli emu <<<"$spec"
  read -r -a emu_cmd <<<"${emu:-}"
  rss_all=() guest_all=()
  for ((i = 0; i < runs; i++)); do
    cmd=("$dir/bin/gateway" -c "$tmp/gw.yaml" -i 1000 -d "fp-$arch")
    if [ -n "${emu:-}" ]; then
      extra=()
      [ "$arch" = arm64 ] && extra=(-R 0x10000000000)
      cmd=("${emu_cmd[0]}" "${extra[@]}" -d page -D "$tmp/qemu.log" "${emu_cmd[@]:1}" "${cmd[@]}")
    fi
    "${cmd[@]}" >"$tmp/gw.out" 2>&1 &
    under_test=$!
    end=$((SECONDS + 60))
    until grep -q 'live endpoints (3)' "$tmp/gw.out"; do
      [ $SECONDS -lt $end ] && kill -0 "$under_test" 2>/dev/null || die "$arch: the gateway did not reach 3 brokers"
      sleep 0.1
    done
    sleep 5
    rss_all+=("$(awk '/^VmRSS:/ { print $2 }' "/proc/$under_test/status")")
    if [ -n "${emu:-}" ]; then
      read -r base size < <(sed -n 's/^pgb_reserved_va: base @ \(0x[0-9a-f]*\) for \([0-9]*\) bytes$/\1 \2/p' "$tmp/qemu.log" | tail -1)
      [ -n "${size:-}" ] || die "$arch: no guest address space in qemu's log"
      guest_all+=("$(guest_rss "$under_test" "$base" "$size")")
    fi
    kill -TERM "$under_test"
    wait "$under_test" || die "$arch: the gateway did not exit cleanly"
    under_test=
  done
  rss=$(echo "${rss_all[*]}" | median)
  if [ -n "${emu:-}" ]; then
    guest="$(mib "$(echo "${guest_all[*]}" | median)") (runs: $(for v in "${guest_all[@]}"; do mib "$v"; echo -n " "; done | sed 's/ MiB//g; s/ $//'))"
    what="qemu process $(mib "$rss") (runs: $(for v in "${rss_all[@]}"; do mib "$v"; echo -n " "; done | sed 's/ MiB//g; s/ $//'))"
    label="linux/$arch (${emu_cmd[0]})"
  else
    guest="= VmRSS"
    what="$(mib "$rss") (runs: $(for v in "${rss_all[@]}"; do mib "$v"; echo -n " "; done | sed 's/ MiB//g; s/ $//'))"
    label="linux/$arch (native)"
  fi
  echo "| $label | $(mib "$(size_kib "$dir/lib/libhamqtt.so")") | $(mib "$(size_kib "$cli")") | $(size_kib "$dir/bin/gateway") KiB | $what | $guest |"
done
