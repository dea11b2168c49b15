"""Decode benchmark rows of bench.py (issue 9, docs/serving.md).

GQA 32/8, D=128, bf16, one query token, B in {1, 8, 64}, L in {8K, 32K,
128K}; K/V contiguous and paged (pages of 16 and 64 tokens, in random page
order); in the same run and on the same inputs: torch SDPA's decode
(enable_gqa) and a torch copy of the K/V bytes. TB/s counts the bytes the
attention reads (K, V, q) and writes (out); the copy counts what it reads
and writes.

Skip rows: inputs with the structure of DESIGN.md section 8, the important
keys spread over the whole context (a sink in kv-block 0 and about 3% of
the blocks, at random places, score high; every other block sits below
them by a logit gap drawn uniformly from [0, 40]). For each target of 0,
50, 70 and 90% the threshold is the one at which a single unsplit pass
over the kv range (one vote per GQA group, running max = the cumulative
max, since a skipped tile never raises it) skips that fraction; each row
reports that figure next to the kernel's own count, whose splits start
from the seed of kv-block 0 (docs/serving.md).

    bench/run.sh prepare && bench/run.sh run OUTDIR --only decode

--quick runs the two rows of the acceptance figures (B=8 L=32K, B=1 L=8K);
without it the whole table runs, acceptance rows first, and stops starting
new shapes once DECODE_BUDGET_S seconds (300 by default, an H100's run of
the whole table) have passed, printing which shapes it left out. Shapes
whose K/V do not fit the free memory are left out with a printed reason.
"""
import math
import os
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

DEV = "cuda"
DT = torch.bfloat16
HQ, HKV, D = 32, 8, 128
TARGETS = (0.0, 0.5, 0.7, 0.9)
GAP = 40.0


def structured(B, L, bn, gen):
    """q [B, 32, 1, 128], k and v [B, 8, L, 128]: a sink and ~3% of the
    kv-blocks score 8 (scaled logits), every other block 8 - U(0, 40)."""
    u = torch.randn(D, device=DEV, generator=gen)
    u /= u.norm()
    scale = 1.0 / math.sqrt(D)
    nkv = -(-L // bn)
    strength = -GAP * torch.rand(B, HKV, nkv, device=DEV, generator=gen)
    strength[:, :, 0] = 0.0
    strong = torch.rand(B, HKV, nkv, device=DEV, generator=gen) < 0.03
    strength = torch.where(strong, torch.zeros_like(strength), strength)
    base = 8.0
    a = math.sqrt((base + GAP) / scale)
    q = torch.randn(B, HQ, 1, D, device=DEV, generator=gen) * 0.05 + a * u
    kb = (base + strength) / (a * scale)
    k = torch.empty(B, HKV, L, D, device=DEV, dtype=DT)
    for b in range(B):  # one sequence at a time bounds the f32 temporaries
        noise = torch.randn(HKV, L, D, device=DEV, generator=gen) * 0.05
        k[b] = (noise + kb[b].repeat_interleave(bn, dim=1)[:, :L, None] * u).to(DT)
    v = torch.randn(B, HKV, L, D, device=DEV, generator=gen, dtype=DT)
    return q.to(DT), k, v


def unsplit_votes(q, k, bn):
    """The skip margin of every tile of an unsplit pass: per (b, kv head,
    block j > 0) the largest (tile max - running max before j) over the rows
    of the GQA group, in scaled logits; the tile is skipped at lambda when
    this is below ln(lambda). Also returns the number of (b, kv head)
    groups, whose block 0 the pass counts but never skips."""
    B, _, _, _ = q.shape
    L = k.shape[2]
    g = HQ // HKV
    scale = 1.0 / math.sqrt(D)
    margins = []
    for b in range(B):  # one sequence at a time keeps the scores small
        s = torch.einsum("hgd,hjd->hgj", q[b, :, 0].view(HKV, g, D).float(),
                         k[b].float()) * scale
        nkv = -(-L // bn)
        s = torch.nn.functional.pad(s, (0, nkv * bn - L), value=float("-inf"))
        mt = s.view(HKV, g, nkv, bn).amax(-1)  # [HKV, g, nkv]
        before = torch.cummax(mt, dim=-1).values[..., :-1]
        margins.append((mt[..., 1:] - before).amax(dim=1).flatten())
    return torch.cat(margins), B * HKV


def threshold_for(margins, groups, target):
    """The lambda at which the unsplit pass skips `target` of the tiles
    (tiles_total counts block 0 too), and the fraction it then skips."""
    total = margins.numel() + groups
    if target <= 0:
        return 1e-30, float((margins < math.log(1e-30)).sum()) / total
    ordered = torch.sort(margins).values
    n = min(int(target * total), ordered.numel())
    # Just above the n-th smallest margin: n tiles have margin < ln(lambda).
    cut = ordered[n - 1].item() + 1e-3 if n > 0 else ordered[0].item() - 1.0
    cut = min(cut, -1e-3)
    lam = math.exp(cut)
    return lam, float((margins < cut).sum()) / total


def paged(k, v, page, gen):
    """Page pools of k and v in random page order, the block table and the
    lengths (all sequences L long)."""
    B, _, L, _ = k.shape
    per = -(-L // page)
    order = torch.randperm(B * per, device=DEV, generator=gen)
    table = order.view(B, per).to(torch.int32)
    pad = per * page - L

    def pool(x):
        out = torch.empty(B * per, page, HKV, D, device=DEV, dtype=DT)
        for b in range(B):  # one sequence at a time bounds the temporaries
            xb = torch.nn.functional.pad(x[b], (0, 0, 0, pad))  # [H, per*page, D]
            out[order[b * per:(b + 1) * per]] = xb.view(HKV, per, page, D).permute(1, 2, 0, 3)
        return out

    lens = torch.full((B,), L, dtype=torch.int32, device=DEV)
    return pool(k), pool(v), table, lens


def free_bytes():
    return torch.cuda.mem_get_info()[0]


def run(a, bundles, gen, rows, bench):
    """Appends the decode rows to `rows`; `bench` times a callable (ms)."""
    first = [(8, 32768), (1, 8192)]
    shapes = first + [(B, L) for L in (8192, 32768, 131072) for B in (1, 8, 64)
                      if (B, L) not in first]
    if a.quick:
        shapes = first
    budget = float(os.environ.get("DECODE_BUDGET_S", "300"))
    start = time.time()
    dense, skip = bundles["decode_gqa"], bundles["decode_gqa_skip"]
    bn = next(k["block_n"] for k in skip.manifest["kernels"] if k["name"] == "decode")
    for n, (B, L) in enumerate(shapes):
        if time.time() - start > budget:
            print(f"decode: {time.time() - start:.0f} s past, over DECODE_BUDGET_S={budget:.0f}: "
                  f"left out {shapes[n:]}", flush=True)
            break
        kv_bytes = 2 * B * HKV * L * D * 2
        # Contiguous K/V plus one page pool at a time (and room to spare).
        if 2.2 * kv_bytes > free_bytes():
            print(f"decode B={B} L={L}: skipped (needs {2.2 * kv_bytes / 2**30:.0f} GiB)", flush=True)
            continue
        q, k, v = structured(B, L, bn, gen)
        out = torch.empty_like(q)
        byts = kv_bytes + 2 * q.numel() * 2
        row = dict(kind="decode", B=B, Hq=HQ, Hkv=HKV, L=L, D=D)
        row["contiguous_ms"] = bench(lambda: dense.run_device(q, k, v, out))
        buf = torch.empty_like(k)
        row["copy_ms"] = bench(lambda: buf.copy_(k))
        del buf
        # A copy of k moves its bytes twice (read and write).
        row["copy_tbps"] = 2 * k.numel() * 2 / (row["copy_ms"] * 1e-3) / 1e12
        for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION),
                              ("flash", SDPBackend.FLASH_ATTENTION),
                              ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
            try:
                with sdpa_kernel([backend]):
                    row[f"sdpa_{name}_ms"] = bench(
                        lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
            except Exception as e:  # a back end that does not take the shape
                row[f"sdpa_{name}_ms"] = None
                print(f"  sdpa {name}: {str(e).splitlines()[0][:80]}")
        for page in (16, 64):
            kp, vp, table, lens = paged(k, v, page, gen)
            ours = bundles[f"decode_gqa_paged{page}"]
            row[f"paged{page}_ms"] = bench(lambda: ours.run_device(
                q, kp, vp, out, block_table=table, seq_lens=lens))
            if page == 16 and (B, L) in ((8, 32768), (1, 131072)):
                skip_rows(a, bundles["decode_gqa_paged16_skip"], "paged16", q, k, (kp, vp, table, lens),
                          row[f"paged{page}_ms"], B, L, bn, rows, bench)
            del kp, vp, table, lens
        for key in ("contiguous", "paged16", "paged64", "sdpa_cudnn", "sdpa_flash", "sdpa_efficient"):
            ms = row.get(f"{key}_ms")
            row[f"{key}_tbps"] = byts / (ms * 1e-3) / 1e12 if ms else None
        row["vs_copy"] = row["contiguous_tbps"] / row["copy_tbps"]
        row["paged16_vs_contiguous"] = row["contiguous_ms"] / row["paged16_ms"]
        rows.append(row)
        print(f"decode B={B} L={L}: " + "  ".join(
            f"{key}={row[key + '_tbps']:.2f}" if row[key + "_tbps"] else f"{key}=-"
            for key in ("contiguous", "paged16", "paged64", "sdpa_cudnn", "sdpa_flash", "sdpa_efficient"))
            + f" TB/s  copy={row['copy_tbps']:.2f} TB/s  ours/copy={row['vs_copy']:.3f}"
            f"  paged16/contiguous time={1 / row['paged16_vs_contiguous']:.3f}", flush=True)
        if (B, L) != (64, 131072):
            skip_rows(a, skip, "contiguous", q, k, v, row["contiguous_ms"], B, L, bn, rows, bench)
        del q, k, v, out
        print(f"decode: {time.time() - start:.0f} s so far", flush=True)


def skip_rows(a, skip, layout, q, k, kv, dense_ms, B, L, bn, rows, bench):
    """The sparsity sweep of one layout: kv is v (contiguous) or the paged
    (k pages, v pages, table, lens)."""
    margins, groups = unsplit_votes(q, k, bn)
    out = torch.empty_like(q)
    if layout == "contiguous":
        call = lambda lam, stats=False: skip.run_device(q, k, kv, out, lam, stats=stats)  # noqa: E731
    else:
        kp, vp, table, lens = kv
        call = lambda lam, stats=False: skip.run_device(  # noqa: E731
            q, kp, vp, out, lam, stats=stats, block_table=table, seq_lens=lens)
    plan = skip.plan(q, k, kv) if layout == "contiguous" else skip.plan(q, *kv[:3])
    splits = plan["num_splits"]
    for target in TARGETS:
        lam, unsplit = threshold_for(margins, groups, target)
        total, skipped = call(lam, True)
        t = bench(lambda: call(lam))
        row = dict(kind="skip-decode" + ("" if layout == "contiguous" else "-" + layout),
                   layout=layout, B=B, Hq=HQ, Hkv=HKV, Sq=1, Skv=L, D=D, causal=False,
                   target=target, lam=lam, splits=splits, unsplit_sparsity=unsplit,
                   tiles_total=total, tiles_skipped=skipped, sparsity=skipped / max(total, 1),
                   dense_ms=dense_ms, skip_ms=t, speedup=dense_ms / t)
        rows.append(row)
        print(f"skip decode {layout} B={B} L={L} splits={splits} lam={lam:.2e}: "
              f"unsplit={unsplit:.3f} kernel={row['sparsity']:.3f} dense={dense_ms:.3f} ms "
              f"skip={t:.3f} ms speedup={row['speedup']:.2f}x", flush=True)
