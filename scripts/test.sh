#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test that
# this machine can run (lit + FileCheck, CPU numerics, PTX assembly). Tests
# that need a GPU are reported as unsupported, never as passed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/build.sh"
ninja -C "$root/build" check-skipattn
