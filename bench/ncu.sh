#!/usr/bin/env bash
# Nsight Compute on the benchmark's kernels (GPU machine, after
# bench/run.sh prepare): dense (also causal) and skip prefill (S=16K) and
# decode (B=8, L=32K), skip at about 75% tile sparsity, with the warp stall
# reasons.
# Writes OUTDIR/ncu-NAME.txt; names after OUTDIR pick some of the cases.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: bench/ncu.sh OUTDIR [NAME...]}"
shift
only=" $* "
b="$root/build-gpu/bench"
cmake -S "$root" -B "$root/build-rt" -G Ninja -DSKIPATTN_RUNTIME_ONLY=ON >/dev/null
cmake --build "$root/build-rt" >/dev/null
rt="$root/build-rt/lib/libskipattn_runtime.so"
mkdir -p "$out"
stalls=""
for reason in barrier long_scoreboard short_scoreboard mio_throttle math_pipe_throttle \
              wait not_selected selected lg_throttle dispatch_stall no_instruction \
              branch_resolving membar misc; do
  stalls+="${stalls:+,}smsp__average_warps_issue_stalled_${reason}_per_issue_active.ratio"
done
profile() {
  local name=$1; shift
  [[ "$only" == "  " || "$only" == *" $name "* ]] || return 0
  ncu --clock-control none --kernel-name regex:skipattn_ --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
    --section WarpStateStats --section Occupancy --section LaunchStats --metrics "$stalls" \
    python3 "$root/bench/ncu_case.py" --runtime "$rt" "$@" > "$out/ncu-$name.txt" 2>&1 || echo "ncu $name failed"
}
profile prefill-dense --bundle "$b/prefill_d128"
profile prefill-dense-4k --bundle "$b/prefill_d128" --len 4096
profile prefill-causal --bundle "$b/prefill_d128_causal"
profile prefill-causal-skip0 --bundle "$b/prefill_d128_causal_skip" --lam 0
profile prefill-causal-f16 --bundle "$b/prefill_d128_causal_f16"
# Random inputs (f16 values of full precision, as bench.py's f16 rows).
profile prefill-causal-random --bundle "$b/prefill_d128_causal" --random
profile prefill-causal-f16-random --bundle "$b/prefill_d128_causal_f16" --random
profile prefill-skip0 --bundle "$b/prefill_d128_skip" --sparsity 0
profile prefill-skip75 --bundle "$b/prefill_d128_skip" --sparsity 0.75
profile decode-dense --bundle "$b/decode_gqa" --batch 8 --len 32768 --q-len 1
profile decode-b1 --bundle "$b/decode_gqa" --batch 1 --len 8192 --q-len 1
profile decode-skip75 --bundle "$b/decode_gqa_skip" --batch 8 --len 32768 --q-len 1 --sparsity 0.75
