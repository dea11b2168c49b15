#!/usr/bin/env bash
# The main job. Builds skipattn, then takes the bundled example (causal
# attention as torch-mlir lowers it to linalg) through the whole pipeline:
#   1. attn-raise turns the linalg subgraph into one attn.attention;
#   2. skipattn-compile --target gpu --skip compiles it (as bf16) to PTX with
#      the Skip-Softmax predicate (the warp vote and the CTA vote);
#   3. it runs: the GPU bundle on the GPU when an NVIDIA driver is there,
#      else a CPU bundle of the same attention with the same predicate, on
#      inputs with a sink, and checks the result against float64 and prints
#      the skip counters.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
bin="$root/build/bin"
example="$root/examples/attention_linalg.mlir"
work="$root/build/example"
rm -rf "$work" && mkdir -p "$work"
# A Python with NumPy: the one on PATH, else Debian's (scripts/deps.sh).
py=python3
"$py" -c 'import numpy' 2>/dev/null || py=/usr/bin/python3

echo "== 1. $example, raised with --attn-raise:"
"$bin/skipattn-opt" --attn-raise "$example"

echo "== 2. compiled to PTX with the skip predicate (skipattn-compile --target gpu --dtype bf16 --skip):"
"$bin/skipattn-compile" "$example" --target gpu --dtype bf16 --skip -o "$work/gpu"
grep -m1 -n 'vote.sync.all.pred' "$work/gpu/kernel.ptx" | sed 's/^/  kernel.ptx:/'
grep -m1 -n 'bar.red.and.pred' "$work/gpu/kernel.ptx" | sed 's/^/  kernel.ptx:/'

"$py" "$root/examples/attention_io.py" inputs "$work" 1 4 200 64
if "$py" -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
  echo "== 3. run on the GPU (an NVIDIA driver is present):"
  bundle="$work/gpu" tol=2e-2
else
  echo "== 3. no NVIDIA driver here: run the CPU bundle (skipattn-compile --target cpu --skip):"
  "$bin/skipattn-compile" "$example" --target cpu --skip -o "$work/cpu"
  bundle="$work/cpu" tol=1e-4
fi
"$bin/skipattn-run" "$bundle" --q "$work/q.npy" --k "$work/k.npy" --v "$work/v.npy" \
  --out "$work/out.npy" --stats
"$py" "$root/examples/attention_io.py" check "$work" causal "$tol"
