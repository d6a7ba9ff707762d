#!/usr/bin/env bash
# Configure (once) and build bgproxy into build/.  Extra arguments go to meson setup.
set -euo pipefail
cd "$(dirname "$0")/.."
werror=false
[ "${CI:-}" = true ] && werror=true
if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror="$werror" "$@"
fi
ninja -C build
