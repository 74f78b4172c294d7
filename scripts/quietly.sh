#!/usr/bin/env bash
# quietly.sh LABEL COMMAND...: runs a build step with its output in build/logs/LABEL.log and
# prints one line; on failure, the end of the log. VERBOSE=1 shows the output as it comes.
set -uo pipefail
label=$1
shift
if [ -n "${VERBOSE:-}" ]; then
  exec "$@"
fi
mkdir -p build/logs
log=build/logs/$label.log
start=$(date +%s)
if "$@" >"$log" 2>&1; then
  echo "$label: ok in $(($(date +%s) - start))s (output in $log)"
else
  rc=$?
  echo "$label: FAILED with exit status $rc; the end of $log:" >&2
  tail -n 80 "$log" >&2
  exit "$rc"
fi
