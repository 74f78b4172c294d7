# Sourced by the shell tests that drive a program against real brokers (tests/c, tests/cross).
# The sourcing script defines fail MESSAGE (reports and exits) before calling these.

# brokers_start N: starts N Mosquitto brokers through BROKERCTL (internal/cmd/brokerctl) as a
# coprocess and puts their ports in PORTS[0..N-1]; bk talks to it, brokers_quit ends it.
brokers_start() {
  local reply
  coproc BK { exec "$brokerctl" -n "$1"; }
  read -r reply <&"${BK[0]}" || true
  read -r -a PORTS <<<"$reply"
  [ "${PORTS[0]:-}" = ok ] || fail "brokerctl: $reply"
  PORTS=("${PORTS[@]:1}")
}

# bk COMMAND...: one brokerctl command (kill I, restart I, ...), which must answer ok.
bk() {
  local reply
  echo "$*" >&"${BK[1]}"
  read -r reply <&"${BK[0]}"
  case $reply in ok*) ;; *) fail "brokerctl $*: $reply" ;; esac
}

# brokers_quit: stops the brokers, if started (for the script's EXIT trap).
brokers_quit() {
  [ -n "${BK_PID:-}" ] || return 0
  echo quit >&"${BK[1]}" 2>/dev/null || true
  wait "$BK_PID" 2>/dev/null || true
}

# wait_for SECONDS WHAT COMMAND...: COMMAND succeeds within SECONDS while the program under
# test (the script's $under_test process; empty: none running) stays alive.
wait_for() {
  local secs=$1 what=$2 end=$((SECONDS + $1))
  shift 2
  until "$@"; do
    [ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what"
    [ -z "${under_test:-}" ] || kill -0 "$under_test" 2>/dev/null || fail "the program under test exited while waiting for $what"
    sleep 0.1
  done
}
