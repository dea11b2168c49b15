#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test that
# this machine can run (lit + FileCheck, CPU numerics, PTX assembly, the
# host program's build). Tests that need a GPU are reported as unsupported,
# never as passed. SKIPATTN_BUILD_DIR picks the build folder (default
# build/); every test passes from any.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SKIPATTN_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh"
ninja -C "$build" check-skipattn
if ! /usr/bin/python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
  echo "GPU tests: SKIPPED, no NVIDIA driver on this machine (lit reports"
  echo "test/GPU/device-suite.test UNSUPPORTED; on a GPU machine run"
  echo "scripts/gpu-tests.sh prepare && scripts/gpu-tests.sh run)"
fi
