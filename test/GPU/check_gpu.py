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
  q-block; decode: one vote per GQA group and kv split, each split past
  kv-block 0 starting from the seed of block 0, on the decode kernel's own
  kv-block), and the output equals the reference with exactly those tiles
  dropped;
- paged bundles (docs/serving.md): sequences of mixed lengths scattered
  over a page pool in random order, against float64 per sequence, skip
  counts against the simulation per sequence, and the same batch through
  the contiguous twin bundle (the name without "_paged<P>") equal;
- varlen bundles (docs/serving.md): sequences of mixed lengths packed
  [tokens, H, D] with cu_seqlens, each against float64, skip counts against
  the per-sequence simulation, and each sequence through the twin bundle
  (the name without "_varlen") alone: outputs and summed counts equal;
- bundles with a mask operand: a random mask of the compiled shape on every
  run (rows with no key included), in the reference and in the simulation;
- bundles with the opt-in shared-max decode (skipattn-compile
  --decode-shared-max): the decode kernel's counts are timing-dependent, so
  tiles_total equals the prediction and tiles_skipped is at least the
  deterministic one (which holds by construction), and the output is
  compared with the attention that skips nothing (planted low tiles sit 12
  logits under); planted inputs without a sink make the difference show;
- bundles with lse (docs/serving.md): the log-sum-exp of every row against
  float64 on every run, and two halves of the key range, each run on the
  device and merged with the runtime's skipattn_merge_lse, equal to the
  whole call;
- bundles with the carry (skipattn-compile --init-max, docs/distributed.md;
  out, lse and max poisoned): init_max all -inf gives out, lse and counts
  bit-identical to the twin bundle (the name without "_carry") where it
  runs the prefill kernel too (counts: but for warp-vote groups wholly past
  Sq, which skip block 0 as well), and max the largest score of each row; on
  planted inputs, init_max the row max over the first half of the keys
  (float64, rounded down to f32) gives float64 attention with the tiles the
  simulation (every kv-block voted, block 0 included) drops, its counts and
  lse, and max the largest kept score; two calls over the two parts of
  the keys, the second starting from the first's max, merge to float64
  attention of every key with both calls' predicted drops.
Prints one line per case and a summary; exits non-zero on any failure."""
import argparse, json, math, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "kernels_runtime", "python"))
from skipattn_runtime import Runtime  # noqa: E402

DT = {"bf16": torch.bfloat16, "f16": torch.float16}
TOL = {"bf16": 1.5e-2, "f16": 3e-3}
LOG2E = 1.4426950408889634
# Absolute error of a row's log-sum-exp (f32 sums, lg2.approx).
LSE_TOL = 2e-3


def reference(q, k, v, causal, scale, drop=None, mask=None):
    """float64 attention; drop: bool [B, Hq, Sq, Skv] of entries to leave out;
    mask: broadcasting to [B, Hq, Sq, Skv], bool (keep) or additive."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    if Skv == 0:
        # No key: every row is fully masked, and yields zeros.
        return torch.zeros(B, Hq, Sq, v.shape[3], dtype=torch.float64, device=q.device)
    g = Hq // Hkv
    qd = q.double()
    kd = k.double().repeat_interleave(g, 1)
    vd = v.double().repeat_interleave(g, 1)
    s = torch.einsum("bhid,bhjd->bhij", qd, kd) * scale
    s = apply_mask(s, mask)
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


def apply_mask(s, mask):
    """Scores with a mask operand applied, as the kernels do."""
    if mask is None:
        return s
    if mask.dtype == torch.bool:
        return s.masked_fill(~mask.expand_as(s), float("-inf"))
    return s + mask.double()


def random_mask(man, B, Hq, Sq, Skv, gen, dt):
    """A mask of the bundle's compiled shape (1 broadcasts, -1 the call's
    extent): bool keeping ~80% (all of batch 0's first query dropped), or
    additive N(0, 2) with ~10% -inf."""
    full = [B, Hq, Sq, Skv]
    shape = [1 if d == 1 else full[i] for i, d in enumerate(man["mask"]["shape"])]
    r = torch.rand(shape, generator=gen, device="cuda")
    if man["mask"]["dtype"] == "i1":
        mask = r < 0.8
        mask[0, ..., 0, :] = False
        return mask
    mask = torch.randn(shape, generator=gen, device="cuda") * 2
    return mask.masked_fill(r < 0.1, float("-inf")).to(dt)


def reference_lse(q, k, causal, scale, drop=None, mask=None):
    """float64 log-sum-exp of each row [B, Hq, Sq]; -inf for a row with no key."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    s = torch.einsum("bhid,bhjd->bhij", q.double(),
                     k.double().repeat_interleave(Hq // Hkv, 1)) * scale
    s = apply_mask(s, mask)
    if causal:
        i = torch.arange(Sq, device=q.device)[:, None]
        j = torch.arange(Skv, device=q.device)[None, :]
        s = s.masked_fill(j > i + Skv - Sq, float("-inf"))
    if drop is not None:
        s = s.masked_fill(drop, float("-inf"))
    return torch.logsumexp(s, -1)


def lse_error(got, ref):
    """Largest |got - ref| over the finite rows; inf when the -inf rows or any
    NaN disagree."""
    if bool(torch.isnan(got).any()) or not torch.equal(torch.isinf(got), torch.isinf(ref)):
        return float("inf")
    fin = torch.isfinite(ref)
    return (got.double()[fin] - ref[fin]).abs().max().item() if bool(fin.any()) else 0.0


def check_lse_merge(rt, bundle, name, man, gen, dt, tol):
    """Two halves of the key range, run on the device and merged on the host,
    equal the whole call (non-causal, or one query row, so that a causal mask
    does not move with each half's length)."""
    sh = man["shapes"]
    Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
    ok_all = True
    for (B, Sq, Skv, cut) in [(2, 1, 3000, 1111), (1, 1, 200, 64), (1, 100, 700, 300)]:
        if man["causal"] and Sq > 1:
            continue
        q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
        k = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
        v = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
        runs = []
        for (kk, vv) in ((k, v), (k[:, :, :cut].contiguous(), v[:, :, :cut].contiguous()),
                         (k[:, :, cut:].contiguous(), v[:, :, cut:].contiguous())):
            out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
            lse = torch.full((B, Hq, Sq), float("nan"), device="cuda")
            bundle.run_device(q, kk, vv, out, 0.0, lse=lse)
            runs.append((out, lse))
        torch.cuda.synchronize()
        (ow, lw), (oa, la), (ob, lb) = [(o.float().cpu(), l.cpu()) for (o, l) in runs]
        om, lm = torch.empty_like(oa), torch.empty_like(la)
        rt.merge_lse(oa, la, ob, lb, om, lm)
        ref = reference(q, k, v, man["causal"], man["scale"]).cpu()
        err = ((om.double() - ref).norm() / ref.norm()).item()
        err_whole = ((om - ow).norm() / ow.norm()).item()
        lerr = lse_error(lm, reference_lse(q, k, man["causal"], man["scale"]).cpu())
        ok = err <= tol and err_whole <= tol and lerr <= LSE_TOL
        ok_all &= ok
        print(f"{'PASS' if ok else 'FAIL'} {name} lse-merge B={B} Sq={Sq} Skv={Skv} cut={cut} "
              f"err={err:.1e} vs_whole={err_whole:.1e} lse_err={lerr:.1e}", flush=True)
    return ok_all


def causal_scores(q, k, causal, scale):
    """float64 scores [B, Hq, Sq, Skv], -inf where causal hides the key."""
    Hq, Sq, Skv = q.shape[1], q.shape[2], k.shape[2]
    s = torch.einsum("bhid,bhjd->bhij", q.double(),
                     k.double().repeat_interleave(Hq // k.shape[1], 1)) * scale
    if causal:
        i = torch.arange(Sq, device=q.device)[:, None]
        j = torch.arange(Skv, device=q.device)[None, :]
        s = s.masked_fill(j > i + Skv - Sq, float("-inf"))
    return s


def row_max(s):
    """The max of each score row, -inf for a row without keys."""
    if s.shape[-1] == 0:
        return torch.full(s.shape[:-1], float("-inf"), dtype=s.dtype, device=s.device)
    return s.amax(-1)


def round_down_f32(x):
    """x (float64) rounded down to f32: a lower bound of x."""
    f = x.float()
    up = f.double() > x
    return torch.where(up, torch.nextafter(f, torch.full_like(f, float("-inf"))), f)


def kept_max(s, drop, init):
    """The largest score each row keeps (drop left out), at least init."""
    if drop is not None:
        s = s.masked_fill(drop, float("-inf"))
    return torch.maximum(row_max(s), init.double())


def max_error(got, ref):
    """Largest |got - ref| / (1 + |ref|) over the finite rows (f32 scores of
    bf16/f16 products: a few f32 roundings); inf when the -inf rows or any
    NaN disagree."""
    if bool(torch.isnan(got).any()) or not torch.equal(torch.isinf(got), torch.isinf(ref)):
        return float("inf")
    fin = torch.isfinite(ref)
    if not bool(fin.any()):
        return 0.0
    return ((got.double()[fin] - ref[fin]).abs() / (1 + ref[fin].abs())).max().item()


# A row's max from f32 scores of the same bf16/f16 inputs.
MAX_TOL = 2e-5


def dead_groups(man, B, Hq, Sq, Skv):
    """Vote groups of the prefill kernel whose rows all lie past Sq (a warp
    vote's last warps on a ragged q-block) in q-blocks that visit a kv-block:
    they vote yes on every block they vote on, so with init_max (block 0
    voted too) each skips one tile more than without."""
    bm, bn = man["block_m"], man["block_n"]
    group = man["skip"]["vote_rows"] if man["skip"] else bm
    nkv = -(-Skv // bn)
    n = 0
    for q0 in range(0, Sq, bm):
        last = nkv
        if man["causal"]:
            keys_end = min(q0 + bm, Sq) + Skv - Sq
            last = max(0, min(nkv, -(-keys_end // bn))) if keys_end > 0 else 0
        if last:
            n += sum(1 for r in range(q0, q0 + bm, group) if r >= Sq)
    return n * B * Hq


def run_carry(bundle, q, k, v, lam, init, stats=True):
    """One call of a carry bundle with poisoned outputs: (out, lse, max,
    counts)."""
    B, Hq, Sq, D = q.shape
    out = torch.full((B, Hq, Sq, v.shape[3]), float("nan"), device="cuda", dtype=q.dtype)
    lse = torch.full((B, Hq, Sq), float("nan"), device="cuda")
    mx = torch.full((B, Hq, Sq), float("nan"), device="cuda")
    got = bundle.run_device(q, k, v, out, lam, stats=stats, lse=lse,
                            init_max=init.float().contiguous(), max_out=mx)
    torch.cuda.synchronize()
    return out, lse, mx, got


def check_carry_bundle(rt, bundle, name, man, gen, dt, tol, bundles_dir, quick):
    """The carry of a ring (init_max in, max out; docs/distributed.md).
    Returns (cases, failures)."""
    sh = man["shapes"]
    Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
    causal, scale = man["causal"], man["scale"]
    twin_dir = os.path.join(bundles_dir, name.replace("_carry", ""))
    twin = rt.load(twin_dir) if os.path.isfile(
        os.path.join(twin_dir, "manifest.json")) else None
    skip = bool(man["skip"])
    cases = fails = 0

    def report(ok, text):
        nonlocal cases, fails
        cases += 1
        fails += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name} {text}", flush=True)

    # init_max all -inf: the twin's answer, bit for bit, where the twin runs
    # the prefill kernel too (it has decode kernels for short queries), and
    # float64 with the simulation's drops everywhere. The counts are the
    # twin's but for the vote groups wholly past Sq (dead_groups), which
    # skip block 0 too.
    lam = 1e-3 if skip else 0.0
    shapes = [(1, 1, 1), (2, 1, 63), (1, 3, 64), (2, 2, 129), (2, 65, 129), (1, 200, 500),
              (1, 500, 200), (1, 8, 700), (1, 1000, 2000), (3, 1, 3000)]
    for (B, Sq, Skv) in shapes[::2] if quick else shapes:
        for attempt in range(6):
            q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
            k = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            v = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            none = torch.full((B, Hq, Sq), float("-inf"), device="cuda")
            plan = bundle.plan(q, k, v)
            total, skipped, drop, margin = simulate(q, k, man, plan, lam, init_max=none)
            if margin > 0.05:
                break
        out, lse, mx, got = run_carry(bundle, q, k, v, lam, none, stats=skip)
        s = causal_scores(q, k, causal, scale)
        ref = reference(q, k, v, causal, scale, drop)
        err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        lerr = lse_error(lse, reference_lse(q, k, causal, scale, drop))
        merr = max_error(mx, kept_max(s, drop, none))
        ok = plan["kernel"] == "prefill" and err <= tol and lerr <= LSE_TOL and \
            merr <= MAX_TOL and (got is None or got == (total, skipped))
        same = "twin runs " + (twin.plan(q, k, v)["kernel"] if twin else "-")
        if twin is not None and twin.plan(q, k, v)["kernel"] == "prefill":
            out2 = torch.full_like(out, float("nan"))
            lse2 = torch.full_like(lse, float("nan"))
            got2 = twin.run_device(q, k, v, out2, lam, stats=skip, lse=lse2)
            torch.cuda.synchronize()
            dead = dead_groups(man, B, Hq, Sq, Skv) if 0 < lam < 1 else 0
            bits = torch.equal(out.view(torch.int16), out2.view(torch.int16)) and \
                torch.equal(lse.view(torch.int32), lse2.view(torch.int32)) and \
                (got is None or got == (got2[0], got2[1] + dead))
            ok = ok and bits
            same = f"bit-identical to the twin: {bits} (twin stats={got2}, dead groups {dead})"
        report(ok, f"init_max=-inf B={B} Sq={Sq} Skv={Skv} lam={lam} err={err:.1e} "
               f"lse_err={lerr:.1e} max_err={merr:.1e} stats={got} "
               f"predicted={(total, skipped)} {same}")

    # init_max from the first half of the keys (a score every row keeps):
    # the kernel starts there and votes block 0 against it.
    for (B, Sq, Skv, lam, sink) in [(1, 200, 1500, 1e-3, True), (2, 130, 1000, 3e-2, True),
                                    (1, 1, 4000, 1e-3, True), (1, 7, 3000, 1e-3, True),
                                    (1, 300, 2000, 1e-3, False), (3, 65, 777, 1e-3, True)]:
        lam = lam if skip else 0.0
        plan = bundle.plan(*[torch.empty(B, h, n, D, device="meta")
                             for (h, n) in ((Hq, Sq), (Hkv, Skv), (Hkv, Skv))])
        for attempt in range(6):
            q, k, v = planted(B, Hq, Hkv, Sq, Skv, D, dt, man["block_n"], gen, sink)
            s = causal_scores(q, k, causal, scale)
            init = round_down_f32(row_max(s[..., :Skv // 2]))
            total, skipped, drop, margin = simulate(q, k, man, plan, lam, init_max=init)
            if margin > 0.05:
                break
        out, lse, mx, got = run_carry(bundle, q, k, v, lam, init, stats=skip)
        ref = reference(q, k, v, causal, scale, drop)
        err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        lerr = lse_error(lse, reference_lse(q, k, causal, scale, drop))
        merr = max_error(mx, kept_max(s, drop, init))
        nan = torch.isnan(out).sum().item()
        ok = nan == 0 and err <= tol and lerr <= LSE_TOL and merr <= MAX_TOL and \
            (got is None or (got == (total, skipped) and (lam == 0 or got[1] > 0)))
        report(ok, f"init_max=max(first half) planted{'' if sink else ' (no sink)'} "
               f"B={B} Sq={Sq} Skv={Skv} lam={lam} err={err:.1e} lse_err={lerr:.1e} "
               f"max_err={merr:.1e} nan={nan} stats={got} predicted={(total, skipped)} "
               f"margin={margin:.2f}")

    # Two calls over the two parts of the keys, the second from the first's
    # max, merged by lse: float64 attention of every key with both calls'
    # drops. (Causal only with one query row, whose mask does not move with
    # the part's length.)
    for (B, Sq, Skv, cut, lam) in [(1, 1, 4000, 1500, 1e-3), (1, 200, 1500, 700, 1e-3),
                                   (2, 64, 1000, 333, 3e-2), (2, 1, 3000, 64, 1e-3)]:
        if causal and Sq > 1:
            continue
        lam = lam if skip else 0.0
        for attempt in range(6):
            q, k, v = planted(B, Hq, Hkv, Sq, Skv, D, dt, man["block_n"], gen)
            parts = [(k[:, :, c0:c1].contiguous(), v[:, :, c0:c1].contiguous())
                     for (c0, c1) in ((0, cut), (cut, Skv))]
            carry = torch.full((B, Hq, Sq), float("-inf"), device="cuda")
            runs, sims, margin = [], [], float("inf")
            for (kk, vv) in parts:
                plan = bundle.plan(q, kk, vv)
                sim = simulate(q, kk, man, plan, lam, init_max=carry)
                margin = min(margin, sim[3])
                out, lse, mx, got = run_carry(bundle, q, kk, vv, lam, carry, stats=skip)
                runs.append((out, lse, mx, got))
                sims.append(sim)
                carry = mx
            if margin > 0.05:
                break
        (oa, la, _, ga), (ob, lb, mb, gb) = runs
        om, lm = torch.empty_like(oa.float().cpu()), torch.empty_like(la.cpu())
        rt.merge_lse(oa.float().cpu(), la.cpu(), ob.float().cpu(), lb.cpu(), om, lm)
        drop = torch.cat([sims[0][2], sims[1][2]], -1)
        s = causal_scores(q, k, causal, scale)
        ref = reference(q, k, v, causal, scale, drop).cpu()
        err = ((om.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        lerr = lse_error(lm, reference_lse(q, k, causal, scale, drop).cpu())
        none = torch.full((B, Hq, Sq), float("-inf"), device="cuda")
        merr = max_error(mb, kept_max(s, drop, none))
        counts = [g for g in (ga, gb)]
        predicted = [(sm[0], sm[1]) for sm in sims]
        ok = err <= tol and lerr <= LSE_TOL and merr <= MAX_TOL and \
            (not skip or (counts == predicted and (lam == 0 or gb[1] > 0)))
        report(ok, f"carry over two calls B={B} Sq={Sq} Skv={Skv} cut={cut} lam={lam} "
               f"err={err:.1e} lse_err={lerr:.1e} max_err={merr:.1e} stats={counts} "
               f"predicted={predicted} margin={margin:.2f}")
    return cases, fails


def scatter_pages(k, v, lens, page, gen):
    """Page pools holding each sequence's first lens[b] keys and values in
    random page order, garbage everywhere else (in the table too)."""
    B, Hkv, _, D = k.shape
    need = [-(-n // page) for n in lens]
    max_pages = max(max(need), 1) + 1
    pool = sum(need) + 3
    order = torch.randperm(pool, generator=torch.Generator().manual_seed(int(
        torch.randint(0, 2**31 - 1, (1,), generator=gen, device="cuda").item())))
    kp = torch.randn(pool, page, Hkv, D, device="cuda").to(k.dtype) * 100
    vp = torch.randn(pool, page, Hkv, v.shape[3], device="cuda").to(v.dtype) * 100
    table = torch.randint(-5, pool + 5, (B, max_pages), dtype=torch.int32)
    at = 0
    for b, n in enumerate(lens):
        for p in range(need[b]):
            pid = int(order[at])
            at += 1
            table[b, p] = pid
            lo, hi = p * page, min((p + 1) * page, n)
            kp[pid, :hi - lo] = k[b, :, lo:hi].transpose(0, 1)
            vp[pid, :hi - lo] = v[b, :, lo:hi].transpose(0, 1)
    return kp, vp, table.cuda(), torch.tensor(lens, dtype=torch.int32, device="cuda")


def check_paged_bundle(rt, bundle, name, man, gen, dt, tol, bundles_dir):
    """Paged decode: every sequence against float64 over its own keys, skip
    counts against the per-sequence simulation, and the contiguous twin
    bundle on the same keys. Returns (cases, failures)."""
    sh = man["shapes"]
    Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
    page = man["paged"]["page_size"]
    twin_dir = os.path.join(bundles_dir, name.replace(f"_paged{page}", ""))
    twin = rt.load(twin_dir) if twin_dir != os.path.join(bundles_dir, name) and \
        os.path.isfile(os.path.join(twin_dir, "manifest.json")) else None
    cases = fails = 0
    lam = 1e-3 if man["skip"] else 0.0
    for (Sq, lens) in [(1, [3000, 1, 0, 777, 64]), (3, [5000, 200]), (7, [1500, 1500])]:
        B, top = len(lens), max(lens)
        for attempt in range(6):
            if man["skip"]:
                q, k, v = planted(B, Hq, Hkv, Sq, top, D, dt, 64, gen)
            else:
                q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
                k = torch.randn(B, Hkv, top, D, generator=gen, device="cuda").to(dt)
                v = torch.randn(B, Hkv, top, D, generator=gen, device="cuda").to(dt)
            kp, vp, table, lens_t = scatter_pages(k, v, lens, page, gen)
            plan = bundle.plan(q, kp, vp, table)
            total = skipped = 0
            margin = float("inf")
            drops = []
            for b, n in enumerate(lens):
                if n == 0:
                    drops.append(None)
                    continue
                t, s_, d_, m_ = simulate(q[b:b + 1], k[b:b + 1, :, :n], man, plan, lam)
                total, skipped, margin = total + t, skipped + s_, min(margin, m_)
                drops.append(d_)
            if margin > 0.05:
                break
        out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
        lse = torch.full((B, Hq, Sq), float("nan"), device="cuda") if man.get("lse") else None
        got = bundle.run_device(q, kp, vp, out, lam, stats=bool(man["stats"]), lse=lse,
                                block_table=table, seq_lens=lens_t)
        torch.cuda.synchronize()
        err = 0.0
        for b, n in enumerate(lens):
            if n == 0:  # nothing to attend: zeros
                err = max(err, out[b:b + 1].double().abs().max().item())
                continue
            ref = reference(q[b:b + 1], k[b:b + 1, :, :n], v[b:b + 1, :, :n], man["causal"],
                            man["scale"], drops[b])
            diff = (out[b:b + 1].double() - ref).norm() / ref.norm().clamp_min(1e-30)
            err = max(err, diff.item())
        nan = torch.isnan(out).sum().item()
        ok = nan == 0 and err <= tol and (got is None or got == (total, skipped))
        note = ""
        if twin is not None and len(set(lens)) == 1:
            # Equal lengths: the same batch through the contiguous bundle.
            out2 = torch.full_like(out, float("nan"))
            lse2 = torch.empty_like(lse) if lse is not None else None
            twin.run_device(q, k.contiguous(), v.contiguous(), out2, lam, lse=lse2)
            torch.cuda.synchronize()
            same = ((out.double() - out2.double()).norm() / out2.double().norm()).item()
            ok = ok and same <= tol
            note = f" vs_contiguous={same:.1e}"
        cases += 1
        fails += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name} paged {plan['kernel']} Sq={Sq} lens={lens} "
              f"splits={plan['num_splits']} err={err:.1e} nan={nan} stats={got} "
              f"predicted={(total, skipped)}{note}", flush=True)
    return cases, fails


def check_varlen_bundle(rt, bundle, name, man, gen, dt, tol, bundles_dir):
    """Varlen prefill: sequences of mixed lengths (1 and empty ones among
    them) packed [tokens, H, D], each against float64 over its own keys,
    skip counts against the per-sequence simulation, and every sequence
    through the twin bundle (the name without "_varlen") on its own: the
    outputs and the summed counts equal. Returns (cases, failures)."""
    sh = man["shapes"]
    Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
    twin_dir = os.path.join(bundles_dir, name.replace("_varlen", ""))
    twin = rt.load(twin_dir) if os.path.isfile(
        os.path.join(twin_dir, "manifest.json")) else None
    lam = 1e-3 if man["skip"] else 0.0
    cases = fails = 0
    for lens in [[(1, 1), (300, 300), (77, 500), (0, 5), (20, 0), (1000, 1000), (129, 64)],
                 [(2048, 2048), (1, 4000), (513, 513)]]:
        seqs = []
        for (Sq, Skv) in lens:
            if man["skip"] and Sq and Skv:
                q, k, v = planted(1, Hq, Hkv, Sq, Skv, D, dt, man["block_n"], gen)
            else:
                q = torch.randn(1, Hq, Sq, D, generator=gen, device="cuda").to(dt)
                k = torch.randn(1, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
                v = torch.randn(1, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            seqs.append((q, k, v))
        def pack(i):
            return torch.cat([s[i][0].transpose(0, 1) for s in seqs]).contiguous()
        def cum(col):
            c = [0]
            for x in lens:
                c.append(c[-1] + x[col])
            return torch.tensor(c, dtype=torch.int32, device="cuda")
        qp, kp, vp = pack(0), pack(1), pack(2)
        cu_q, cu_k = cum(0), cum(1)
        longest = max(x[0] for x in lens)
        plan = bundle.plan(qp, kp, vp, cu_seqlens_q=cu_q)
        out = torch.full((qp.shape[0], Hq, D), float("nan"), device="cuda", dtype=dt)
        got = bundle.run_device(qp, kp, vp, out, lam, stats=bool(man["stats"]),
                                cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, max_seqlen_q=longest)
        torch.cuda.synchronize()
        err = same = 0.0
        total = skipped = 0
        # Counts of separate calls compare only where every call runs the
        # varlen kernel's kind: a short query on the twin takes the split-KV
        # decode kernel, whose kv-blocks are smaller.
        separate = [0, 0]
        comparable = twin is not None
        for b, ((Sq, Skv), (q, k, v)) in enumerate(zip(lens, seqs)):
            mine = out[cu_q[b]:cu_q[b + 1]].transpose(0, 1)[None].double()
            if Sq == 0:
                continue
            if Skv == 0:
                err = max(err, mine.abs().max().item())
                continue
            drop = None
            if man["skip"]:
                t, s_, drop, _ = simulate(q, k, man, plan, lam)
                total, skipped = total + t, skipped + s_
            ref = reference(q, k, v, man["causal"], man["scale"], drop)
            err = max(err, ((mine - ref).norm() / ref.norm().clamp_min(1e-30)).item())
            if twin is not None:
                comparable &= twin.plan(q, k, v)["kernel"] == plan["kernel"]
                o2 = torch.full_like(q, float("nan"))
                r2 = twin.run_device(q, k, v, o2, lam, stats=bool(man["stats"]))
                torch.cuda.synchronize()
                if r2 is not None:
                    separate = [separate[0] + r2[0], separate[1] + r2[1]]
                same = max(same, ((mine - o2.double()).norm() /
                                  o2.double().norm().clamp_min(1e-30)).item())
        nan = torch.isnan(out).sum().item()
        ok = nan == 0 and err <= tol and same <= tol
        if got is not None:
            ok = ok and got == (total, skipped) and \
                (not comparable or list(got) == separate)
        cases += 1
        fails += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name} varlen {plan['kernel']} lens={lens} "
              f"err={err:.1e} nan={nan} vs_separate_calls={same:.1e} stats={got} "
              f"predicted={(total, skipped)} "
              f"separate={tuple(separate) if comparable else 'other kernels'}", flush=True)
    return cases, fails


def simulate(q, k, man, plan, lam, mask=None, init_max=None):
    """Independent float64 re-implementation of DESIGN.md section 4 for the
    kernel the runtime planned, on the masked scores. Returns (total,
    skipped, drop, margin). init_max ([B, Hq, Sq], -inf for none; the carry
    of a ring, prefill only) starts each row's running max, and then every
    kv-block is voted, block 0 included, as test/Numerics/attention_ref.py
    simulate_skip does."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    g = Hq // Hkv
    bn = kernel_block_n(man, plan)
    causal, scale = man["causal"], man["scale"]
    nkv = -(-Skv // bn)
    s = torch.einsum("bhid,bhjd->bhij", q.double(), k.double().repeat_interleave(g, 1)) * scale
    s = apply_mask(s, mask)
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
    if plan["kernel"].startswith("decode"):
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
        if plan["kernel"].startswith("decode"):
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
            if init_max is not None:
                b, h, r0, r1, _ = key
                m = init_max[b, h, r0:r1].double().clone()
            if on and 0 < j0 < j1:
                # The seed: a part past kv-block 0 starts from block 0's row max.
                m = rows_t[:, 0].clone()
            for j in range(j0, j1):
                mt = rows_t[:, j]
                total += mult
                if on and (j > 0 or init_max is not None):
                    gap = mt - m
                    yes = torch.isinf(mt) & (mt < 0) | (gap < lnl)
                    fin = ~torch.isinf(mt) & ~torch.isinf(m)
                    if fin.any():
                        margin = min(margin, (gap[fin] - lnl).abs().min().item() * LOG2E)
                    if bool(yes.all()):
                        skipped += mult
                        c0, c1 = j * bn, min(j * bn + bn, Skv)
                        if plan["kernel"].startswith("decode"):
                            b, h = key
                            drop[b, h * g:(h + 1) * g, :, c0:c1] = True
                        else:
                            b, h, r0, r1, _ = key
                            drop[b, h, r0:r1, c0:c1] = True
                        continue
                m = torch.maximum(m, mt)
    return total, skipped, drop, margin


def kernel_block_n(man, plan):
    """The kv-block of the kernel the plan launches: the decode variant
    states its own ("block_n" in its entry), prefill uses the bundle's."""
    for variant in man.get("kernels", []):
        if variant.get("name") == plan["kernel"] and "block_n" in variant:
            return variant["block_n"]
    return man["block_n"]


def planted(B, Hq, Hkv, Sq, Skv, D, dt, bn, gen, sink=True):
    """Queries that all score high on a sink (key block 0) and on about a
    quarter of the other key blocks of their GQA group, chosen at random,
    and low on the rest: every tile that is neither is skippable from the
    sink's seed on, in whichever split it falls. Without the sink, a split's
    low tiles before its first high one are not skippable from its own seed
    (but are from a maximum another split published: the shared-max
    decode)."""
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
    strong[:, :, 0] = sink
    k += a * strong.repeat_interleave(bn, dim=2)[:, :, :Skv, None] * u
    v = torch.randn(B, Hkv, Skv, D, generator=gen, device=dev, dtype=torch.float64)
    return q.to(dt), k.to(dt), v.to(dt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--bundles", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--match", default="",
                    help="only the bundles whose name contains this (e.g. "
                    "_carry: the carry's bundles and, through them, their twins)")
    a = ap.parse_args()
    rt = Runtime(a.runtime)
    seed = int.from_bytes(os.urandom(4), "little")
    gen = torch.Generator(device="cuda").manual_seed(seed)
    print(f"seed {seed}", flush=True)
    fails = cases = 0
    shapes = [(1, 1, 1), (2, 1, 63), (1, 3, 64), (2, 2, 129), (1, 64, 64), (2, 65, 129),
              (1, 200, 500), (1, 500, 200), (1, 1000, 2000), (3, 1, 5000), (1, 4097, 4097),
              # 5 to 8 query tokens per sequence: the wide decode kernel
              # where the GQA group's heads need more than 16 rows.
              (2, 6, 3000), (1, 8, 700)]
    if a.quick:
        shapes = shapes[::3]
    for name in sorted(os.listdir(a.bundles)):
        d = os.path.join(a.bundles, name)
        if not os.path.isfile(os.path.join(d, "manifest.json")) or a.match not in name:
            continue
        bundle = rt.load(d)
        man = bundle.manifest
        sh = man["shapes"]
        dt, tol = DT[man["dtype"]], TOL[man["dtype"]]
        Hq, Hkv, D = sh["q_heads"], sh["kv_heads"], sh["head_dim"]
        if man.get("paged"):
            c, f = check_paged_bundle(rt, bundle, name, man, gen, dt, tol, a.bundles)
            cases, fails = cases + c, fails + f
            continue
        if man.get("varlen"):
            c, f = check_varlen_bundle(rt, bundle, name, man, gen, dt, tol, a.bundles)
            cases, fails = cases + c, fails + f
            continue
        if man.get("init_max"):
            c, f = check_carry_bundle(rt, bundle, name, man, gen, dt, tol, a.bundles, a.quick)
            cases, fails = cases + c, fails + f
            continue
        has_lse = bool(man.get("lse"))
        for (B, Sq, Skv) in shapes:
            q = torch.randn(B, Hq, Sq, D, generator=gen, device="cuda").to(dt)
            k = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            v = torch.randn(B, Hkv, Skv, D, generator=gen, device="cuda").to(dt)
            out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
            lse = torch.full((B, Hq, Sq), float("nan"), device="cuda") if has_lse else None
            mask = random_mask(man, B, Hq, Sq, Skv, gen, dt) if man["mask"] else None
            plan = bundle.plan(q, k, v)
            res = bundle.run_device(q, k, v, out, 0.0, stats=bool(man["stats"]), lse=lse,
                                    mask=mask)
            torch.cuda.synchronize()
            ref = reference(q, k, v, man["causal"], man["scale"], mask=mask)
            nan = torch.isnan(out).sum().item()
            err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
            ok = nan == 0 and err <= tol and (res is None or res[1] == 0)
            note = ""
            if has_lse:
                lerr = lse_error(lse, reference_lse(q, k, man["causal"], man["scale"],
                                                    mask=mask))
                ok = ok and lerr <= LSE_TOL
                note = f" lse_err={lerr:.1e}"
            cases += 1
            fails += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} {plan['kernel']} B={B} Sq={Sq} Skv={Skv} "
                  f"err={err:.1e} nan={nan} stats={res}{note}", flush=True)
        if has_lse and not man["mask"]:
            cases += 1
            fails += not check_lse_merge(rt, bundle, name, man, gen, dt, tol)
        if not man["skip"]:
            continue
        # Planted inputs, predicted skip counts. The shared-max decode
        # (opt-in, docs/serving.md) skips at least the predicted tiles; how
        # many more depends on timing.
        shared = any(kv.get("shared_max") for kv in man.get("kernels", []))
        for (B, Sq, Skv, lam, sink) in [(1, 1, 4000, 1e-3, True), (2, 2, 3000, 1e-2, True),
                                        (1, 200, 1500, 1e-3, True), (1, 130, 1000, 3e-2, True),
                                        # Many splits, each seeded from block 0;
                                        # the wide decode kernel's vote.
                                        (1, 1, 16000, 1e-3, True), (1, 7, 5000, 1e-3, True),
                                        # No sink: seeds low, splits meet
                                        # their own high tiles.
                                        (1, 1, 16000, 1e-3, False), (2, 3, 6000, 1e-3, False)]:
            meta = [torch.empty(B, h, n, D, device="meta") for (h, n) in ((Hq, Sq), (Hkv, Skv), (Hkv, Skv))]
            plan = bundle.plan(*meta)
            for attempt in range(6):
                q, k, v = planted(B, Hq, Hkv, Sq, Skv, D, dt, kernel_block_n(man, plan), gen, sink)
                mask = random_mask(man, B, Hq, Sq, Skv, gen, dt) if man["mask"] else None
                total, skipped, drop, margin = simulate(q, k, man, plan, lam, mask)
                if margin > 0.05:
                    break
            out = torch.full((B, Hq, Sq, D), float("nan"), device="cuda", dtype=dt)
            lse = torch.full((B, Hq, Sq), float("nan"), device="cuda") if has_lse else None
            got = bundle.run_device(q, k, v, out, lam, stats=True, lse=lse, mask=mask)
            timing = shared and plan["kernel"].startswith("decode")
            # Which extra tiles a shared-max run skips is not known: they are
            # low ones (12 logits under the high), so it is compared with
            # the attention that skips none.
            ref = reference(q, k, v, man["causal"], man["scale"], None if timing else drop, mask)
            err = ((out.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
            nan = torch.isnan(out).sum().item()
            counts_ok = got == (total, skipped) if not timing else \
                got[0] == total and got[1] >= skipped
            ok = counts_ok and nan == 0 and err <= tol and got[1] > 0
            if has_lse and not timing:
                ok = ok and lse_error(lse, reference_lse(q, k, man["causal"], man["scale"],
                                                         drop, mask)) <= LSE_TOL
            cases += 1
            fails += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} planted{'' if sink else ' (no sink)'} {plan['kernel']} "
                  f"B={B} Sq={Sq} Skv={Skv} lam={lam} stats={got} predicted={(total, skipped)}"
                  f"{' (at least)' if timing else ''} margin={margin:.2f} err={err:.1e} nan={nan}", flush=True)
    print(f"gpu tests: {cases} cases, {cases - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
