"""Varlen prefill rows of bench.py (issue 9, docs/serving.md).

32 causal sequences of mixed lengths (512 to 16K, uniform in log length),
bf16, 32 query and 8 key/value heads, D=128, packed [tokens, H, D] with
cu_seqlens, through the varlen bundle; against one sequence of the same
total work (length sqrt(sum L_b^2)) through the same bundle, and through
the non-varlen causal prefill bundle for reference, each timed twice (in
one order, then the reverse; the faster counts). TFLOP/s count the
causal work, 2 * H * D * sum L_b^2 (half of 4 * H * D * L^2).

    bench/run.sh prepare && bench/run.sh run OUTDIR --only varlen
"""
import math

import torch

DEV = "cuda"
DT = torch.bfloat16
HQ, HKV, D = 32, 8, 128


def packed(lens, gen):
    """q [T, 32, 128], k and v [T, 8, 128], cu_seqlens [B + 1] (int32)."""
    total = sum(lens)
    q = torch.randn(total, HQ, D, device=DEV, generator=gen).to(DT)
    k = torch.randn(total, HKV, D, device=DEV, generator=gen).to(DT)
    v = torch.randn(total, HKV, D, device=DEV, generator=gen).to(DT)
    cu = torch.zeros(len(lens) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lens), 0)
    return q, k, v, cu.to(DEV)


def run(a, bundles, gen, rows, bench):
    """Appends the varlen rows to `rows`; `bench` times a callable (ms)."""
    ours = bundles["prefill_varlen_gqa_causal"]
    dense = bundles["prefill_gqa_causal"]
    counts = [32] if not a.quick else [8]
    for n in counts:
        g = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen,
                                                            device=DEV).item()))
        lens = [int(round(math.exp(x)))
                for x in torch.empty(n).uniform_(math.log(512), math.log(16384), generator=g)]
        work = sum(L * L for L in lens)
        single = int(round(math.sqrt(work)))
        fl = 2.0 * HQ * D * work
        row = dict(kind="varlen-prefill", sequences=n, lens=lens, tokens=sum(lens),
                   single_len=single, Hq=HQ, Hkv=HKV, D=D, causal=True)
        qm, km, vm, cum = packed(lens, gen)
        outm = torch.empty_like(qm)
        q, k, v, cu = packed([single], gen)
        out = torch.empty_like(q)
        q4, k4, v4 = (x.transpose(0, 1)[None].contiguous() for x in (q, k, v))
        out4 = torch.empty_like(q4)
        calls = {
            "varlen": lambda: ours.run_device(
                qm, km, vm, outm, cu_seqlens_q=cum, cu_seqlens_k=cum,
                max_seqlen_q=max(lens)),
            "single_varlen": lambda: ours.run_device(
                q, k, v, out, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=single),
            "single_prefill": lambda: dense.run_device(q4, k4, v4, out4)}
        # Each timed twice, in one order and then the reverse, keeping the
        # faster: a long run heats the card, and what comes after it pays.
        order = list(calls)
        for key in order + order[::-1]:
            ms = bench(calls[key])
            row[f"{key}_ms"] = min(ms, row.get(f"{key}_ms", ms))
        del qm, km, vm, outm, q, k, v, out, q4, k4, v4, out4
        for key in ("varlen", "single_varlen", "single_prefill"):
            row[f"{key}_tflops"] = fl / (row[f"{key}_ms"] * 1e-3) / 1e12
        row["varlen_vs_single"] = row["varlen_tflops"] / row["single_varlen_tflops"]
        rows.append(row)
        print(f"varlen prefill {n} sequences ({sum(lens)} tokens, 512-16K) vs one of "
              f"{single}: varlen={row['varlen_tflops']:.0f} single(varlen)="
              f"{row['single_varlen_tflops']:.0f} single(prefill)="
              f"{row['single_prefill_tflops']:.0f} TFLOP/s  "
              f"mixed/single={row['varlen_vs_single']:.3f}", flush=True)
