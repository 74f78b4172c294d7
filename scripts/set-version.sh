#!/usr/bin/env bash
# set-version.sh X.Y.Z: writes the version into internal/version (the one place it is
# decided) and into every literal copy other build systems need; go test ./internal/version
# checks they agree. Add the release's CHANGELOG.md entry yourself.
set -euo pipefail
v=${1:?usage: scripts/set-version.sh X.Y.Z}
[[ $v =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || { echo "set-version.sh: $v is not MAJOR.MINOR.PATCH" >&2; exit 2; }
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
cd "$(dirname "$0")/.."
sed -i -E "s/^const Version = \"[^\"]*\"/const Version = \"$v\"/" internal/version/version.go
sed -i -E -e "s/^#define HAMQTT_VERSION_STRING \"[^\"]*\"/#define HAMQTT_VERSION_STRING \"$v\"/" \
  -e "s/^#define HAMQTT_VERSION_MAJOR [0-9]+/#define HAMQTT_VERSION_MAJOR $major/" \
  -e "s/^#define HAMQTT_VERSION_MINOR [0-9]+/#define HAMQTT_VERSION_MINOR $minor/" \
  -e "s/^#define HAMQTT_VERSION_PATCH [0-9]+/#define HAMQTT_VERSION_PATCH $patch/" include/hamqtt.h
sed -i -E "s/^project\(hamqtt VERSION [0-9.]+/project(hamqtt VERSION $v/" CMakeLists.txt
sed -i -E "s/^version = \"[^\"]*\"/version = \"$v\"/" bindings/python/pyproject.toml
sed -i -E "s/^__version__ = \"[^\"]*\"/__version__ = \"$v\"/" bindings/python/src/hamqtt/__init__.py
sed -i -E "0,/^  \"version\": \"[^\"]*\"/s//  \"version\": \"$v\"/" bindings/node/package.json
grep -q "^## $v\$" CHANGELOG.md || echo "set-version.sh: CHANGELOG.md has no '## $v' entry yet: add one" >&2
