"""GPU correctness of skipattn bundles on a CUDA device (run by
scripts/gpu-tests.sh on the GPU machine; it needs PyTorch and a built
libskipattn_runtime, not MLIR).

For every bundle in --bundles it checks, on fresh random inputs each time:
- dense results (and skip bundles at lambda = 0) against a float64 reference
  over ragged lengths, causal, GQA, prefill and decode shapes, with the
  output poisoned (NaN) before each run so unwritten elements show;
- skip bundles on planted inputs (a few high-scoring key blocks per query):
  tiles_total and tiles_skipped equal an independent float64 simulation of
  the criterion for the kernel the runtime picks (prefill: one vote per
  q-block; decode: one vote per GQA group and kv split), and the output
  equals the reference with exactly those tiles dropped.
Prints one line per case and a summary; exits non-zero on any failure."""
import argparse, json, math, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "kernels_runtime", "python"))
from skipattn_runtime import Runtime  # noqa: E402

DT = {"bf16": torch.bfloat16, "f16": torch.float16}
TOL = {"bf16": 1.5e-2, "f16": 3e-3}
LOG2E = 1.4426950408889634


def reference(q, k, v, causal, scale, drop=None):
    """float64 attention; drop: bool [B, Hq, Sq, Skv] of entries to leave out."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    g = Hq // Hkv
    qd = q.double()
    kd = k.double().repeat_interleave(g, 1)
    vd = v.double().repeat_interleave(g, 1)
    s = torch.einsum("bhid,bhjd->bhij", qd, kd) * scale
    keep = torch.ones_like(s, dtype=torch.bool)
    if causal:
        i = torch.arange(Sq, device=q.device)[:, None]
        j = torch.arange(Skv, device=q.device)[None, :]
        keep &= (j <= i + Skv - Sq)
    if drop is not None:
        keep &= ~drop
    s = s.masked_fill(~keep, float("-inf"))
    m = s.amax(-1, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(-1, keepdim=True)
    return torch.where(l > 0, (p @ vd) / torch.where(l > 0, l, torch.ones_like(l)), torch.zeros_like(l))


def simulate(q, k, man, plan, lam):
    """Independent float64 re-implementation of DESIGN.md section 4 for the
    kernel the runtime planned. Returns (total, skipped, drop, margin)."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    g = Hq // Hkv
    bn = man["block_n"]
    causal, scale = man["causal"], man["scale"]
    nkv = -(-Skv // bn)
    s = torch.einsum("bhid,bhjd->bhij", q.double(), k.double().repeat_interleave(g, 1)) * scale
    if causal:
        i = torch.arange(Sq, device=q.device)[:, None]
        j = torch.arange(Skv, device=q.device)[None, :]
        s = s.masked_fill(j > i + Skv - Sq, float("-inf"))
    pad = nkv * bn - Skv
    sp = torch.nn.functional.pad(s, (0, pad), value=float("-inf"))
    tmax = sp.view(B, Hq, Sq, nkv, bn).amax(-1)  # [B, Hq, Sq, nkv]
    on = 0 < lam < 1
    lnl = math.log(lam) if on else 0.0
    drop = torch.zeros_like(s, dtype=torch.bool)
    total = skipped = 0
    margin = float("inf")
    if plan["kernel"] == "decode":
        splits = plan["num_splits"]
        per = -(-nkv // splits)
        # rows of one vote: every query of every head of a GQA group
        t = tmax.view(B, Hkv, g * Sq, nkv)
        groups = [(b, h) for b in range(B) for h in range(Hkv)]
        ranges = [(sp_ * per, min(sp_ * per + per, nkv)) for sp_ in range(splits)]
        units = [(t[b, h], (b, h)) for (b, h) in groups]
        mult = g
    else:
        bm = man["block_m"]
        # One vote per q-block, or per warp's 16 rows with a finer group;
        # every group of a q-block visits the q-block's kv-blocks.
        group = man["skip"]["vote_rows"] if man["skip"] else bm
        nqb = -(-Sq // bm)
        units = []
        for b in range(B):
            for h in range(Hq):
                for qb in range(nqb):
                    for r in range(qb * bm, qb * bm + bm, group):
                        r0, r1 = min(r, Sq), min(r + group, Sq)
                        units.append((tmax[b, h, r0:r1], (b, h, r0, r1, qb * bm)))
        mult = 1
    for rows_t, key in units:
        if plan["kernel"] == "decode":
            rngs = ranges
        else:
            b, h, r0, r1, q0 = key
            last = nkv
            if causal:
                keys_end = min(q0 + man["block_m"], Sq) + Skv - Sq
                last = max(0, min(nkv, -(-keys_end // bn))) if keys_end > 0 else 0
            rngs = [(0, last)]
        for j0, j1 in rngs:
            m = torch.full((rows_t.shape[0],), float("-inf"), dtype=torch.float64, device=q.device)
            for j in range(j0, j1):
                mt = rows_t[:, j]
                total += mult
                if on and j > j0:
                    gap = mt - m
                    yes = torch.isinf(mt) & (mt < 0) | (gap < lnl)
                    fin = ~torch.isinf(mt) & ~torch.isinf(m)
                    if fin.any():
                        margin = min(margin, (gap[fin] - lnl).abs().min().item() * LOG2E)
                    if bool(yes.all()):
                        skipped += mult
                        c0, c1 = j * bn, min(j * bn + bn, Skv)
                        if plan["kernel"] == "decode":
                            b, h = key
                            drop[b, h * g:(h + 1) * g, :, c0:c1] = True
                        else:
                            b, h, r0, r1, _ = key
                            drop[b, h, r0:r1, c0:c1] = True
                        continue
                m = torch.maximum(m, mt)
    return total, skipped, drop, margin


def planted(B, Hq, Hkv, Sq, Skv, D, dt, bn, gen):
    """Queries that all score high on a sink (key block 0) and on about a
    quarter of the other key blocks of their GQA group, chosen at random,
    and low on the rest. Decode splits start their running max afresh, so
    strong blocks spread over the whole range give every split something to
    skip."""
    dev = "cuda"
    u = torch.randn(D, generator=gen, device=dev, dtype=torch.float64)
    u /= u.norm()
    # The strong keys score about 12 logits (after the 1/sqrt(D) scale) above
    # the rest, which sit near 0.
    a = math.sqrt(12.0 * math.sqrt(D))
    q = torch.randn(B, Hq, Sq, D, generator=gen, device=dev, dtype=torch.float64) * 0.3 + a * u
    k = torch.randn(B, Hkv, Skv, D, generator=gen, device=dev, dtype=torch.float64) * 0.3
    nkv = -(-Skv // bn)
    strong = torch.rand(B, Hkv, nkv, generator=gen, device=dev) < 0.25
    strong[:, :, 0] = True
    k += a * strong.repeat_interleave(bn, dim=2)[:, :, :Skv, None] * u
    v = torch.randn(B, Hkv, Skv, D, generator=gen, device=dev, dtype=torch.float64)
    return q.to(dt), k.to(dt), v.to(dt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--bundles", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    rt = Runtime(a.runtime)
    seed = int.from_bytes(os.urandom(4), "little")
    gen = torch.Generator(device="cuda").manual_seed(seed)
    print(f"seed {seed}", flush=True)
    fails = cases = 0
    shapes = [(1, 1, 1), (2, 1, 63), (1, 3, 64), (2, 2, 129), (1, 64, 64), (2, 65, 129),
              (1, 200, 500), (1, 500, 200), (1, 1000, 2000), (3, 1, 5000), (1, 4097, 4097)]
    if a.quick:
        shapes = shapes[::3]
    for name in sorted(os.listdir(a.bundles)):
        d = os.path.join(a.bundles, name)
        if not os.path.isfile(os.path.join(d, "manifest.json")):
            continue
        bundle = rt.load(d)
        man = bundle.manifest
        sh = man["shapes"]
        dt, tol = DT[man["dtype"]], TOL[man["dtype"]]
        Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
        for (B, Sq, Skv) in shapes:
            q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
            k = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            v = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
            plan = bundle.plan(q, k, v)
            res = bundle.run_device(q, k, v, out, 0.0, stats=bool(man["stats"]))
            torch.cuda.synchronize()
            ref = reference(q, k, v, man["causal"], man["scale"])
            nan = torch.isnan(out).sum().item()
            err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
            ok = nan == 0 and err <= tol and (res is None or res[1] == 0)
            cases += 1
            fails += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} {plan['kernel']} B={B} Sq={Sq} Skv={Skv} "
                  f"err={err:.1e} nan={nan} stats={res}", flush=True)
        if not man["skip"]:
            continue
        # Planted inputs, predicted skip counts.
        for (B, Sq, Skv, lam) in [(1, 1, 4000, 1e-3), (2, 2, 3000, 1e-2), (1, 200, 1500, 1e-3),
                                  (1, 130, 1000, 3e-2)]:
            for attempt in range(6):
                q, k, v = planted(B, Hq, Hkv, Sq, Skv, D, dt, man["block_n"], gen)
                plan = bundle.plan(q, k, v)
                total, skipped, drop, margin = simulate(q, k, man, plan, lam)
                if margin > 0.05:
                    break
            out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
            got = bundle.run_device(q, k, v, out, lam, stats=True)
            ref = reference(q, k, v, man["causal"], man["scale"], drop)
            err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
            nan = torch.isnan(out).sum().item()
            ok = got == (total, skipped) and nan == 0 and err <= tol and skipped > 0
            cases += 1
            fails += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} planted {plan['kernel']} B={B} Sq={Sq} Skv={Skv} lam={lam} "
                  f"stats={got} predicted={(total, skipped)} margin={margin:.2f} err={err:.1e} nan={nan}", flush=True)
    print(f"gpu tests: {cases} cases, {cases - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
