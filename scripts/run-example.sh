#!/usr/bin/env bash
# The main job: builds skipattn and raises the bundled example (attention as
# torch-mlir emits it in linalg) to attn.attention, printing the result.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
example="$root/examples/attention_linalg.mlir"
echo "== $example, raised with --attn-raise:"
"$root/build/bin/skipattn-opt" --attn-raise "$example"
