#!/usr/bin/env bash
# check_exports.sh LIB HEADER: the library's dynamic symbols are exactly the functions the
# header declares (and nothing else: no Go runtime or cgo glue symbols leak out).
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -oE '^[a-z0-9_ *]+[ *](hamqtt_[a-z_]+)\(' "$header" | sed -E 's/.*[ *](hamqtt_[a-z_]+)\($/\1/' | sort -u)
if [ "$exported" != "$declared" ]; then
  echo "exports and header disagree:"
  diff <(echo "$declared") <(echo "$exported") || true
  exit 1
fi
echo "ok: $(echo "$exported" | wc -l) functions exported, all declared in $(basename "$header")"
readelf -d "$lib" | grep 'SONAME.*libhamqtt\.so\.0' >/dev/null || { echo "no SONAME libhamqtt.so.0"; exit 1; }
echo "ok: SONAME libhamqtt.so.0"
