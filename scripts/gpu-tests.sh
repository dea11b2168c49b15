#!/usr/bin/env bash
# GPU tests, in two halves because the GPU machine has no MLIR:
#
#   scripts/gpu-tests.sh prepare   (where skipattn builds) compiles the test
#                                  bundles into build-gpu/tests, and the
#                                  object of examples/host_program
#   scripts/gpu-tests.sh run       (on the GPU machine, with build-gpu/
#                                  copied there) builds libskipattn_runtime
#                                  from source, runs the correctness sweep
#                                  (test/GPU/check_gpu.py), the runtime's
#                                  robustness cases (out of memory, another
#                                  chip, a driver too old for the PTX, an
#                                  edited manifest, threads and streams, a
#                                  bad device pointer:
#                                  test/Runtime/gpu_robustness.py), links
#                                  and runs the host-program example, and runs
#                                  compute-sanitizer memcheck and racecheck
#                                  (run --quick: a third of the shapes).
#
# CI has no GPU and runs neither; lit reports the GPU suite
# (test/GPU/device-suite.test) as UNSUPPORTED.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build-gpu/tests"

prepare() {
  "$root/scripts/build.sh" >/dev/null
  local c="$root/build/bin/skipattn-compile"
  rm -rf "$out" && mkdir -p "$out"
  local dyn=(--batch '?' --q-len '?' --kv-len '?')
  "$c" --target gpu -o "$out/bf16_d128_gqa_causal_skip" "${dyn[@]}" --q-heads 8 --kv-heads 2 --head-dim 128 --dtype bf16 --causal --skip
  "$c" --target gpu -o "$out/bf16_d128_gqa_skip_sf" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --skip-scale-factor 4
  "$c" --target gpu -o "$out/bf16_d128_m64_dense" "${dyn[@]}" --block-m 64 --q-heads 4 --kv-heads 4 --head-dim 128 --dtype bf16
  "$c" --target gpu -o "$out/f16_d64_causal" "${dyn[@]}" --q-heads 4 --kv-heads 1 --head-dim 64 --dtype f16 --causal
  "$c" --target gpu -o "$out/bf16_d128_gqa81_causal" "${dyn[@]}" --q-heads 8 --kv-heads 1 --head-dim 128 --dtype bf16 --causal
  "$c" --target gpu -o "$out/f16_d128_skip" "${dyn[@]}" --q-heads 4 --kv-heads 2 --head-dim 128 --dtype f16 --skip
  "$c" --target gpu -o "$out/f16_d64_mha_skip" "${dyn[@]}" --q-heads 2 --kv-heads 2 --head-dim 64 --dtype f16 --skip
  "$c" --target gpu -o "$out/bf16_d64_warpvote_skip" "${dyn[@]}" --q-heads 4 --kv-heads 2 --head-dim 64 --dtype bf16 --causal --skip --block-m 128 --vote 16
  "$c" --target gpu --chip sm_80 -o "$out/bf16_d128_sm80_causal" "${dyn[@]}" --q-heads 4 --kv-heads 4 --head-dim 128 --dtype bf16 --causal
  # Serving (docs/serving.md): the log-sum-exp output and its merge; GQA
  # 16/1 with 6 and 8 query tokens gives the wide decode kernel 96 and 128
  # rows, more than its merge stages at once (two groups of rows, many
  # rounds of splits).
  "$c" --target gpu -o "$out/bf16_d128_gqa16_lse" "${dyn[@]}" --q-heads 16 --kv-heads 1 --head-dim 128 --dtype bf16 --lse
  "$c" --target gpu -o "$out/bf16_d128_gqa_lse" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --lse
  # Paged K/V, each with its contiguous twin (the name without _paged<P>).
  "$c" --target gpu -o "$out/bf16_d128_gqa_skip" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --skip
  "$c" --target gpu -o "$out/bf16_d128_gqa_paged16_skip" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --skip --page-size 16
  # The opt-in shared-max decode: skip counts at least the prediction.
  "$c" --target gpu -o "$out/bf16_d128_gqa_skip_sharedmax" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --skip --decode-shared-max
  "$c" --target gpu -o "$out/f16_d64_causal_paged256_lse" "${dyn[@]}" --q-heads 8 --kv-heads 2 --head-dim 64 --dtype f16 --causal --page-size 256 --lse
  # Masks on the GPU: a bool padding mask with skipping, an additive one.
  "$c" --target gpu -o "$out/bf16_d128_gqa_causal_skip_maskb" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --causal --skip --mask 'bool:?,1,1,?'
  "$c" --target gpu --chip sm_80 -o "$out/f16_d64_sm80_maska" "${dyn[@]}" --q-heads 4 --kv-heads 1 --head-dim 64 --dtype f16 --mask 'additive:?,4,?,?'
  # Varlen prefill, each with its twin (the name without _varlen): the
  # Hopper kernel causal with skipping, non-causal with skipping (GQA 32/8)
  # and dense f16 D=64; the mma.sync kernel on sm_80.
  "$c" --target gpu -o "$out/bf16_d128_gqa_causal_skip_varlen" "${dyn[@]}" --q-heads 8 --kv-heads 2 --head-dim 128 --dtype bf16 --causal --skip --varlen
  "$c" --target gpu -o "$out/bf16_d128_gqa_skip_varlen" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --skip --varlen
  "$c" --target gpu -o "$out/f16_d64_causal_varlen" "${dyn[@]}" --q-heads 4 --kv-heads 1 --head-dim 64 --dtype f16 --causal --varlen
  "$c" --target gpu --chip sm_80 -o "$out/bf16_d128_sm80_causal_varlen" "${dyn[@]}" --q-heads 4 --kv-heads 4 --head-dim 128 --dtype bf16 --causal --varlen
  # The carry of a ring (docs/distributed.md), each with its twin (the name
  # without _carry; bf16_d128_gqa_lse above is the dense one's): the
  # mma.sync prefill kernel with init_max and max, on sm_90a and sm_80.
  "$c" --target gpu -o "$out/bf16_d128_gqa_causal_skip_lse_carry" "${dyn[@]}" --q-heads 8 --kv-heads 2 --head-dim 128 --dtype bf16 --causal --skip --lse --init-max
  "$c" --target gpu -o "$out/bf16_d128_gqa_causal_skip_lse" "${dyn[@]}" --q-heads 8 --kv-heads 2 --head-dim 128 --dtype bf16 --causal --skip --lse
  "$c" --target gpu --chip sm_80 -o "$out/f16_d64_gqa_warpvote_skip_lse_sm80_carry" "${dyn[@]}" --q-heads 4 --kv-heads 2 --head-dim 64 --dtype f16 --skip --block-m 128 --vote 16 --lse --init-max
  "$c" --target gpu --chip sm_80 -o "$out/f16_d64_gqa_warpvote_skip_lse_sm80" "${dyn[@]}" --q-heads 4 --kv-heads 2 --head-dim 64 --dtype f16 --skip --block-m 128 --vote 16 --lse
  "$c" --target gpu -o "$out/bf16_d128_gqa_lse_carry" "${dyn[@]}" --q-heads 32 --kv-heads 8 --head-dim 128 --dtype bf16 --lse --init-max
  "$root/examples/host_program/build.sh" --object "$out/host_program"
  echo "prepared $(ls "$out"/*/manifest.json | wc -l) test bundles and the host program in $out"
}

run() {
  cmake -S "$root" -B "$root/build-rt" -G Ninja -DSKIPATTN_RUNTIME_ONLY=ON >/dev/null
  cmake --build "$root/build-rt" >/dev/null
  local lib="$root/build-rt/lib/libskipattn_runtime.so"
  local failed=0
  python3 "$root/test/GPU/check_gpu.py" --runtime "$lib" --bundles "$out" "$@" || failed=1
  echo "== runtime robustness (test/Runtime/gpu_robustness.py)"
  python3 "$root/test/Runtime/gpu_robustness.py" --no-build \
    --build-dir "$root/build-rt" --bundles "$out" || failed=1
  echo "== examples/host_program"
  "$root/examples/host_program/build.sh" --link "$out/host_program" "$(dirname "$lib")"
  "$out/host_program/attention_host" || failed=1
  # The serving kernels too (docs/serving.md): paged decode through a
  # scrambled block table (skip, and lse at pages of 256), masks, varlen;
  # and the carry of a ring (init_max, max).
  local sanitize=(python3 "$root/test/GPU/sanitize.py" --runtime "$lib"
                  "$out/bf16_d128_gqa_causal_skip" "$out/f16_d64_causal"
                  "$out/bf16_d128_gqa_paged16_skip"
                  "$out/f16_d64_causal_paged256_lse"
                  "$out/bf16_d128_gqa_causal_skip_maskb"
                  "$out/bf16_d128_gqa_causal_skip_varlen"
                  "$out/bf16_d128_gqa_causal_skip_lse_carry")
  for tool in memcheck racecheck synccheck; do
    echo "== compute-sanitizer --tool $tool"
    compute-sanitizer --tool "$tool" --error-exitcode 9 "${sanitize[@]}" || failed=1
  done
  return $failed
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/gpu-tests.sh prepare | run [--quick]" >&2; exit 2 ;;
esac
