#!/usr/bin/env python3
"""Skip-Softmax accuracy in numbers: tile sparsity against output error.

For structured long-context inputs (a sink and two retrieved spans per kv
head score high, every other key block sits below them by a logit gap drawn
uniformly from [0, --gap]; the inputs of bench/bench.py) or for the user's
Q/K/V (.npy, [B, H, S, D]), runs skipattn.attention over a sweep of
thresholds and prints, per threshold, the measured tile sparsity and the
output error relative to a float64 reference and to the dense kernel in the
same dtype (bf16 by default), then writes accuracy.json and accuracy.png
(with matplotlib) to --out.

    python3 bench/accuracy.py --device cuda --kv-len 16384 --q-len 16384 --out OUT
    python3 bench/accuracy.py --q q.npy --k k.npy --v v.npy --causal --out OUT
    python3 bench/accuracy.py --device cpu --dtype f32 --q-len 256 --kv-len 4096

Errors are max|o - ref| / max|ref| ("max") and ||o - ref|| / ||ref|| ("l2")
over the whole output. Thresholds: --lambdas, or --targets (sparsities,
turned into lambdas by skipattn.calibrate on these inputs, in float64 on the
CPU: for moderate sizes), default a grid of lambda = exp(-x), x from 40 down
to 0.25. Skipping is forced on (min_kv_len 0) so the guards do not hide it.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import skipattn  # noqa: E402
from skipattn import calibrate as cal  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
DEFAULT_LOG_LAMBDAS = [-40, -30, -25, -20, -16, -13, -10, -8, -6, -5, -4, -3,
                       -2, -1.5, -1, -0.5, -0.25]


def structured(b, hq, hkv, sq, skv, d, block_n, device, generator, gap=40.0):
    """Long-context structure (as bench/bench.py): every query attends to a
    sink (key block 0) and two retrieved spans of its kv head; every other
    key block sits below those by a logit gap drawn uniformly from [0, gap]
    per block, so lambda chooses the sparsity (a tile is skippable when its
    gap exceeds -ln(lambda)). float32 tensors on `device`."""
    u = torch.randn(d, device=device, generator=generator)
    u /= u.norm()
    scale = 1.0 / math.sqrt(d)
    nkv = -(-skv // block_n)
    strength = -gap * torch.rand(b, hkv, nkv, device=device,
                                 generator=generator)
    strength[:, :, 0] = 0.0
    spans = torch.randint(0, nkv, (b, hkv, 2), device=device,
                          generator=generator)
    strength.scatter_(2, spans, 0.0)
    base = 8.0  # logit of the strong blocks
    a = math.sqrt((base + gap) / scale)
    q = torch.randn(b, hq, sq, d, device=device, generator=generator) * 0.05
    q = q + a * u
    kb = (base + strength) / (a * scale)
    kpos = kb.repeat_interleave(block_n, dim=2)[:, :, :skv]
    k = torch.randn(b, hkv, skv, d, device=device, generator=generator) * 0.05
    k = k + kpos[..., None] * u
    v = torch.randn(b, hkv, skv, d, device=device, generator=generator)
    return q, k, v


def reference(q, k, v, causal, max_elements=1 << 26):
    """float64 attention on q's device, in blocks of query rows so that a
    64K x 64K problem fits; GQA by head index, causal bottom-right."""
    b, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(d)
    rows = max(1, min(sq, max_elements // skv))
    out = torch.empty(b, hq, sq, v.shape[3], dtype=torch.float64,
                      device=q.device)
    keys = torch.arange(skv, device=q.device)
    for bi in range(b):
        for h in range(hq):
            kh = k[bi, h // (hq // hkv)].double()
            vh = v[bi, h // (hq // hkv)].double()
            for r0 in range(0, sq, rows):
                r1 = min(sq, r0 + rows)
                s = (q[bi, h, r0:r1].double() @ kh.T) * scale
                if causal:
                    limit = torch.arange(r0, r1, device=q.device) + (skv - sq)
                    s.masked_fill_(keys[None, :] > limit[:, None], -math.inf)
                p = torch.softmax(s, dim=-1).nan_to_num_(0.0)
                out[bi, h, r0:r1] = p @ vh
    return out


def errors(out, ref):
    diff = out.double() - ref
    return {"max": float(diff.abs().max() / ref.abs().max().clamp(min=1e-300)),
            "l2": float(diff.norm() / ref.norm().clamp(min=1e-300))}


def thresholds(args, q, k, causal):
    if args.lambdas:
        return [float(x) for x in args.lambdas.split(",") if x]
    if args.targets:
        targets = [float(x) for x in args.targets.split(",") if x]
        bm, bn = skipattn.block_sizes(q.device, causal, q.shape[3], q.shape[2])
        res = cal.calibrate([(q, k)], targets, causal, bm, bn)
        return [t["lambda"] for t in res["entry"]["targets"]
                if t["lambda"] is not None]
    return [math.exp(x) for x in DEFAULT_LOG_LAMBDAS]


def load_inputs(args, device, dtype):
    if args.q:
        if not (args.k and args.v):
            raise SystemExit("accuracy: --q needs --k and --v")
        q, k, v = (torch.from_numpy(np.load(p).astype(np.float32)).to(device)
                   for p in (args.q, args.k, args.v))
        what = "user inputs %s" % os.path.basename(args.q)
    else:
        gen = torch.Generator(device=device).manual_seed(args.seed)
        bn = skipattn.block_sizes(device, args.causal, args.head_dim)[1]
        q, k, v = structured(args.batch, args.q_heads, args.kv_heads,
                             args.q_len, args.kv_len, args.head_dim, bn,
                             device, gen, args.gap)
        what = "structured (gap %g, seed %d)" % (args.gap, args.seed)
    return q.to(dtype), k.to(dtype), v.to(dtype), what


def plot(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print("accuracy: no matplotlib (%s): %s not written" % (e, path))
        return False
    rows = result["rows"]
    sp = [r["sparsity"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    floor = 1e-12
    for key, label, style in (
            ("vs_float64", "vs float64", "o-"),
            ("vs_dense", "vs dense %s" % result["dtype"], "s--")):
        ax.semilogy(sp, [max(r[key]["l2"], floor) for r in rows], style,
                    label=label + " (relative L2)")
    ax.axhline(max(result["dense_vs_float64"]["l2"], floor), color="gray",
               lw=0.8, label="dense %s vs float64" % result["dtype"])
    ax.set_xlabel("measured tile sparsity")
    ax.set_ylabel("relative output error")
    ax.set_title(result["inputs"] + ", " + result["shape"], fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print("wrote", path)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available()
                   else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--q")
    p.add_argument("--k")
    p.add_argument("--v")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--q-heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--q-len", type=int, default=1024)
    p.add_argument("--kv-len", type=int, default=16384)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--gap", type=float, default=40.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--lambdas", help="comma-separated thresholds")
    p.add_argument("--targets", help="comma-separated target sparsities")
    p.add_argument("--out", help="directory for accuracy.json/.png")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    q, k, v, what = load_inputs(args, device, dtype)
    causal = args.causal
    shape = "q %s k %s%s" % (list(q.shape), list(k.shape),
                             " causal" if causal else "")
    ref = reference(q, k, v, causal)
    dense = skipattn.attention(q, k, v, causal=causal)
    base = errors(dense, ref)
    print("skipattn accuracy: %s, %s, %s on %s" % (what, shape, args.dtype,
                                                   device))
    print("dense %s vs float64: max %.3e  l2 %.3e" % (args.dtype, base["max"],
                                                      base["l2"]))
    print("%-10s %9s %11s %11s %11s %11s" % (
        "lambda", "sparsity", "f64 max", "f64 l2", "dense max", "dense l2"))
    rows = []
    for lam in thresholds(args, q, k, causal):
        out, st = skipattn.attention(
            q, k, v, causal=causal, skip={"lambda": lam, "min_kv_len": 0},
            return_stats=True)
        row = {"lambda": lam, "sparsity": st["sparsity"],
               "tiles_total": st["tiles_total"],
               "tiles_skipped": st["tiles_skipped"], "dense": st["dense"],
               "vs_float64": errors(out, ref),
               "vs_dense": errors(out, dense.double())}
        rows.append(row)
        print("%-10.3g %9.4f %11.3e %11.3e %11.3e %11.3e" % (
            lam, row["sparsity"], row["vs_float64"]["max"],
            row["vs_float64"]["l2"], row["vs_dense"]["max"],
            row["vs_dense"]["l2"]))
    result = {"inputs": what, "shape": shape, "dtype": args.dtype,
              "device": str(device), "dense_vs_float64": base, "rows": rows}
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "accuracy.json"), "w") as f:
            json.dump(result, f, indent=1)
        plot(result, os.path.join(args.out, "accuracy.png"))
    return result


if __name__ == "__main__":
    main()
