#!/usr/bin/env bash
# The benchmark, in two halves because the GPU machine has no MLIR:
#   bench/run.sh prepare        compiles the bundles into build-gpu/bench
#   bench/run.sh run OUTDIR     (GPU machine) builds libskipattn_runtime and
#                               runs bench/bench.py, writing OUTDIR/bench.json
#                               and OUTDIR/speedup.png
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build-gpu/bench"

case "${1:-}" in
prepare)
  "$root/scripts/build.sh" >/dev/null
  c="$root/build/bin/skipattn-compile"
  rm -rf "$out" && mkdir -p "$out"
  dyn=(--batch '?' --q-len '?' --kv-len '?' --dtype bf16)
  for d in 64 128; do
    "$c" --target gpu -o "$out/prefill_d$d" "${dyn[@]}" --q-heads 32 --kv-heads 32 --head-dim $d
    "$c" --target gpu -o "$out/prefill_d${d}_causal" "${dyn[@]}" --q-heads 32 --kv-heads 32 --head-dim $d --causal
  done
  "$c" --target gpu -o "$out/prefill_d128_skip" "${dyn[@]}" --q-heads 32 --kv-heads 32 --head-dim 128 --skip
  "$c" --target gpu -o "$out/prefill_d128_causal_skip" "${dyn[@]}" --q-heads 32 --kv-heads 32 --head-dim 128 --causal --skip
  for causal in "" "_causal"; do
    "$c" --target gpu -o "$out/prefill_d128${causal}_f16" --batch '?' --q-len '?' --kv-len '?' --dtype f16 --q-heads 32 --kv-heads 32 --head-dim 128 ${causal:+--causal}
  done
  "$c" --target gpu -o "$out/decode_gqa" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128
  "$c" --target gpu -o "$out/decode_gqa_skip" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --skip
  for page in 16 64; do
    "$c" --target gpu -o "$out/decode_gqa_paged$page" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --page-size $page
  done
  "$c" --target gpu -o "$out/decode_gqa_paged16_skip" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --skip --page-size 16
  # Varlen prefill (bench/bench_varlen.py) and its non-varlen reference.
  "$c" --target gpu -o "$out/prefill_varlen_gqa_causal" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --causal --varlen
  "$c" --target gpu -o "$out/prefill_gqa_causal" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --causal
  echo "prepared $(ls "$out" | wc -l) bundles in $out"
  ;;
run)
  cmake -S "$root" -B "$root/build-rt" -G Ninja -DSKIPATTN_RUNTIME_ONLY=ON >/dev/null
  cmake --build "$root/build-rt" >/dev/null
  python3 "$root/bench/bench.py" --runtime "$root/build-rt/lib/libskipattn_runtime.so" \
    --bundles "$out" --out "${2:?usage: bench/run.sh run OUTDIR}" "${@:3}"
  ;;
*) echo "usage: bench/run.sh prepare | run OUTDIR [--quick] [--only prefill|decode|varlen]" >&2; exit 2 ;;
esac
