#!/usr/bin/env python3
"""skipattn.distributed.ring_attention on CPU tensors with gloo, one process
per rank (started by torch.distributed.run, see launch.py).

Every rank draws the same full Q, K, V per case, takes its shard
(zigzag_shard; without causal, ragged contiguous shards), runs the ring and
all-gathers the outputs; rank 0 reassembles them and checks, per case:

  out      against float64 attention of the whole sequence
           (test/Numerics/attention_ref.py); a skip run against float64
           with the entries of the tiles the simulator predicts skipped
           dropped, the prediction replaying each rank's kernel calls;
  single   against skipattn.attention of the whole sequence in one process
           (dense cases);
  counts   each (rank, step)'s {tiles_total, tiles_skipped} equal to the
           simulator's for that step's calls (with the carry: each call
           starting from the running max the simulator kept in the earlier
           steps), and more than none skipped in the planted skip cases;
  versus   the carry skips at least as many tiles as seed=None on the same
           inputs (both printed);
  cover    the calls of every rank and step cover each (query, key) pair
           the attention attends exactly once (the zig-zag schedule), for
           this world size and for 1 to 8 ranks over a few lengths;
  groups   rings over subgroups (pairs at 4 ranks) with another scale;
  errors   inputs the ranks disagree on, or one rank's bad input, fail on
           every rank with a message (no rank is left waiting).

Prints one line per case and then `ring W=<world>: N cases, P passed, F
failed` on rank 0; every rank exits 1 when anything failed.
"""
import math
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Numerics"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import attention_ref as ar  # noqa: E402
import skipattn  # noqa: E402
import skipattn.distributed as sd  # noqa: E402

TOL = {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
LAMBDA = 0.05


def contiguous_shards(lengths):
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    return [(int(starts[r]), int(starts[r + 1])) for r in range(len(lengths))]


def shard(x, world, rank, causal, lengths):
    if causal:
        return sd.zigzag_shard(x, rank, world)
    a, b = contiguous_shards(lengths)[rank]
    return x[:, :, a:b]


def global_rows(world, rank, causal, lengths, total):
    """Global positions of rank's shard rows."""
    if causal:
        ch = sd.zigzag_chunks(total, world)
        a, b = ch[rank], ch[2 * world - 1 - rank]
        return list(range(*a)) + list(range(*b))
    a, b = contiguous_shards(lengths)[rank]
    return list(range(a, b))


def rank_lengths(world, causal, lengths, total):
    return [len(global_rows(world, r, causal, lengths, total))
            for r in range(world)]


def calls(world, causal, lengths, total):
    """(rank, step, global query rows, global key rows, causal) of every
    kernel call, from ring_schedule."""
    lens = rank_lengths(world, causal, lengths, total)
    out = []
    for r in range(world):
        rows = global_rows(world, r, causal, lengths, total)
        for t, step in enumerate(sd.ring_schedule(r, world, causal, lens,
                                                  lens)):
            for src, q0, q1, k0, k1, c in step:
                keys = global_rows(world, src, causal, lengths, total)
                out.append((r, t, rows[q0:q1], keys[k0:k1], c))
    return out


def coverage_ok(world, causal, lengths, total):
    """Each attended (query, key) pair covered once, nothing else."""
    seen = np.zeros((total, total), dtype=np.int64)
    for _, _, qr, kr, c in calls(world, causal, lengths, total):
        local = ar.allowed_mask(len(qr), len(kr), c)
        seen[np.ix_(qr, kr)] += local
    want = ar.allowed_mask(total, total, causal).astype(np.int64)
    return np.array_equal(seen, want)


def sink_seed(q, k, world, causal, lengths, total, dtype):
    """The seed of every row (ring_attention's "sinks" rule, from the
    docs): the row max over the first min(64, ...) keys of the first rank
    holding keys, in float64, then as the kernels get it (q's dtype,
    rounded down)."""
    lens = rank_lengths(world, causal, lengths, total)
    owner = next(r for r in range(world) if lens[r])
    n = min(ar.DEFAULT_BLOCK, lens[owner])
    if causal:
        n = min(n, sd.zigzag_chunks(total, world)[0][1])
    keys = global_rows(world, owner, causal, lengths, total)[:n]
    s = ar.scores(q, k[:, :, keys], False)
    if causal:
        allowed = np.array(keys)[None, :] <= np.arange(total)[:, None]
        s = np.where(allowed[None, None], s, -np.inf)
    seed = torch.from_numpy(s.max(axis=-1)).float()
    rounded = seed.to(dtype)
    if dtype != torch.float32:
        # Rounded down: the largest value of dtype not above the seed.
        info = torch.finfo(dtype)
        lower = (seed - seed.abs() * info.eps - info.tiny).to(dtype)
        rounded = torch.where(rounded.float() > seed, lower, rounded)
    return rounded.double().numpy()


def predicted(q, k, world, causal, lengths, total, lam, seed=None,
              carry=False):
    """Per (rank, step) counts and the [B, Hq, S, S] drop mask. With seed
    ([B, Hq, S] per global row), each call is simulated as the kernels
    run it: a key of zeros in front scored seed by an additive mask. With
    carry, each call starts from the running max of its rows (the largest
    score the earlier steps kept, -inf at first), which then takes the
    largest score the call keeps."""
    counts = np.zeros((world, world, 2), dtype=np.int64)
    drop = np.zeros((q.shape[0], q.shape[1], total, total), dtype=bool)
    running = np.full((q.shape[0], q.shape[1], total), -np.inf)
    margins = []
    # calls() lists each rank's steps in order, and the ranks' rows are
    # disjoint: the carry of a row is replayed in ring order.
    for r, t, qr, kr, c in calls(world, causal, lengths, total):
        if carry:
            init = running[:, :, qr]
            p = ar.predict(q[:, :, qr], k[:, :, kr], c, lam, init_max=init)
            dropped = p.drop_mask(len(qr), len(kr))
            s = np.where(dropped, -np.inf, ar.scores(q[:, :, qr],
                                                     k[:, :, kr], c))
            running[:, :, qr] = np.maximum(
                init, s.max(axis=-1, initial=-np.inf))
        elif seed is None:
            p = ar.predict(q[:, :, qr], k[:, :, kr], c, lam)
            dropped = p.drop_mask(len(qr), len(kr))
        else:
            kc = np.concatenate([np.zeros_like(k[:, :, :1]), k[:, :, kr]], 2)
            mask = np.zeros((q.shape[0], q.shape[1], len(qr), len(kr) + 1))
            mask[..., 0] = seed[:, :, qr]
            p = ar.predict(q[:, :, qr], kc, c, lam, mask=mask)
            dropped = p.drop_mask(len(qr), len(kr) + 1)[..., 1:]
        margins.append(p.min_margin)
        counts[r, t] += (p.tiles_total, p.tiles_skipped)
        drop[np.ix_(range(q.shape[0]), range(q.shape[1]), qr, kr)] |= dropped
    return counts, drop, min(margins)


def bound_ok(q, k, causal, drop, lam):
    """DESIGN.md section 4: every dropped score is below lam times the
    row's final max (over the entries kept)."""
    if not drop.any():
        return True
    s = ar.scores(q, k, causal)
    top = np.where(drop, -np.inf, s).max(axis=-1, keepdims=True)
    return bool(np.all(np.where(drop, s - top, -np.inf) < math.log(lam)))


def run_case(name, rng, world, rank, *, b, hq, hkv, d, total, causal,
             lengths=None, dtype=torch.float32, skip=None, seed="sinks",
             versus="unset"):
    """One ring run checked against float64 and the simulator; with
    versus (a seed rule), also run with that rule on the same inputs, and
    this run must skip at least as many tiles."""
    lam = skip["lambda"] if skip is not None else 0.0
    # A tiny lambda skips nothing: the result is then also single-process
    # attention's.
    planted = lam > 1e-6
    if planted:
        qn, kn, vn, _ = ar.planted_inputs(rng, b, hq, hkv, total, total, d,
                                          causal)
    else:
        qn, kn, vn = ar.gaussian_inputs(rng, b, hq, hkv, total, total, d)
    q, k, v = (torch.from_numpy(x).to(dtype) for x in (qn, kn, vn))
    if rank == 0:
        # One rank compiles the bundles, the others find them cached.
        seeded = skip is not None and seed == "sinks"
        carried = skip is not None and seed == "carry"
        mask = torch.zeros(b, hq, 2, 2, dtype=dtype)
        for c in {False, causal}:
            skipattn._bundles.bundle_dir(skipattn.bundle_key(
                "", dtype, hq, hkv, d, d, c, skip is not None,
                mask if seeded else None, lse=True, init_max=carried))
            if versus != "unset":
                skipattn._bundles.bundle_dir(skipattn.bundle_key(
                    "", dtype, hq, hkv, d, d, c, skip is not None,
                    mask if versus == "sinks" else None, lse=True,
                    init_max=versus == "carry"))
    dist.barrier()
    # The reference sees the inputs the kernels see (bf16-rounded).
    qn, kn, vn = (x.float().numpy() for x in (q, k, v))
    mine = [shard(x, world, rank, causal, lengths) for x in (q, k, v)]
    out, stats = sd.ring_attention(*mine, causal=causal, skip=skip,
                                   seed=seed, return_stats=True)
    other = None
    if versus != "unset":
        other = sd.ring_attention(*mine, causal=causal, skip=skip,
                                  seed=versus, return_stats=True)[1]
    every = [None] * world
    dist.all_gather_object(every, out)
    if rank != 0:
        return True
    if causal:
        full = sd.zigzag_unshard(every)
    else:
        full = torch.cat(every, dim=2)
    seeds = None
    if skip is not None and seed == "sinks":
        seeds = sink_seed(qn, kn, world, causal, lengths, total, dtype)
    carried = skip is not None and seed == "carry"
    counts, drop, margin = predicted(qn, kn, world, causal, lengths, total,
                                     lam, seeds, carried)
    ref = ar.reference_attention(qn, kn, vn, causal, drop=drop)
    err = float(np.abs(full.double().numpy() - ref).max())
    ok = err <= TOL[dtype]
    why = []
    if not ok:
        why.append("out error %.3g > %.3g" % (err, TOL[dtype]))
    if planted and margin < 1e-3:
        ok = False
        why.append("a skip decision is within %.2g of the threshold: not "
                   "robust to rounding, pick another seed" % margin)
    if skip is not None and not bound_ok(qn, kn, causal, drop, lam):
        ok = False
        why.append("a skipped score is not below lambda times its row's "
                   "final max")
    want_seed = seed if skip is not None else None
    if stats["seed"] != want_seed:
        ok = False
        why.append("seed %r reported, %r expected" % (stats["seed"],
                                                      want_seed))
    got = stats["per_rank_step"].numpy()
    if not np.array_equal(got, counts):
        ok = False
        why.append("counts per (rank, step) %s, simulator %s" %
                   (got.tolist(), counts.tolist()))
    if planted and stats["tiles_skipped"] == 0:
        ok = False
        why.append("nothing skipped in a planted case")
    if other is not None:
        why_not = "" if stats["tiles_skipped"] >= other["tiles_skipped"] \
            else " (fewer!)"
        print("  %s skips %d of %d tiles, seed=%r %d of %d%s" % (
            seed, stats["tiles_skipped"], stats["tiles_total"], versus,
            other["tiles_skipped"], other["tiles_total"], why_not))
        if why_not:
            ok = False
            why.append("skips fewer tiles than seed=%r" % (versus,))
    if not planted:
        single = skipattn.attention(q, k, v, causal=causal)
        serr = float((full.double() - single.double()).abs().max())
        if serr > 2 * TOL[dtype]:
            ok = False
            why.append("differs from single-process attention by %.3g" % serr)
    if not coverage_ok(world, causal, lengths, total):
        ok = False
        why.append("the schedule does not cover the attended pairs once")
    print("%s %s: err %.2e, tiles %d/%d skipped (%s)%s" % (
        "PASS" if ok else "FAIL", name, err, stats["tiles_skipped"],
        stats["tiles_total"],
        " ".join("%d:%s" % (r, got[r, :, 1].tolist()) for r in range(world)),
        "; " + "; ".join(why) if why else ""))
    sys.stdout.flush()
    return ok


def run_groups(world, rank):
    """Rings over subgroups (pairs at 4 ranks, single ranks at 2), each on
    its own sequence, causal with scale 0.3: the group's ranks and the
    global ranks of its point-to-point peers differ."""
    size = 2 if world == 4 else 1
    groups = [dist.new_group(list(range(g, g + size)))
              for g in range(0, world, size)]
    gi = rank // size
    group = groups[gi]
    rng = np.random.default_rng(100 + gi)
    total = 203
    qn, kn, vn = ar.gaussian_inputs(rng, 1, 4, 2, total, total, 32)
    q, k, v = (torch.from_numpy(x) for x in (qn, kn, vn))
    mine = [sd.zigzag_shard(x, rank % size, size) for x in (q, k, v)]
    out = sd.ring_attention(*mine, group=group, causal=True, scale=0.3)
    every = [None] * size
    dist.all_gather_object(every, out, group=group)
    ok, err = True, 0.0
    if rank % size == 0:
        ref = ar.reference_attention(qn, kn, vn, True, scale=0.3)
        err = float(np.abs(sd.zigzag_unshard(every).double().numpy() -
                           ref).max())
        ok = err <= TOL[torch.float32]
    flags = [None] * world
    dist.all_gather_object(flags, (ok, err))
    if rank == 0:
        good = all(f[0] for f in flags)
        print("%s subgroups of %d ranks, causal, scale 0.3: errors %s" % (
            "PASS" if good else "FAIL", size,
            ["%.2e" % f[1] for f in flags[::size]]))
        sys.stdout.flush()
    return all(f[0] for f in flags)


def main():
    dist.init_process_group("gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    torch.set_num_threads(1)
    rng = np.random.default_rng(int(os.environ.get("RING_SEED", "1234")))
    ragged = {2: [150, 43], 4: [70, 0, 91, 32]}[world]
    ragged_skip = {2: [400, 300], 4: [250, 150, 0, 300]}[world]
    cases = [
        ("dense full GQA 4/2 ragged %s" % ragged,
         dict(b=2, hq=4, hkv=2, d=32, total=sum(ragged), causal=False,
              lengths=ragged)),
        ("dense causal GQA 4/2 S=301 (zig-zag tail shorter)",
         dict(b=1, hq=4, hkv=2, d=32, total=301, causal=True)),
        ("dense causal bf16 MHA S=200",
         dict(b=1, hq=2, hkv=2, d=32, total=200, causal=True,
              dtype=torch.bfloat16)),
        ("skip causal GQA 4/2 S=1000 seeded",
         dict(b=1, hq=4, hkv=2, d=32, total=1000, causal=True,
              skip={"lambda": LAMBDA, "min_kv_len": 0})),
        ("skip causal GQA 4/2 S=1000 unseeded",
         dict(b=1, hq=4, hkv=2, d=32, total=1000, causal=True, seed=None,
              skip={"lambda": LAMBDA, "min_kv_len": 0})),
        ("skip full f16 MHA ragged %s seeded" % ragged_skip,
         dict(b=1, hq=2, hkv=2, d=32, total=sum(ragged_skip), causal=False,
              lengths=ragged_skip, dtype=torch.float16,
              skip={"lambda": LAMBDA, "min_kv_len": 0})),
        ("skip causal GQA 4/2 S=1000 carry vs unseeded",
         dict(b=1, hq=4, hkv=2, d=32, total=1000, causal=True, seed="carry",
              versus=None, skip={"lambda": LAMBDA, "min_kv_len": 0})),
        ("skip full GQA 4/2 ragged %s carry vs unseeded" % ragged_skip,
         dict(b=1, hq=4, hkv=2, d=32, total=sum(ragged_skip), causal=False,
              lengths=ragged_skip, seed="carry", versus=None,
              skip={"lambda": LAMBDA, "min_kv_len": 0})),
        ("skip full f16 MHA ragged %s carry" % ragged_skip,
         dict(b=1, hq=2, hkv=2, d=32, total=sum(ragged_skip), causal=False,
              lengths=ragged_skip, dtype=torch.float16, seed="carry",
              skip={"lambda": LAMBDA, "min_kv_len": 0})),
        # lambda 1e-30 skips nothing: the carry's result is then single-
        # process attention's (causal and ragged).
        ("carry causal GQA 4/2 S=301, nothing skipped",
         dict(b=1, hq=4, hkv=2, d=32, total=301, causal=True, seed="carry",
              skip={"lambda": 1e-30, "min_kv_len": 0})),
        ("carry full GQA 4/2 ragged %s, nothing skipped" % ragged,
         dict(b=2, hq=4, hkv=2, d=32, total=sum(ragged), causal=False,
              lengths=ragged, seed="carry",
              skip={"lambda": 1e-30, "min_kv_len": 0})),
    ]
    failed = 0
    passed = 0
    for name, kw in cases:
        if kw.get("lengths") is not None:
            assert sum(kw["lengths"]) == kw["total"], kw["lengths"]
        if run_case(name, rng, world, rank, **kw):
            passed += 1
        else:
            failed += 1
    if run_groups(world, rank):
        passed += 1
    else:
        failed += 1
    # Bad inputs fail on every rank with a message, none waits forever.
    x = torch.randn(1, 2, 10 + rank, 16)
    errors = [
        ("causal shards that are not zig-zag",
         lambda: sd.ring_attention(x, x, x, causal=True),
         "causal shards must be the zig-zag shards"),
        ("ranks with different head dims",
         lambda: sd.ring_attention(*(torch.randn(1, 2, 8, 16 * (1 + rank)),)
                                   * 3),
         "every rank must agree"),
        ("one rank's inputs invalid",
         lambda: sd.ring_attention(*(x[0] if rank == 1 else x,) * 3),
         "must be 4-D" if rank == 1 else "rank 1's inputs are invalid"),
        ("a bad seed rule", lambda: sd.ring_attention(x, x, x, seed="max"),
         "seed must be 'carry', 'sinks' or None"),
    ]
    for name, call, want in errors:
        try:
            call()
            got = "no error"
        except (ValueError, TypeError) as e:
            got = str(e)
        ok = want in got
        flags = [None] * world
        dist.all_gather_object(flags, ok)
        if rank == 0:
            print("%s error: %s%s" % ("PASS" if all(flags) else "FAIL", name,
                                      "" if ok else " (got: %s)" % got))
        if all(flags):
            passed += 1
        else:
            failed += 1
    if rank == 0:
        # The schedule alone, for other world sizes and ragged tails.
        for w in range(1, 9):
            for total in (1, 7, 64, 129):
                for causal in (False, True):
                    lengths = [total // w] * (w - 1) + \
                        [total - total // w * (w - 1)]
                    if coverage_ok(w, causal, lengths, total):
                        continue
                    failed += 1
                    print("FAIL cover W=%d S=%d causal=%s" % (w, total,
                                                               causal))
        print("ring W=%d: %d cases, %d passed, %d failed" %
              (world, passed + failed, passed, failed))
    flag = torch.tensor([failed])
    dist.all_reduce(flag)
    dist.destroy_process_group()
    return 1 if int(flag) else 0


if __name__ == "__main__":
    sys.exit(main())
