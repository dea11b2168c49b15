"""A few kernel launches for compute-sanitizer (memcheck, racecheck): a
causal skip prefill with ragged lengths (within one lap of the K/V ring,
over several, and with more tiles than SMs, so that CTAs take several) and a
GQA decode with several splits; for the serving bundles (docs/serving.md)
also decode of 6 query tokens (the wide kernel's warps), paged K/V through
a block table in random page order with garbage around it, a mask operand,
the lse output, varlen prefill over packed sequences, and the carry of a
ring (init_max read, max written: docs/distributed.md). The output is checked against float64 so a sanitizer
run also proves the launch did its work."""
import argparse, os, sys
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "kernels_runtime", "python"))
from check_gpu import (causal_scores, random_mask, reference,  # noqa: E402
                       round_down_f32, row_max, scatter_pages)
from skipattn_runtime import Runtime  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--runtime", required=True)
ap.add_argument("bundles", nargs="+")
a = ap.parse_args()
rt = Runtime(a.runtime)
gen = torch.Generator(device="cuda").manual_seed(7)
bad = 0


def report(ok, what):
    global bad
    bad += not ok
    print(f"{'PASS' if ok else 'FAIL'} sanitize {what}", flush=True)


for d in a.bundles:
    b = rt.load(d)
    man = b.manifest
    name = os.path.basename(d)
    sh = man["shapes"]
    Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
    dt = {"bf16": torch.bfloat16, "f16": torch.float16}[man["dtype"]]
    lam = 1e-3 if man["skip"] else 0.0
    if man.get("paged"):
        # Ragged sequences, one empty, through a scrambled block table.
        page = man["paged"]["page_size"]
        for Sq, lens in [(1, [700, 1, 0, 130]), (6, [300, 64])]:
            B, top = len(lens), max(lens)
            q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
            k = torch.randn(B, Hkv, top, D, generator=gen, device="cuda").to(dt)
            v = torch.randn(B, Hkv, top, D, generator=gen, device="cuda").to(dt)
            kp, vp, table, lens_t = scatter_pages(k, v, lens, page, gen)
            out = torch.full_like(q, float("nan"))
            lse = torch.empty(B, Hq, Sq, device="cuda") if man.get("lse") else None
            b.run_device(q, kp, vp, out, lam, stats=bool(man["stats"]), lse=lse,
                         block_table=table, seq_lens=lens_t)
            torch.cuda.synchronize()
            err = 0.0
            for i, n in enumerate(lens):
                ref = reference(q[i:i + 1], k[i:i + 1, :, :n], v[i:i + 1, :, :n],
                                man["causal"], man["scale"])
                err = max(err, ((out[i:i + 1].double() - ref).norm() /
                                ref.norm().clamp_min(1e-30)).item())
            report(not torch.isnan(out).any() and err < 5e-2,
                   f"{name} paged Sq={Sq} lens={lens} err={err:.1e}")
        continue
    if man.get("varlen"):
        # Packed sequences of mixed lengths, one without keys; the grid over
        # the longest sequence leaves idle CTAs for the shorter ones.
        lens = [(70, 130), (1, 1), (300, 300), (5, 0), (129, 64)]
        seqs = [tuple(torch.randn(1, H, S, D, generator=gen, device="cuda").to(dt)
                      for (H, S) in ((Hq, sq), (Hkv, skv), (Hkv, skv))) for (sq, skv) in lens]
        pack = [torch.cat([s[i][0].transpose(0, 1) for s in seqs]).contiguous() for i in range(3)]
        cu = [torch.tensor([0] + [sum(x[c] for x in lens[:i + 1]) for i in range(len(lens))],
                           dtype=torch.int32, device="cuda") for c in (0, 1)]
        out = torch.full_like(pack[0], float("nan"))
        b.run_device(*pack, out, lam, stats=bool(man["stats"]), cu_seqlens_q=cu[0],
                     cu_seqlens_k=cu[1], max_seqlen_q=max(x[0] for x in lens))
        torch.cuda.synchronize()
        err = 0.0
        for i, (q, k, v) in enumerate(seqs):
            mine = out[cu[0][i]:cu[0][i + 1]].transpose(0, 1)[None].double()
            ref = reference(q, k, v, man["causal"], man["scale"])
            err = max(err, ((mine - ref).norm() / ref.norm().clamp_min(1e-30)).item())
        report(not torch.isnan(out).any() and err < 5e-2, f"{name} varlen lens={lens} err={err:.1e}")
        continue
    for (B, Sq, Skv) in [(1, 70, 130), (1, 200, 700), (3, 700, 700), (2, 1, 700), (2, 6, 900)]:
        q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
        k = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
        v = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
        mask = random_mask(man, B, Hq, Sq, Skv, gen, dt) if man["mask"] else None
        out = torch.full_like(q, float("nan"))
        lse = torch.empty(B, Hq, Sq, device="cuda") if man.get("lse") else None
        carry = {}
        if man.get("init_max"):
            # A lower bound of each row's max: its first half of the keys.
            s = causal_scores(q, k, man["causal"], man["scale"])
            carry = {"init_max": round_down_f32(row_max(s[..., :Skv // 2])).contiguous(),
                     "max_out": torch.full((B, Hq, Sq), float("nan"), device="cuda")}
        b.run_device(q, k, v, out, lam, stats=bool(man["stats"]), lse=lse, mask=mask,
                     **carry)
        torch.cuda.synchronize()
        ref = reference(q, k, v, man["causal"], man["scale"], mask=mask)
        err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        ok = not torch.isnan(out).any() and err < 5e-2
        if carry:
            ok = ok and not torch.isnan(carry["max_out"]).any()
        report(ok, f"{name} B={B} Sq={Sq} Skv={Skv} err={err:.1e}")
sys.exit(1 if bad else 0)
