#!/usr/bin/env bash
# A/B of the decode kernels of two compilers (bench/ab_decode.py), in two
# halves because the GPU machine has no MLIR:
#   bench/ab_decode.sh prepare [BASE_COMPILE]
#       (here) compiles decode_gqa, decode_gqa_skip and decode_gqa_paged16
#       with this checkout's skipattn-compile into build-gpu/ab-decode/new and
#       with BASE_COMPILE (default: the lead's /work/main build) into
#       build-gpu/ab-decode/base
#       and the decode bundles of the GPU suite that this change touches
#       (dense, skip, lse, paged, shared-max) into build-gpu/ab-decode/check
#   bench/ab_decode.sh run OUTDIR
#       (GPU machine) builds libskipattn_runtime from this checkout, runs
#       test/GPU/check_gpu.py --quick on the check bundles (float64
#       reference, skip counts against the simulation), then
#       bench/ab_decode.py on both variants, writing OUTDIR/ab_decode.json
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build-gpu/ab-decode"

bundles() {
  local c="$1" dir="$2"
  local dyn=(--batch '?' --q-len '?' --kv-len '?' --dtype bf16 --q-heads 32 --kv-heads 8 --head-dim 128)
  mkdir -p "$dir"
  "$c" --target gpu -o "$dir/decode_gqa" "${dyn[@]}"
  "$c" --target gpu -o "$dir/decode_gqa_skip" "${dyn[@]}" --skip
  "$c" --target gpu -o "$dir/decode_gqa_paged16" "${dyn[@]}" --page-size 16
}

case "${1:-}" in
prepare)
  "$root/scripts/build.sh" >/dev/null
  rm -rf "$out"
  bundles "$root/build/bin/skipattn-compile" "$out/new"
  # The opt-in shared-max decode, this checkout only.
  "$root/build/bin/skipattn-compile" --target gpu -o "$out/new/decode_gqa_skip_sharedmax" \
    --batch '?' --q-len '?' --kv-len '?' --dtype bf16 --q-heads 32 --kv-heads 8 --head-dim 128 --skip --decode-shared-max
  bundles "${2:-/work/main/build/bin/skipattn-compile}" "$out/base"
  c="$root/build/bin/skipattn-compile"
  dyn=(--batch '?' --q-len '?' --kv-len '?' --dtype bf16 --q-heads 32 --kv-heads 8 --head-dim 128)
  mkdir -p "$out/check"
  "$c" --target gpu -o "$out/check/bf16_d128_gqa" "${dyn[@]}"
  "$c" --target gpu -o "$out/check/bf16_d128_gqa_skip" "${dyn[@]}" --skip
  "$c" --target gpu -o "$out/check/bf16_d128_gqa_lse" "${dyn[@]}" --lse
  "$c" --target gpu -o "$out/check/bf16_d128_gqa_paged16_skip" "${dyn[@]}" --skip --page-size 16
  "$c" --target gpu -o "$out/check/bf16_d128_gqa_skip_sharedmax" "${dyn[@]}" --skip --decode-shared-max
  "$c" --target gpu -o "$out/check/f16_d64_causal_paged256_lse" --batch '?' --q-len '?' --kv-len '?' \
    --q-heads 8 --kv-heads 2 --head-dim 64 --dtype f16 --causal --page-size 256 --lse
  echo "prepared $(ls "$out"/*/*/manifest.json | wc -l) bundles in $out"
  ;;
run)
  cmake -S "$root" -B "$root/build-rt" -G Ninja -DSKIPATTN_RUNTIME_ONLY=ON >/dev/null
  cmake --build "$root/build-rt" >/dev/null
  status=0
  python3 "$root/test/GPU/check_gpu.py" --quick --runtime "$root/build-rt/lib/libskipattn_runtime.so" \
    --bundles "$out/check" || status=1
  python3 "$root/bench/ab_decode.py" --runtime "$root/build-rt/lib/libskipattn_runtime.so" \
    --variant "base=$out/base" --variant "new=$out/new" --out "${2:?usage: bench/ab_decode.sh run OUTDIR}" || status=1
  exit $status
  ;;
*) echo "usage: bench/ab_decode.sh prepare [BASE_COMPILE] | run OUTDIR" >&2; exit 2 ;;
esac
