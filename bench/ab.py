"""A/B of prefill kernel variants in one process (GPU machine).

Each --variant NAME=DIR names a folder of bundles made by `bench/run.sh
prepare` (or by the same skipattn-compile flags from another commit):
prefill_d128[_causal] and prefill_d128[_causal]_skip. On the same inputs,
interleaved (cuDNN, every variant in order and again in reverse order
keeping the faster time, cuDNN again, per case), it times dense
prefill at S = 4K and 16K, causal and not, and the skip kernels on bench.py's
structured inputs with skipping off (lambda 0), on but skipping nothing, and
at about 75% and 90% tile sparsity, and checks that every variant agrees
with cuDNN's output (dense) and that the skip counts of all variants are
equal. Prints one line per case and writes --out/ab.json.
Timing as in bench.py: CUDA events, median (triton.testing.do_bench)."""
import argparse, json, math, os, sys
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from skipattn_runtime import Runtime  # noqa: E402


def cudnn(q, k, v, causal):
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        return bench.bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", default="4096,16384")
    ap.add_argument("--no-skip", action="store_true", help="dense rows only")
    a = ap.parse_args()
    rt = Runtime(a.runtime)
    variants = {}
    for spec in a.variant:
        name, d = spec.split("=", 1)
        variants[name] = {n: rt.load(os.path.join(d, n)) for n in sorted(os.listdir(d))
                          if os.path.isfile(os.path.join(d, n, "manifest.json"))}
    gen = torch.Generator(device="cuda").manual_seed(int.from_bytes(os.urandom(4), "little"))
    print(torch.__version__, torch.cuda.get_device_name(), "cudnn", torch.backends.cudnn.version(), flush=True)
    rows = []
    B, H, D = 1, 32, 128
    for S in [int(s) for s in a.lengths.split(",")]:
        for causal in (False, True):
            q, k, v = (torch.randn(B, H, S, D, device="cuda", generator=gen).to(torch.bfloat16) for _ in range(3))
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal).double()
            fl = bench.flops(B, H, S, S, D, causal)
            row = dict(case="dense", S=S, causal=causal, cudnn_ms=[cudnn(q, k, v, causal)])
            name = f"prefill_d128{'_causal' if causal else ''}"
            # Each variant twice, in order and then in reverse, keeping the
            # faster: a clock that drifts during the row favours none.
            order = list(variants.items())
            for vn, bundles in order + order[::-1]:
                out = torch.full_like(q, float("nan"))
                ms = bench.bench(lambda: bundles[name].run_device(q, k, v, out))
                row[f"{vn}_ms"] = min(ms, row.get(f"{vn}_ms", ms))
                row[f"{vn}_err"] = ((out.double() - ref).norm() / ref.norm()).item()
            row["cudnn_ms"].append(cudnn(q, k, v, causal))
            c = min(row["cudnn_ms"])
            rows.append(row)
            print(f"dense S={S} causal={causal}: cudnn={fl / c / 1e9:.0f} TFLOP/s "
                  + " ".join(f"{vn}={fl / row[vn + '_ms'] / 1e9:.0f} ({c / row[vn + '_ms']:.3f}x, err {row[vn + '_err']:.1e})"
                             for vn in variants), flush=True)
            del q, k, v, ref
    S, gap = 16384, 40.0
    for causal in () if a.no_skip else (False, True):
        q, k, v = bench.structured(B, H, H, S, S, D, 128, causal, gen, gap)
        t_cudnn = cudnn(q, k, v, causal)
        name = f"prefill_d128{'_causal' if causal else ''}"
        # lambda 0 turns skipping off at run time; 1e-30 keeps the vote but
        # skips nothing.
        for target in (None, 0.0, 0.75, 0.9):
            lam = 0.0 if target is None else math.exp(-gap * (1 - target)) if target > 0 else 1e-30
            row = dict(case="skip", S=S, causal=causal, target=target, lam=lam, cudnn_ms=t_cudnn)
            counts = {}
            for vn, bundles in variants.items():
                out = torch.empty_like(q)
                counts[vn] = bundles[name + "_skip"].run_device(q, k, v, out, lam, stats=True)
                row[f"{vn}_ms"] = bench.bench(lambda: bundles[name + "_skip"].run_device(q, k, v, out, lam))
                row[f"{vn}_dense_ms"] = bench.bench(lambda: bundles[name].run_device(q, k, v, out))
            total, skipped = next(iter(counts.values()))
            row.update(tiles_total=total, tiles_skipped=skipped, sparsity=skipped / total,
                       counts_equal=len(set(counts.values())) == 1)
            rows.append(row)
            print(f"skip S={S} causal={causal} lam={lam:.1e} sparsity={row['sparsity']:.3f} counts_equal={row['counts_equal']}: "
                  + " ".join(f"{vn}={row[vn + '_ms']:.3f} ms (vs cuDNN {t_cudnn / row[vn + '_ms']:.2f}x, "
                             f"vs own dense {row[vn + '_dense_ms'] / row[vn + '_ms']:.2f}x)" for vn in variants),
                  flush=True)
        del q, k, v
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "ab.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
