#!/usr/bin/env bash
# A/B of the decode kernels of two compilers (bench/ab_decode.py), in two
# halves because the GPU machine has no MLIR:
#   bench/ab_decode.sh prepare [BASE_COMPILE]
#       (here) compiles decode_gqa, decode_gqa_skip and decode_gqa_paged16
#       with this checkout's skipattn-compile into build-gpu/ab-decode/new and
#       with BASE_COMPILE (default: the lead's /work/main build) into
#       build-gpu/ab-decode/base
#   bench/ab_decode.sh run OUTDIR
#       (GPU machine) builds libskipattn_runtime from this checkout and runs
#       bench/ab_decode.py on both, writing OUTDIR/ab_decode.json
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
  echo "prepared $(ls "$out"/*/*/manifest.json | wc -l) bundles in $out"
  ;;
run)
  cmake -S "$root" -B "$root/build-rt" -G Ninja -DSKIPATTN_RUNTIME_ONLY=ON >/dev/null
  cmake --build "$root/build-rt" >/dev/null
  python3 "$root/bench/ab_decode.py" --runtime "$root/build-rt/lib/libskipattn_runtime.so" \
    --variant "base=$out/base" --variant "new=$out/new" --out "${2:?usage: bench/ab_decode.sh run OUTDIR}"
  ;;
*) echo "usage: bench/ab_decode.sh prepare [BASE_COMPILE] | run OUTDIR" >&2; exit 2 ;;
esac
