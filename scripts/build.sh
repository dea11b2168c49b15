#!/usr/bin/env bash
# Configures and builds skipattn into build/ (tools land in build/bin/), or
# into $SKIPATTN_BUILD_DIR. The configure is a plain one: lit, FileCheck
# and Python are found with Debian's packages alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SKIPATTN_BUILD_DIR:-$root/build}"
"$root/scripts/deps.sh"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C "$build"
