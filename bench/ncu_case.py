"""One skipattn kernel under the profiler (run by bench/ncu.sh on the GPU
machine): builds the structured inputs of bench.py, picks the threshold for
a target tile sparsity, and runs the bundle three times (ncu profiles the
third launch).

With --trace, no ncu: the call runs 20 times under torch.profiler, each
after an L2 flush as triton's do_bench does, and the device activity of the
calls (the runtime's workspace memset, the kernel) is printed beside the
event-timed span of a call, so that time outside the kernel shows.

With --sustain S, no ncu: the call runs back to back for S seconds (as a
benchmark's repetitions do) while nvidia-smi samples the SM clock and the
power draw every 100 ms; prints the time per call and the median clock and
power of the second half, where the card has settled under its limits.
With --dobench, no ncu: bench.py's own timing (triton's do_bench) three
times, with the clock and power sampled the same way."""
import argparse, math, os, sys
import torch

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from skipattn_runtime import Runtime  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--runtime", required=True)
ap.add_argument("--bundle", required=True)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--len", type=int, default=16384)
ap.add_argument("--q-len", type=int, help="default: --len (prefill)")
ap.add_argument("--sparsity", type=float, default=0.0)
ap.add_argument("--lam", type=float, help="the threshold itself (0: skipping off), not from --sparsity")
ap.add_argument("--random", action="store_true", help="standard normal q, k, v (bench.py's dense rows) instead of the structured ones")
ap.add_argument("--dobench", action="store_true",
                help="no ncu: bench.py's timing (do_bench) three times, sampling the SM clock and power")
ap.add_argument("--trace", action="store_true", help="torch.profiler timeline instead of a run for ncu")
ap.add_argument("--sustain", type=float, default=0.0,
                help="no ncu: run back to back for this many seconds, sampling the SM clock and power (nvidia-smi)")
a = ap.parse_args()
bundle = Runtime(a.runtime).load(a.bundle)
m = bundle.manifest
sh = m["shapes"]
sq = a.q_len or a.len
gen = torch.Generator(device="cuda").manual_seed(7)
gap = 40.0
q, k, v = bench.structured(a.batch, sh["q_heads"], sh["kv_heads"], sq, a.len, sh["head_dim"],
                           m["block_n"], m["causal"], gen, gap)
if a.random:
    # Drawn in f32 and rounded once to the bundle's dtype: f16 values keep
    # their 11 significant bits (structured() returns bf16 tensors, whose
    # randn_like would give f16 inputs of bf16 precision).
    q, k, v = (torch.randn(x.shape, device=x.device, dtype=torch.float32) for x in (q, k, v))
q, k, v = (x.to(bench.DTYPES[m["dtype"]]) for x in (q, k, v))
out = torch.empty_like(q)
lam = math.exp(-gap * (1 - a.sparsity)) if a.sparsity > 0 else 1e-30
if a.lam is not None:
    lam = a.lam
for i in range(3):
    res = bundle.run_device(q, k, v, out, lam, stats=True) if m["skip"] else bundle.run_device(q, k, v, out)
torch.cuda.synchronize()
if res:
    print(f"{os.path.basename(a.bundle)}: measured sparsity {res[1] / res[0]:.3f}")
call = (lambda: bundle.run_device(q, k, v, out, lam)) if m["skip"] else (lambda: bundle.run_device(q, k, v, out))

if a.trace:
    from torch.profiler import profile, ProfilerActivity
    flush = torch.empty(256 * 1024 * 1024 // 4, dtype=torch.int32, device="cuda")
    reps, spans = 20, []
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            flush.zero_()
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            call()
            e1.record()
            torch.cuda.synchronize()
            spans.append(e0.elapsed_time(e1) * 1e3)
    spans.sort()
    print(f"event span of one call: median {spans[reps // 2]:.1f} us, min {spans[0]:.1f} us")
    avg = prof.key_averages()
    key = "self_device_time_total" if hasattr(avg[0], "self_device_time_total") else "self_cuda_time_total"
    print(avg.table(sort_by=key, row_limit=12, max_name_column_width=60))


def sample_clocks():
    import subprocess
    return subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits",
                             "-lms", "100"], stdout=subprocess.PIPE, text=True)


def clock_summary(smi):
    smi.terminate()
    samples = [tuple(float(x) for x in line.split(",")) for line in smi.communicate()[0].splitlines()
               if line.count(",") == 1 and "N/A" not in line]
    late = sorted(samples[len(samples) // 2:]) or [(0.0, 0.0)]
    power = sorted(p for _, p in late)
    return (f"SM clock median {late[len(late) // 2][0]:.0f} MHz, power median {power[len(power) // 2]:.0f} W"
            f" ({len(samples)} samples)")


if a.dobench:
    # bench.py's own timing (triton do_bench: L2 flush before every call,
    # median), three times, with the clock sampled meanwhile.
    smi = sample_clocks()
    times = [bench.bench(call) for _ in range(3)]
    print(f"{os.path.basename(a.bundle)} do_bench x3: " + ", ".join(f"{t:.3f}" for t in times)
          + f" ms; second half: {clock_summary(smi)}")

if a.sustain > 0:
    import time
    smi = sample_clocks()
    t0, calls = time.time(), 0
    e0 = torch.cuda.Event(enable_timing=True)
    e1 = torch.cuda.Event(enable_timing=True)
    half = None
    while time.time() - t0 < a.sustain:
        for _ in range(10):
            call()
        calls += 10
        if half is None and time.time() - t0 > a.sustain / 2:
            torch.cuda.synchronize()
            half, e0_calls = time.time(), calls
            e0.record()
    if half is None:
        sys.exit(f"--sustain {a.sustain}: too short for one batch of 10 calls per half")
    e1.record()
    torch.cuda.synchronize()
    print(f"{os.path.basename(a.bundle)} sustained {a.sustain:.0f} s: second half "
          f"{e0.elapsed_time(e1) / (calls - e0_calls):.3f} ms per call, {clock_summary(smi)}")
