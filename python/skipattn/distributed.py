"""Ring (context-parallel) attention over torch.distributed.

    import skipattn.distributed as sd
    q_loc = sd.zigzag_shard(q, rank, world)           # likewise k and v
    out_loc = sd.ring_attention(q_loc, k_loc, v_loc, causal=True,
                                skip={"factor": 12.0})
    out = sd.zigzag_unshard(all_gathered_out_locs)    # the full sequence

The sequence dimension (dim 2 of the [B, H, S, D] layout of
skipattn.attention) is sharded over the ranks of a process group. Each
step, every rank attends its queries to the K/V shard in hand while that
shard travels on to the next rank (torch.distributed point-to-point ops,
posted before the attention and waited for after it); after W steps every
query has seen every key. The partial results merge through their
log-sum-exp (docs/serving.md), in float32.

Causal attention is load-balanced by zig-zag sharding: the sequence is cut
into 2W chunks and rank r holds chunks r and 2W-1-r. Chunks are contiguous
and ordered, so a pair (query chunk, key chunk) is either the same chunk (a
causal diagonal), a key chunk before the query chunk (full attention) or
after it (nothing), and each ring step is one kernel call (the schedule of
ring-flash-attention's zig-zag variant):

    step 0, own shard:        causal over the local [chunk r | chunk 2W-1-r]
    from rank s < r:          all local queries x the first chunk of s
    from rank s > r:          the second local chunk x both chunks of s

Nothing of the kernels is specific to a backend: gloo with CPU tensors runs
the CPU bundles, nccl with CUDA tensors the GPU bundles (both compiled with
--lse). docs/distributed.md states the rules, the skip behaviour across
steps and what has been run.
"""
import math

import torch
import torch.distributed as dist

from . import _op

__all__ = ["ring_attention", "zigzag_shard", "zigzag_unshard",
           "zigzag_chunks", "ring_schedule"]


# ===----------------------------------------------------------------------===
# Sharding
# ===----------------------------------------------------------------------===

def zigzag_chunks(seq_len, world_size):
    """The 2W chunks [start, end) of a sequence of seq_len tokens: every
    chunk has ceil(seq_len / 2W) tokens except at the tail, where they are
    shorter or empty (the raggedness ring_attention takes with causal)."""
    n = 2 * world_size
    per = -(-seq_len // n)
    return [(min(i * per, seq_len), min((i + 1) * per, seq_len))
            for i in range(n)]


def zigzag_shard(x, rank, world_size, dim=2):
    """Rank `rank`'s shard of the full tensor x: chunks rank and
    2W-1-rank of dim, concatenated."""
    chunks = zigzag_chunks(x.shape[dim], world_size)
    a, b = chunks[rank], chunks[2 * world_size - 1 - rank]
    return torch.cat([x.narrow(dim, a[0], a[1] - a[0]),
                      x.narrow(dim, b[0], b[1] - b[0])], dim)


def zigzag_unshard(shards, dim=2):
    """The full tensor from the list of every rank's shard, in rank order
    (e.g. from all_gather): the inverse of zigzag_shard."""
    world = len(shards)
    total = sum(s.shape[dim] for s in shards)
    chunks = zigzag_chunks(total, world)
    pieces = [None] * (2 * world)
    for r, s in enumerate(shards):
        a = chunks[r][1] - chunks[r][0]
        if s.shape[dim] != a + chunks[2 * world - 1 - r][1] - \
                chunks[2 * world - 1 - r][0]:
            raise ValueError("shard %d has %d tokens, zig-zag chunks of %d "
                             "tokens over %d ranks give it %d" %
                             (r, s.shape[dim], total, world,
                              a + chunks[2 * world - 1 - r][1] -
                              chunks[2 * world - 1 - r][0]))
        pieces[r] = s.narrow(dim, 0, a)
        pieces[2 * world - 1 - r] = s.narrow(dim, a, s.shape[dim] - a)
    return torch.cat(pieces, dim)


def ring_schedule(rank, world_size, causal, q_lens, kv_lens):
    """The kernel calls of rank `rank`, one list per ring step: (source rank
    of the K/V, query rows [q0, q1), key rows [k0, k1) of that source's
    shard, causal). q_lens / kv_lens: every rank's shard lengths. With
    causal the shards are zig-zag (equal q and kv lengths) and the rows
    follow the chunks of zigzag_chunks; a pair with no rows is left out."""
    steps = []
    chunks = None
    if causal:
        chunks = zigzag_chunks(sum(q_lens), world_size)

    def first(r):
        return chunks[r][1] - chunks[r][0]
    for t in range(world_size):
        src = (rank - t) % world_size
        if not causal:
            call = (src, 0, q_lens[rank], 0, kv_lens[src], False)
        elif t == 0:
            call = (src, 0, q_lens[rank], 0, kv_lens[src], True)
        elif src < rank:
            call = (src, 0, q_lens[rank], 0, first(src), False)
        else:
            call = (src, first(rank), q_lens[rank], 0, kv_lens[src], False)
        _, q0, q1, k0, k1, _ = call
        steps.append([call] if q1 > q0 and k1 > k0 else [])
    return steps


# ===----------------------------------------------------------------------===
# The ring
# ===----------------------------------------------------------------------===

def _global_rank(group, r):
    if group is None:
        return r
    if hasattr(dist, "get_global_rank"):
        return dist.get_global_rank(group, r)
    return dist.distributed_c10d._get_global_rank(group, r)


def _merge(out, lse, rows, part_out, part_lse):
    """Merges (part_out, part_lse) of query rows [rows) into the running
    (out, lse), float32, in place (docs/serving.md): a row that attended
    nothing (lse -inf) on either side takes the other side."""
    o = out[:, :, rows[0]:rows[1]]
    l = lse[:, :, rows[0]:rows[1]]
    new = torch.logaddexp(l, part_lse)
    # exp(-inf - -inf) is NaN; such a row has no weight on either side.
    empty = torch.isneginf(new)
    wa = torch.where(empty, torch.zeros_like(l), torch.exp(l - new))
    wb = torch.where(empty, torch.zeros_like(l), torch.exp(part_lse - new))
    o.copy_(o * wa.unsqueeze(-1) + part_out.float() * wb.unsqueeze(-1))
    l.copy_(new)


def _check_local(q, k, v):
    """skipattn.attention's checks, but an empty shard (length 0) is
    allowed: a short sequence leaves some ranks without tokens."""
    def nonempty(t):
        if isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[2] == 0:
            return t.new_zeros(t.shape[:2] + (1, t.shape[3]))
        return t
    _op._check_inputs(nonempty(q), nonempty(k), nonempty(v), None)


def _check_ranks(q, k, v, causal, group, world):
    """Every rank's (q_len, kv_len). A rank whose own inputs are bad says
    why, and every other rank fails too instead of waiting for it."""
    error = None
    try:
        _check_local(q, k, v)
        shape = [q.shape[0], q.shape[1], k.shape[1], q.shape[3], v.shape[3],
                 list(_op._DTYPES).index(q.dtype), q.shape[2], k.shape[2], 0]
    except (TypeError, ValueError) as e:
        error = e
        shape = [0] * 8 + [1]
    device = q.device if isinstance(q, torch.Tensor) else torch.device("cpu")
    mine = torch.tensor(shape, dtype=torch.int64, device=device)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine, group=group)
    every = [e.cpu().tolist() for e in every]
    if error is not None:
        raise error
    for r, e in enumerate(every):
        if e[8]:
            raise ValueError("ring_attention: rank %d's inputs are invalid "
                             "(its error says why)" % r)
        if e[:6] != every[0][:6]:
            raise ValueError(
                "ring_attention: rank %d has (batch, q heads, kv heads, head "
                "dim, value head dim, dtype) %s, rank 0 %s; every rank must "
                "agree" % (r, e[:6], every[0][:6]))
    q_lens = [e[6] for e in every]
    kv_lens = [e[7] for e in every]
    if causal:
        if q_lens != kv_lens:
            raise ValueError("ring_attention: causal needs the same query and "
                             "key shards; query lengths %s, key lengths %s" %
                             (q_lens, kv_lens))
        chunks = zigzag_chunks(sum(q_lens), world)
        want = [chunks[r][1] - chunks[r][0] + chunks[2 * world - 1 - r][1] -
                chunks[2 * world - 1 - r][0] for r in range(world)]
        if q_lens != want:
            raise ValueError(
                "ring_attention: causal shards must be the zig-zag shards of "
                "zigzag_shard (chunks of ceil(S / 2W) tokens, the tail "
                "shorter); %d tokens over %d ranks give lengths %s, the "
                "ranks hold %s" % (sum(q_lens), world, want, q_lens))
    return q_lens, kv_lens


def _row_positions(rank, world, causal, q_lens):
    """Global sequence positions of this rank's query rows (causal: the
    zig-zag chunks), or None without causal."""
    if not causal:
        return None
    chunks = zigzag_chunks(sum(q_lens), world)
    a, b = chunks[rank], chunks[2 * world - 1 - rank]
    return torch.cat([torch.arange(*a), torch.arange(*b)])


def _sink_seed(q, k_sink, positions):
    """Per query row, the largest score over the sink keys the row attends:
    float32 [B, Hq, Sq], in q's dtype rounded down (a seed must not exceed
    the scores it stands for). q is already scaled as the kernels take it
    (their scale 1/sqrt(D))."""
    group = q.shape[1] // k_sink.shape[1]
    keys = k_sink.float().repeat_interleave(group, dim=1)
    scores = torch.matmul(q.float(), keys.transpose(-1, -2)) / \
        math.sqrt(q.shape[3])
    if positions is not None:
        # Causal: key j (position j, the sinks open the sequence) for rows
        # at position >= j; every row attends key 0.
        allowed = torch.arange(keys.shape[2]).unsqueeze(0) <= \
            positions.unsqueeze(1)
        scores = scores.masked_fill(~allowed.to(q.device), -math.inf)
    return _round_down(scores.amax(dim=-1), q.dtype)


def _round_down(x, dtype):
    """x (float32) in dtype, rounded down: where rounding to nearest went
    up, x - eps |x| - tiny, which rounds to below x (torch 1.13 has no
    nextafter for f16 on the CPU)."""
    rounded = x.to(dtype)
    if dtype == torch.float32:
        return rounded
    info = torch.finfo(dtype)
    lower = (x - x.abs() * info.eps - info.tiny).to(dtype)
    return torch.where(rounded.float() > x, lower, rounded)


def _seeded_call(q, k, v, causal, lam, seed):
    """The attention of q over (k, v) whose running max starts from `seed`
    (per row, q's dtype): a key of zeros is put in front, scored `seed` by
    an additive mask, so that kv-block 0 of the call starts the max there;
    its weight exp(seed) is then taken back out of the row sum. Returns
    (out, lse, counters) of the real keys.

    The bound: seed is the max of scores the row attends, so it is at most
    the final max of the row (DESIGN.md section 4); taking exp(seed) out of
    exp(lse) loses at most f32 rounding of exp(seed) <= the final row sum.
    """
    b, hkv, sk, d = k.shape
    sq = q.shape[2]
    k1 = torch.cat([k.new_zeros(b, hkv, 1, d), k], dim=2)
    v1 = torch.cat([v.new_zeros(b, hkv, 1, v.shape[3]), v], dim=2)
    # Causal is bottom-right aligned: with one key more in front, row i
    # attends that key and the real keys up to where it did before.
    mask = q.new_zeros(b, q.shape[1], sq, sk + 1)
    mask[..., 0] = seed
    lse = torch.empty(b, q.shape[1], sq, dtype=torch.float32,
                      device=q.device)
    out, heads = _op._run(q, k1, v1, mask, causal, None, lam, True, lse=lse)
    # exp(lse_real) = exp(lse) - exp(seed), out_real = out * exp(lse -
    # lse_real); a row left with nothing (every real tile skipped) is -inf.
    frac = torch.exp(seed.float() - lse).clamp(max=1.0)
    real = lse + torch.log1p(-frac)
    empty = torch.isneginf(real)
    ratio = torch.where(empty, torch.zeros_like(lse), torch.exp(lse - real))
    return out.float() * ratio.unsqueeze(-1), real, heads


def _attend_step(calls, q, k, v, lam, use_skip, row_seed, carry, out, lse,
                 counts):
    """The kernel calls of one ring step on the K/V shard in hand, merged
    into (out, lse); their tiles added to counts ({total, skipped}). With
    carry (f32 [B, Hq, Sq], the running max of the earlier steps), each call
    starts its rows' running max there and carry takes the call's final
    max."""
    b, hq, _, d = q.shape
    for _, q0, q1, k0, k1, step_causal in calls:
        qs = q[:, :, q0:q1]
        ks, vs = k[:, :, k0:k1], v[:, :, k0:k1]
        if carry is not None:
            part_lse = torch.empty(b, hq, q1 - q0, dtype=torch.float32,
                                   device=q.device)
            part_max = torch.empty_like(part_lse)
            part, heads = _op._run(
                qs, ks, vs, None, step_causal, None, lam, use_skip,
                lse=part_lse, init_max=carry[:, :, q0:q1].contiguous(),
                max_out=part_max)
            # The running max of steps 0..t: the call's max, which started
            # from the carry, and (the same) the max of the two.
            carry[:, :, q0:q1] = torch.maximum(carry[:, :, q0:q1], part_max)
        elif row_seed is not None:
            part, part_lse, heads = _seeded_call(
                qs, ks, vs, step_causal, lam, row_seed[:, :, q0:q1])
        else:
            part_lse = torch.empty(b, hq, q1 - q0, dtype=torch.float32,
                                   device=q.device)
            part, heads = _op._run(qs, ks, vs, None, step_causal, None, lam,
                                   use_skip, lse=part_lse)
        _merge(out, lse, (q0, q1), part, part_lse)
        if use_skip:
            counts += heads.sum(dim=(0, 1))
        else:
            bm, bn = _op.block_sizes(q.device, step_causal, d, q1 - q0)
            counts[0] += b * hq * _op.visited_tiles(q1 - q0, k1 - k0,
                                                    step_causal, bm, bn)


def ring_attention(q, k, v, *, group=None, causal=False, skip=None,
                   scale=None, seed=None, return_stats=False):
    """Attention of this rank's queries over the keys of every rank.

    q [B, Hq, Sq_r, D], k [B, Hkv, Skv_r, D], v [B, Hkv, Skv_r, Dv]: this
    rank's shards of the sequence (dim 2), on a device the group's backend
    serves (CPU with gloo, CUDA with nccl). Without causal the shards may
    have any lengths (0 included) and the queries and keys may be sharded
    differently; with causal, q, k and v are the zig-zag shards of
    zigzag_shard of one sequence. skip and scale are those of
    skipattn.attention, a factor being divided by the whole sequence's
    kv length. Returns this rank's output [B, Hq, Sq_r, Dv] in q's dtype.

    seed: None (the default) starts every kernel call's running max from
    -inf, so the first kv-block of every call is never skipped. "carry",
    with skipping on, carries the running max from step to step: step t + 1
    starts each row from the largest score steps 0..t kept (the bundles'
    init_max operand and max result), so that a late shard can be skipped
    whole, its first kv-block included (CPU tensors, and CUDA tensors, where
    the GPU bundles run the mma.sync prefill kernel). "sinks", with
    skipping on, starts every call from the row max over the sequence's
    first kv-block (the first min(64, ...) keys of the first rank that has
    keys, broadcast once); it goes in as a key of zeros and an additive mask
    of [B, Hq, Sq_r, Skv_s + 1] elements per call, which limits it to short
    shards (docs/distributed.md).

    With return_stats, also a dict, the same on every rank (gathered with
    all_gather): tiles_total, tiles_skipped and sparsity over every rank
    and step, per_rank_step (int64 [W, W, 2]: rank, ring step, {tiles_total,
    tiles_skipped}), lambda, dense, dense_reason, min_kv_len, seed (the
    rule used, "carry" or "sinks"; None when no call was seeded).
    """
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    if not isinstance(causal, bool):
        raise TypeError("causal must be a bool")
    if scale is not None and not (isinstance(scale, (int, float)) and
                                  math.isfinite(scale) and scale > 0):
        raise ValueError("scale must be a positive finite number, got %r" %
                         (scale,))
    if seed not in ("carry", "sinks", None):
        raise ValueError("seed must be 'carry', 'sinks' or None, got %r" %
                         (seed,))
    q_lens, kv_lens = _check_ranks(q, k, v, causal, group, world)
    kv_total = sum(kv_lens)
    lam, min_kv, reason = _op.resolve_skip(skip, max(kv_total, 1))
    use_skip = skip is not None
    schedule = ring_schedule(rank, world, causal, q_lens, kv_lens)
    # The kernels scale by 1/sqrt(D); another scale goes into q once, as
    # skipattn.attention does, so that the seeds see the kernels' scores.
    d = q.shape[3]
    if scale is not None and abs(scale * math.sqrt(d) - 1.0) > 1e-12:
        q = q * (scale * math.sqrt(d))
    q = q.contiguous()
    row_seed = None
    if seed == "sinks" and reason is None and kv_total:
        owner = next(r for r in range(world) if kv_lens[r])
        block_n = _op.block_sizes(q.device, causal, d)[1]
        n_sink = min(block_n, kv_lens[owner])
        if causal:
            n_sink = min(n_sink, zigzag_chunks(kv_total, world)[0][1])
        # As float32 (exact for every dtype here): gloo has no bf16
        # collectives.
        sinks = k[:, :, :n_sink].float().contiguous() if rank == owner else \
            k.new_empty(k.shape[:2] + (n_sink, d), dtype=torch.float32)
        dist.broadcast(sinks, _global_rank(group, owner), group=group)
        row_seed = _sink_seed(q, sinks, _row_positions(rank, world, causal,
                                                        q_lens))

    b, hq, sq, _ = q.shape
    # The carry: each row's running max over the steps so far, -inf at
    # first.
    carry = None
    if seed == "carry" and use_skip and reason is None:
        carry = torch.full((b, hq, sq), -math.inf, dtype=torch.float32,
                           device=q.device)
    out = torch.zeros(b, hq, sq, v.shape[3], dtype=torch.float32,
                      device=q.device)
    lse = torch.full((b, hq, sq), -math.inf, dtype=torch.float32,
                     device=q.device)
    # On q's device, so that counting does not wait for the kernels.
    counts = torch.zeros(world, 2, dtype=torch.int64, device=q.device)
    nxt = _global_rank(group, (rank + 1) % world)
    prv = _global_rank(group, (rank - 1) % world)
    k_cur, v_cur = k.contiguous(), v.contiguous()
    for t in range(world):
        # The next shard travels while this one is attended.
        pending, k_next, v_next = [], None, None
        if t + 1 < world:
            ops = []
            if k_cur.shape[2]:
                ops += [dist.P2POp(dist.isend, k_cur, nxt, group),
                        dist.P2POp(dist.isend, v_cur, nxt, group)]
            incoming = kv_lens[(rank - t - 1) % world]
            k_next = k.new_empty(k.shape[:2] + (incoming, k.shape[3]))
            v_next = v.new_empty(v.shape[:2] + (incoming, v.shape[3]))
            if incoming:
                ops += [dist.P2POp(dist.irecv, k_next, prv, group),
                        dist.P2POp(dist.irecv, v_next, prv, group)]
            if ops:
                pending = dist.batch_isend_irecv(ops)
        try:
            _attend_step(schedule[t], q, k_cur, v_cur, lam, use_skip,
                         row_seed, carry, out, lse, counts[t])
        finally:
            # Also when the step failed: the neighbours posted the matching
            # ops, and ops left in flight would meet the next collective.
            for work in pending:
                work.wait()
        if t + 1 < world:
            k_cur, v_cur = k_next, v_next
    result = out.to(q.dtype)
    if not return_stats:
        return result
    every = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(every, counts, group=group)
    per = torch.stack([e.cpu() for e in every])
    total, skipped = int(per[..., 0].sum()), int(per[..., 1].sum())
    return result, {"tiles_total": total, "tiles_skipped": skipped,
                    "sparsity": skipped / total if total else 0.0,
                    "per_rank_step": per, "lambda": lam,
                    "dense": reason is not None, "dense_reason": reason,
                    "min_kv_len": min_kv,
                    "seed": seed if row_seed is not None or
                    carry is not None else None}
