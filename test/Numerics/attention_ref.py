#!/usr/bin/env python3
"""Float64 reference of attn.attention and of the Skip-Softmax contract.

This module is the independent oracle of the CPU numerics tests. It
re-implements, from DESIGN.md sections 3 and 4 and nothing else:

  * reference_attention: softmax(scale * Q K^T + mask) V in float64, with GQA,
    bottom-right aligned causal masking, fully masked rows giving zeros, and
    optionally a set of dropped (skipped) kv tiles per (b, head, q-block);
  * simulate_skip: which kv-blocks every (b, head, q-block) visits and which
    of them the skip test skips, for a run-time lambda, plus the decision
    margins that say how far each decision is from flipping; optionally with
    vote groups finer than the q-block (skipattn-compile --vote: a warp's
    rows), or for the split-KV decode tiling of docs/serving.md: the query
    heads of a GQA group packed into the q-blocks, and the kv range of each
    q-block in parts that start from the seed of kv-block 0;
  * input generators: plain Gaussian, Gaussian with per-block biases, and
    "planted" inputs with the structure of long-context attention (a sink in
    block 0 and a few high blocks per q-block) on which a moderate lambda
    skips most tiles.

`attention_ref.py --selftest` checks these pieces against each other and
against straightforward loops; it needs no skipattn tool. Only numpy and the
standard library are used.
"""

import argparse
import math
import os
import sys

import numpy as np

DEFAULT_BLOCK = 64


# ===----------------------------------------------------------------------===
# Geometry: masks, blocks, visited tiles
# ===----------------------------------------------------------------------===

def default_scale(head_dim):
    return 1.0 / math.sqrt(head_dim)


def num_blocks(n, block):
    return (n + block - 1) // block


def key_limits(sq, skv, causal):
    """Per query row i, the number of keys it may attend (keys j < limit)."""
    if not causal:
        return np.full(sq, skv, dtype=np.int64)
    # Bottom-right aligned: key j is kept for row i iff j <= i + (skv - sq).
    return np.clip(np.arange(sq, dtype=np.int64) + (skv - sq) + 1, 0, skv)


def allowed_mask(sq, skv, causal):
    """Boolean [sq, skv]: True where query row i may attend key j."""
    return np.arange(skv)[None, :] < key_limits(sq, skv, causal)[:, None]


def visited_counts(sq, skv, causal, block_m, block_n):
    """Per q-block, how many kv-blocks it visits (always blocks 0..n-1).

    Non-causal: every kv-block. Causal: the blocks holding an unmasked entry
    for at least one valid row; the allowed keys of a row are a prefix, so
    these are exactly the blocks up to the one holding the largest key the
    last valid row of the q-block may see.
    """
    nqb, nkb = num_blocks(sq, block_m), num_blocks(skv, block_n)
    counts = np.zeros(nqb, dtype=np.int64)
    limits = key_limits(sq, skv, causal)
    for qb in range(nqb):
        last_row = min(sq, (qb + 1) * block_m) - 1
        if not causal:
            counts[qb] = nkb
            continue
        max_key = int(limits[last_row]) - 1
        counts[qb] = 0 if max_key < 0 else max_key // block_n + 1
    return counts


def expand_tiles(tiles, sq, skv, block_m, block_n):
    """[..., nqb, nkb] per-tile flags -> [..., sq, skv] per-entry flags."""
    rows = np.repeat(tiles, block_m, axis=-2)[..., :sq, :]
    return np.repeat(rows, block_n, axis=-1)[..., :skv]


# ===----------------------------------------------------------------------===
# Reference attention
# ===----------------------------------------------------------------------===

def _kv_for_query_heads(x, hq):
    """[B, Hkv, S, D] -> [B, Hq, S, D], query head h reading kv head h // g."""
    hkv = x.shape[1]
    assert hq % hkv == 0, "Hq must be a multiple of Hkv"
    return np.repeat(x, hq // hkv, axis=1)


def scores(q, k, causal, scale=None, mask=None):
    """Float64 scale * Q K^T with masked entries (causal) set to -inf. `mask`
    broadcasts to [B, Hq, Sq, Skv]: a bool one keeps its true entries, a
    float one is added to the scaled scores."""
    q64 = np.asarray(q, dtype=np.float64)
    k64 = _kv_for_query_heads(np.asarray(k, dtype=np.float64), q.shape[1])
    if scale is None:
        scale = default_scale(q.shape[-1])
    s = np.einsum("bhid,bhjd->bhij", q64, k64) * scale
    if mask is not None:
        mask = np.broadcast_to(mask, s.shape)
        if mask.dtype == bool:
            s = np.where(mask, s, -np.inf)
        else:
            s = s + np.asarray(mask, dtype=np.float64)
    allowed = allowed_mask(q.shape[2], k.shape[2], causal)
    return np.where(allowed[None, None], s, -np.inf)


def reference_attention(q, k, v, causal, scale=None, dropped=None,
                        block_m=DEFAULT_BLOCK, block_n=DEFAULT_BLOCK,
                        drop=None, mask=None):
    """Float64 attention; `dropped` [B, Hq, nqb, nkb] removes whole tiles,
    `drop` [B, Hq, Sq, Skv] single entries (SkipPrediction.drop_mask());
    `mask` as in scores()."""
    s = scores(q, k, causal, scale, mask)
    if dropped is not None:
        tiles = expand_tiles(np.asarray(dropped, dtype=bool), s.shape[2],
                             s.shape[3], block_m, block_n)
        s = np.where(tiles, -np.inf, s)
    if drop is not None:
        s = np.where(np.asarray(drop, dtype=bool), -np.inf, s)
    live = np.isfinite(s)
    row_max = np.max(s, axis=-1, keepdims=True, initial=-np.inf)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    p = np.where(live, np.exp(np.where(live, s, 0.0) - row_max), 0.0)
    denom = p.sum(axis=-1, keepdims=True)
    v64 = _kv_for_query_heads(np.asarray(v, dtype=np.float64), q.shape[1])
    acc = np.einsum("bhij,bhjd->bhid", p, v64)
    # A row with every key masked (or dropped) yields zeros.
    return np.where(denom > 0, acc / np.where(denom > 0, denom, 1.0), 0.0)


def reference_lse(q, k, causal, scale=None, drop=None, mask=None):
    """Float64 log-sum-exp of each softmax row, [B, Hq, Sq]: the log of the
    denominator over the entries the row attends (-inf for none). `drop`
    leaves out entries as in reference_attention; `mask` is a boolean
    [B|1, Hq|1, Sq|1, Skv|1] keep-mask or an additive float mask."""
    s = scores(q, k, causal, scale, mask)
    if drop is not None:
        s = np.where(np.asarray(drop, dtype=bool), -np.inf, s)
    top = np.max(s, axis=-1, keepdims=True, initial=-np.inf)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.where(np.isfinite(s), np.exp(np.where(np.isfinite(s), s, 0.0) -
                                            safe), 0.0).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return np.where(total > 0, np.log(np.where(total > 0, total, 1.0)) +
                        safe[..., 0], -np.inf)


# ===----------------------------------------------------------------------===
# Skip simulator (DESIGN.md section 4)
# ===----------------------------------------------------------------------===

def block_row_max(q, k, causal, block_n, scale=None, mask=None):
    """[B, Hq, Sq, nkb]: per row, the largest scaled score in each kv-block."""
    s = scores(q, k, causal, scale, mask)
    b, h, sq, skv = s.shape
    nkb = num_blocks(skv, block_n)
    padded = np.full((b, h, sq, nkb * block_n), -np.inf)
    padded[..., :skv] = s
    return padded.reshape(b, h, sq, nkb, block_n).max(axis=-1)


def skipping_active(lam):
    return 0.0 < lam < 1.0


class SkipPrediction:
    """What the contract says a skip-enabled kernel does for one lambda.

    A unit is what votes together: a (b, query head, q-block) of block_m
    query rows, or with packing a (b, kv head, q-block) of block_m packed
    rows (row p is query p % Sq of the group's head p // Sq), or with vote
    groups a (b, query head, vote group): with G = block_m / vote_rows
    groups per q-block, q-block qb holds units qb * G to qb * G + G - 1.

    visited   [B, H, U]          kv-blocks each unit visits (0..visited-1);
                                 H is Hq, or Hkv when packed; U is nqb, or
                                 nqb * block_m / vote_rows with vote groups
    weights   [B, H, U]          query heads per unit: what one of its tiles
                                 counts in tiles_total / tiles_skipped
    skipped   [B, H, U, nkb]     True for a visited tile the test skipped
    margins   list of per-decision margins (one per decision while skipping
              is active): how far, in scaled-logit units, the deciding rows
              are from ln(lam); a decision is robust to f32 rounding when
              its margin is well above the rounding error.
    """

    def __init__(self, visited, weights, skipped, margins, lam, packing,
                 vote_rows=None):
        self.visited = visited
        self.weights = weights
        self.skipped = skipped
        self.margins = margins
        self.lam = lam
        # rows per unit with vote groups finer than the q-block, else None
        self.vote_rows = vote_rows
        # (group, sq, block_m, block_n) when packed, else None
        self.packing = packing

    @property
    def tiles_total(self):
        return int((self.visited * self.weights).sum())

    @property
    def tiles_skipped(self):
        return int((self.skipped.sum(axis=-1) * self.weights).sum())

    @property
    def min_margin(self):
        return min(self.margins) if self.margins else math.inf

    def head_counts(self):
        """([B][Hq] tiles_total, [B][Hq] tiles_skipped) per query head, as
        the kernels count them: a packed unit's tiles count once for each
        query head its rows hold."""
        skipped = self.skipped.sum(axis=-1)
        if self.packing is None:
            return (self.visited.sum(axis=2).tolist(),
                    skipped.sum(axis=2).tolist())
        group, sq, bm, _ = self.packing
        b_count, hkv, nqb = self.visited.shape
        total = np.zeros((b_count, hkv * group), dtype=np.int64)
        dropped = np.zeros_like(total)
        for qb in range(nqb):
            rows = range(qb * bm, min((qb + 1) * bm, group * sq))
            for g in sorted({p // sq for p in rows}):
                total[:, np.arange(hkv) * group + g] += self.visited[:, :, qb]
                dropped[:, np.arange(hkv) * group + g] += skipped[:, :, qb]
        return total.tolist(), dropped.tolist()

    def fraction(self):
        if not self.tiles_total:
            return 0.0
        return self.tiles_skipped / self.tiles_total

    def drop_mask(self, sq, skv, block_m=DEFAULT_BLOCK, block_n=DEFAULT_BLOCK):
        """[B, Hq, Sq, Skv]: True where a skipped tile covers the entry."""
        if self.packing is None:
            return expand_tiles(self.skipped, sq, skv,
                                self.vote_rows or block_m, block_n)
        group, sq_, bm, bn = self.packing
        b_count, hkv, nqb, nkb = self.skipped.shape
        drop = np.zeros((b_count, hkv * group, sq, skv), dtype=bool)
        for b, kh, qb, j in zip(*np.nonzero(self.skipped)):
            for p in range(qb * bm, min((qb + 1) * bm, group * sq)):
                drop[b, kh * group + p // sq, p % sq,
                     j * bn:min((j + 1) * bn, skv)] = True
        return drop


def part_ranges(n, parts):
    """The kv-block ranges of `parts` parts of [0, n) (docs/serving.md)."""
    parts = max(parts, 1)
    per = -(-n // parts) if n else 0
    return [(min(p * per, n), min(p * per + per, n)) for p in range(parts)]


def packed_visited(sq, skv, causal, group, block_m, block_n):
    """Per packed q-block: kv-blocks visited and query heads held."""
    rows = group * sq
    nqb, nkb = num_blocks(rows, block_m), num_blocks(skv, block_n)
    counts = np.zeros(nqb, dtype=np.int64)
    heads = np.zeros(nqb, dtype=np.int64)
    for qb in range(nqb):
        p0, p1 = qb * block_m, min(rows, (qb + 1) * block_m)
        heads[qb] = (p1 - 1) // sq - p0 // sq + 1
        if not causal:
            counts[qb] = nkb
            continue
        # The largest query index among the rows: Sq - 1 unless they all lie
        # inside one head.
        last_query = (p1 - 1) % sq if p0 // sq == (p1 - 1) // sq else sq - 1
        max_key = last_query + (skv - sq)
        counts[qb] = 0 if max_key < 0 else min(nkb, max_key // block_n + 1)
    return counts, heads


def simulate_skip(row_max, sq, skv, causal, lam,
                  block_m=DEFAULT_BLOCK, block_n=DEFAULT_BLOCK,
                  num_splits=1, pack_gqa=False, kv_heads=None,
                  init_max=None, vote_rows=0):
    """Replays the skip test on block_row_max() output for run-time `lam`.

    init_max ([B, Hq, Sq], -inf for none; attn.attention's init_max) starts
    each row's running max, and then every kv-block is voted, block 0
    included (a row at -inf votes no where it has a score).

    num_splits > 1 cuts each unit's kv range into parts (part_ranges); a
    part that starts past block 0 and has blocks starts, while skipping is
    on, from the row max of block 0 (the seed); block 0 is never skipped.
    pack_gqa packs the Hq / kv_heads heads of a group into the q-blocks.

    vote_rows (0: block_m) cuts each q-block into vote groups of that many
    consecutive rows: each group visits the kv-blocks of its q-block, votes
    for its own rows and counts its own tiles, and a group wholly past the
    last row votes yes on every block it votes on. A q-block of packed heads
    votes as a whole (attn-insert-block-skip refuses finer groups there)."""
    b_count, hq = row_max.shape[:2]
    nkb = num_blocks(skv, block_n)
    active = skipping_active(lam)
    ln_lam = math.log(lam) if active else 0.0
    group = hq // kv_heads if pack_gqa else 1
    if group > 1:
        # [B, Hq, Sq, nkb] -> [B, Hkv, G * Sq, nkb], heads one after another.
        rows = row_max.reshape(b_count, kv_heads, group * sq, nkb)
        if init_max is not None:
            init_max = init_max.reshape(b_count, kv_heads, group * sq)
        counts, heads = packed_visited(sq, skv, causal, group, block_m,
                                       block_n)
        packing = (group, sq, block_m, block_n)
        n_rows = group * sq
    else:
        rows = row_max
        counts = visited_counts(sq, skv, causal, block_m, block_n)
        heads = np.ones_like(counts)
        packing = None
        n_rows = sq
    group_rows = vote_rows or block_m
    assert block_m % group_rows == 0, "vote_rows must divide block_m"
    assert group == 1 or group_rows == block_m, \
        "a q-block of packed heads votes as a whole"
    per_block = block_m // group_rows
    h_count = rows.shape[1]
    # One unit per vote group, each with its q-block's visits and heads.
    counts = np.repeat(counts, per_block)
    heads = np.repeat(heads, per_block)
    n_units = counts.shape[0]
    visited = np.broadcast_to(counts, (b_count, h_count, n_units)).copy()
    weights = np.broadcast_to(heads, (b_count, h_count, n_units)).copy()
    skipped = np.zeros((b_count, h_count, n_units, nkb), dtype=bool)
    margins = []
    for b in range(b_count):
        for h in range(h_count):
            for unit in range(n_units):
                # Rows past the end always vote yes, so only valid rows
                # matter; a group without one skips whatever it votes on.
                start = unit * group_rows
                span = slice(min(n_rows, start),
                             min(n_rows, start + group_rows))
                tile = rows[b, h, span]
                for j0, j1 in part_ranges(int(counts[unit]), num_splits):
                    m = np.full(tile.shape[0], -np.inf)
                    if init_max is not None:
                        m = init_max[b, h, span].astype(np.float64)
                    if active and 0 < j0 < j1:
                        m = tile[:, 0].copy()       # the seed
                    for j in range(j0, j1):
                        mt = tile[:, j]
                        if active and (j > 0 or init_max is not None):
                            finite = np.isfinite(mt) & np.isfinite(m)
                            diff = np.where(finite,
                                            mt - np.where(finite, m, 0.0), 0.0)
                            # mt == -inf votes yes; a finite mt over
                            # m == -inf is an infinitely large step up and
                            # votes no.
                            yes = np.where(np.isneginf(mt), True,
                                           np.where(finite, diff < ln_lam,
                                                    False))
                            dist = np.abs(diff - ln_lam)
                            if yes.all():
                                # Every finite row must stay below the
                                # threshold.
                                margins.append(float(dist[finite].min())
                                               if finite.any() else math.inf)
                                skipped[b, h, unit, j] = True
                                continue
                            # One robust "no" is enough to keep the tile.
                            no_rows = ~yes
                            infinite_no = no_rows & ~finite
                            margins.append(math.inf if infinite_no.any() else
                                           float(dist[no_rows].max()))
                        m = np.maximum(m, mt)
    return SkipPrediction(visited, weights, skipped, margins, lam, packing,
                          group_rows if per_block > 1 else None)


def predict(q, k, causal, lam, block_m=DEFAULT_BLOCK, block_n=DEFAULT_BLOCK,
            scale=None, num_splits=1, pack_gqa=False, mask=None,
            init_max=None, vote_rows=0):
    rm = block_row_max(q, k, causal, block_n, scale, mask)
    return simulate_skip(rm, q.shape[2], k.shape[2], causal, lam, block_m,
                         block_n, num_splits, pack_gqa, k.shape[1], init_max,
                         vote_rows)


# ===----------------------------------------------------------------------===
# Input generators (all return float32 arrays in op layout)
# ===----------------------------------------------------------------------===

def gaussian_inputs(rng, b, hq, hkv, sq, skv, d, temperature=None):
    """Plain Gaussian Q/K/V; Q scaled so softmax sharpness varies per draw."""
    if temperature is None:
        temperature = float(rng.uniform(0.5, 3.0))
    q = rng.standard_normal((b, hq, sq, d)) * temperature
    k = rng.standard_normal((b, hkv, skv, d))
    v = rng.standard_normal((b, hkv, skv, d))
    return q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)


def block_biased_inputs(rng, b, hq, hkv, sq, skv, d, block_n=DEFAULT_BLOCK,
                        spread=3.0):
    """Gaussian Q/K/V plus a random per-(b, kv head, kv-block) logit bias.

    Every query shares one direction u; every key of kv-block j carries
    bias_j * u, so block j's logits shift by about bias_j. Random biases
    make some tiles skippable for whole q-blocks at lambdas well inside
    (0, 1), which plain Gaussian inputs almost never are.
    """
    nkb = num_blocks(skv, block_n)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    q = rng.standard_normal((b, hq, sq, d)) * 0.5 + math.sqrt(d) * u
    bias = rng.normal(0.0, spread, size=(b, hkv, nkb))
    key_bias = np.repeat(bias, block_n, axis=-1)[..., :skv]
    k = rng.standard_normal((b, hkv, skv, d)) * 0.5 + key_bias[..., None] * u
    v = rng.standard_normal((b, hkv, skv, d))
    return q.astype(np.float32), k.astype(np.float32), v.astype(np.float32)


class PlantedPlan:
    """Which kv-blocks a planted input makes high, and what that predicts."""

    def __init__(self, high, visited, exact):
        self.high = high            # dict (b, h, qb) -> sorted list of blocks
        self.visited = visited      # per q-block visit counts
        self.exact = exact          # every kv-block had an axis of its own

    def planned_skipped(self, b, hq):
        total = 0
        for bb in range(b):
            for h in range(hq):
                for qb, n in enumerate(self.visited):
                    if n > 1:
                        total += n - 1 - len(self.high[(bb, h, qb)])
        return total

    def planned_total(self, b, hq):
        return int(self.visited.sum()) * b * hq


def planted_inputs(rng, b, hq, hkv, sq, skv, d, causal,
                   block_m=DEFAULT_BLOCK, block_n=DEFAULT_BLOCK,
                   sink_logit=11.0, high_logit=10.0):
    """Long-context-like inputs: a sink, a few high blocks, the rest small.

    Key 0 (block 0) is a sink every query row scores `sink_logit` on. Every
    key of kv-block j >= 1 carries a component along its own axis e_j; each
    (b, head, q-block) picks a few visited blocks as "high" and its queries
    carry those axes, scoring `high_logit` there. Every other score is noise
    of std about 0.25, so a tile that is neither block 0 nor high has
    mt - m near -sink_logit, skipped by any lambda in about (exp(-10), 1);
    a high tile has mt - m = high_logit - sink_logit = -1, kept by any lambda
    below about 0.3. Q-blocks that visit three or more
    kv-blocks get more than half of their tiles planned to be skipped.
    """
    assert d >= 2, "planted inputs need head_dim >= 2"
    scale = default_scale(d)
    nqb, nkb = num_blocks(sq, block_m), num_blocks(skv, block_n)
    counts = visited_counts(sq, skv, causal, block_m, block_n)
    sink = math.sqrt(sink_logit / scale)    # query and key coefficient
    high = math.sqrt(high_logit / scale)

    def axis(j):  # kv-block j >= 1 -> its own axis while axes last
        return 1 + (j - 1) % (d - 1)

    # Noise lives only on the axes nothing is planted on, so planted scores
    # are exact and every other score is noise of std about 0.25.
    planted_axes = min(d, nkb if nkb > 1 else 1)
    k = rng.standard_normal((b, hkv, skv, d)) * 0.5
    q = rng.standard_normal((b, hq, sq, d)) * 0.5
    k[..., :planted_axes] = 0.0
    q[..., :planted_axes] = 0.0
    k[:, :, 0, 0] += sink
    for j in range(1, nkb):
        k[:, :, j * block_n:min(skv, (j + 1) * block_n), axis(j)] += high
    q[..., 0] += sink
    plan = {}
    for bb in range(b):
        for h in range(hq):
            for qb in range(nqb):
                n = int(counts[qb])
                n_high = 0 if n <= 4 else (1 if n <= 6 else 2)
                chosen = sorted(int(x) for x in
                                rng.choice(np.arange(1, n), size=n_high,
                                           replace=False)) if n_high else []
                plan[(bb, h, qb)] = chosen
                rows = slice(qb * block_m, min(sq, (qb + 1) * block_m))
                for j in chosen:
                    q[bb, h, rows, axis(j)] += high
    v = rng.standard_normal((b, hkv, skv, d))
    return (q.astype(np.float32), k.astype(np.float32), v.astype(np.float32),
            PlantedPlan(plan, counts, exact=nkb - 1 <= d - 1))


# ===----------------------------------------------------------------------===
# Self-test (no skipattn tool needed)
# ===----------------------------------------------------------------------===

def _direct_attention(q, k, v, causal):
    """Row-by-row softmax with explicit loops: the plainest possible oracle."""
    b_count, hq, sq, d = q.shape
    hkv, skv, dv = k.shape[1], k.shape[2], v.shape[3]
    g = hq // hkv
    scale = 1.0 / math.sqrt(d)
    out = np.zeros((b_count, hq, sq, dv))
    for b in range(b_count):
        for h in range(hq):
            kh = h // g
            for i in range(sq):
                keys = [j for j in range(skv)
                        if not causal or j <= i + (skv - sq)]
                if not keys:
                    continue
                logits = [scale * float(np.dot(q[b, h, i].astype(np.float64),
                                               k[b, kh, j].astype(np.float64)))
                          for j in keys]
                top = max(logits)
                w = [math.exp(x - top) for x in logits]
                total = sum(w)
                for wj, j in zip(w, keys):
                    out[b, h, i] += (wj / total) * v[b, kh, j].astype(
                        np.float64)
    return out


def _online_softmax_loop(q, k, v, causal, lam, block_m, block_n,
                         num_splits=1, pack_gqa=False, vote_rows=0):
    """Section 4 and docs/serving.md read literally: per unit (a q-block of
    one head, or of a GQA group's packed rows), the visited kv-blocks in
    parts, each part an online softmax from its seed, the parts merged by
    log-sum-exp. With vote_rows, each group of that many rows of a q-block
    votes for its own rows, which keep their state where it skips. Returns
    the output, the skipped tiles per unit (per vote group) and the
    weighted tile count."""
    b_count, hq, sq, d = q.shape
    hkv, skv, dv = k.shape[1], k.shape[2], v.shape[3]
    g = hq // hkv
    packed = pack_gqa and g > 1
    scale = 1.0 / math.sqrt(d)
    ln_lam = math.log(lam) if 0 < lam < 1 else None
    nkb = num_blocks(skv, block_n)
    units = hkv if packed else hq
    n_rows = g * sq if packed else sq
    nqb = num_blocks(n_rows, block_m)
    group_rows = vote_rows or block_m
    per_block = block_m // group_rows
    out = np.zeros((b_count, hq, sq, dv))
    skipped = np.zeros((b_count, units, nqb * per_block, nkb), dtype=bool)
    total = 0
    for b in range(b_count):
        for u in range(units):
            for qb in range(nqb):
                # (head, query) of each row of the unit; None pads the block.
                rows = []
                for r in range(block_m):
                    p = qb * block_m + r
                    if p >= n_rows:
                        rows.append(None)
                    elif packed:
                        rows.append((u * g + p // sq, p % sq))
                    else:
                        rows.append((u, p))
                heads = {row[0] for row in rows if row is not None}

                def block_scores(j):
                    s = np.full((block_m, block_n), -np.inf)
                    for r, row in enumerate(rows):
                        if row is None:
                            continue
                        h, i = row
                        for c in range(block_n):
                            key = j * block_n + c
                            if key >= skv:
                                continue
                            if causal and key > i + (skv - sq):
                                continue
                            s[r, c] = scale * float(np.dot(
                                q[b, h, i].astype(np.float64),
                                k[b, h // g, key].astype(np.float64)))
                    return s

                all_scores = [block_scores(j) for j in range(nkb)]
                # Visit the blocks up to the last with an unmasked entry in a
                # valid row (found from the scores here, not the geometry).
                live = [j for j in range(nkb) if np.isfinite(all_scores[j]).any()]
                n = live[-1] + 1 if live else 0
                total += n * len(heads) * per_block
                parts = max(num_splits, 1)
                per = -(-n // parts) if n else 0
                merged = None
                for part in range(parts):
                    j0, j1 = min(part * per, n), min(part * per + per, n)
                    m = np.full(block_m, -np.inf)
                    if ln_lam is not None and 0 < j0 < j1:
                        m = all_scores[0].max(axis=1)      # the seed
                    l = np.zeros(block_m)
                    acc = np.zeros((block_m, dv))
                    for j in range(j0, j1):
                        s = all_scores[j]
                        mt = s.max(axis=1)
                        # Rows whose vote group skips this tile.
                        keep = np.zeros(block_m, dtype=bool)
                        if j > 0 and ln_lam is not None:
                            votes = []
                            for r, row in enumerate(rows):
                                if row is None or mt[r] == -np.inf:
                                    votes.append(True)
                                elif m[r] == -np.inf:
                                    votes.append(False)
                                else:
                                    votes.append(mt[r] - m[r] < ln_lam)
                            for grp in range(per_block):
                                r0 = grp * group_rows
                                if all(votes[r0:r0 + group_rows]):
                                    skipped[b, u, qb * per_block + grp,
                                            j] = True
                                    keep[r0:r0 + group_rows] = True
                            if keep.all():
                                continue
                        m_new = np.maximum(m, mt)
                        safe = np.where(np.isfinite(m_new), m_new, 0.0)
                        alpha = np.where(np.isfinite(m), np.exp(
                            np.where(np.isfinite(m), m, 0.0) - safe), 0.0)
                        p_ = np.where(np.isfinite(s), np.exp(
                            np.where(np.isfinite(s), s, 0.0) - safe[:, None]),
                            0.0)
                        c0 = j * block_n
                        n_valid = min(block_n, skv - c0)
                        pv = np.zeros((block_m, dv))
                        for r, row in enumerate(rows):
                            if row is not None:
                                kh = row[0] // g
                                pv[r] = p_[r, :n_valid] @ v[b, kh, c0:c0 + n_valid]
                        l = np.where(keep, l, alpha * l + p_.sum(axis=1))
                        acc = np.where(keep[:, None], acc,
                                       alpha[:, None] * acc + pv)
                        m = np.where(keep, m, m_new)
                    # Log-sum-exp merge with the parts before.
                    if merged is None:
                        merged = (m, l, acc)
                        continue
                    mm, ml, macc = merged
                    top = np.maximum(mm, m)
                    safe = np.where(np.isfinite(top), top, 0.0)
                    w1 = np.where(np.isfinite(mm), np.exp(
                        np.where(np.isfinite(mm), mm, 0.0) - safe), 0.0)
                    w2 = np.where(np.isfinite(m), np.exp(
                        np.where(np.isfinite(m), m, 0.0) - safe), 0.0)
                    merged = (top, w1 * ml + w2 * l,
                              w1[:, None] * macc + w2[:, None] * acc)
                _, l, acc = merged
                for r, row in enumerate(rows):
                    if row is not None and l[r] > 0:
                        out[b, row[0], row[1]] = acc[r] / l[r]
    return out, skipped, total


class CheckFailure(Exception):
    """A numerics check of a check_*.py script that did not hold."""


def check_out(got, ref, tol, what):
    """An attention output against its float64 reference: every element
    finite, max abs error over the reference's max magnitude within tol.
    Returns the error."""
    denom = max(float(np.max(np.abs(ref))), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) / denom
    if not np.isfinite(got).all() or err > tol:
        raise CheckFailure(f"{what}: out max rel err {err:.3g} > {tol:g} "
                           f"(finite: {bool(np.isfinite(got).all())})")
    return err


def check_rows(got, ref, tol, what, relative=False):
    """Per-row values (lse, running max) against float64: no NaN (an
    unwritten row), the same -inf rows, the rest within tol: absolute, or
    with `relative` relative past magnitude 1. Returns the error."""
    if np.isnan(got).any():
        raise CheckFailure(f"{what}: NaN (an unwritten row)")
    if not np.array_equal(np.isneginf(got), np.isneginf(ref)):
        idx = tuple(int(x) for x in
                    np.argwhere(np.isneginf(got) != np.isneginf(ref))[0])
        raise CheckFailure(f"{what}: -inf pattern differs first at [b,h,i]="
                           f"{list(idx)}: got {got[idx]}, ref {ref[idx]}")
    live = ~np.isneginf(ref)
    if not live.any():
        return 0.0
    diff = np.abs(got[live] - ref[live])
    if relative:
        diff = diff / np.maximum(1.0, np.abs(ref[live]))
    err = float(np.max(diff))
    if not err <= tol:
        raise CheckFailure(f"{what}: max {'rel ' if relative else 'abs '}"
                           f"err {err:.3g} > {tol:g}")
    return err


def case_seed(seed):
    """The seed a check_*.py case runs with: --seed, or a fresh one."""
    return seed if seed is not None else int.from_bytes(os.urandom(8),
                                                         "little")


class CaseLog:
    """The PASS/FAIL lines of a check_*.py script and its summary line
    `NAME: N cases, P passed, F failed`."""

    def __init__(self):
        self.passed = self.failed = 0

    def run(self, label, check, seed=None):
        """Runs check() (a list of notes, or CheckFailure) and prints its
        line; a failure names the seed."""
        try:
            notes = check()
        except CheckFailure as failure:
            self.failed += 1
            seed_text = "" if seed is None else f" seed={seed:#x}"
            print(f"FAIL {label}{seed_text}: {failure}", flush=True)
        else:
            self.passed += 1
            print(f"PASS {label}: {'; '.join(notes)}", flush=True)

    def summary(self, name):
        """Prints the summary line; the exit status (1 unless something ran
        and nothing failed)."""
        print(f"{name}: {self.passed + self.failed} cases, {self.passed} "
              f"passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def _rel_err(a, b):
    denom = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (denom if denom > 0 else 1.0))


def selftest(verbose=False):
    rng = np.random.default_rng(20261127)
    failures = []
    checks = 0

    def expect(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            failures.append(what)
            print("selftest FAIL: " + what)
        elif verbose:
            print("selftest ok: " + what)

    # Hand-worked geometry (block 64 x 64, bottom-right causal).
    expect(list(visited_counts(65, 129, True, 64, 64)) == [2, 3],
           "causal Sq=65 Skv=129 visits [2, 3] kv-blocks")
    expect(list(visited_counts(200, 1, True, 64, 64)) == [0, 0, 0, 1],
           "causal Sq=200 Skv=1 visits only from the last q-block")
    expect(list(visited_counts(7, 500, False, 64, 64)) == [8],
           "non-causal Skv=500 visits 8 kv-blocks")
    expect(list(visited_counts(200, 500, True, 64, 64)) == [6, 7, 8, 8],
           "causal Sq=200 Skv=500 visits [6, 7, 8, 8]")
    expect(list(visited_counts(1, 63, True, 64, 64)) == [1],
           "causal decode row sees every key")
    lim = key_limits(3, 2, True)
    expect(list(lim) == [0, 1, 2], "causal Sq=3 Skv=2 key limits [0, 1, 2]")

    # Reference vs direct row-by-row softmax (causal, GQA, fully masked rows).
    for (b, hq, hkv, sq, skv, d, causal) in [
            (2, 4, 1, 7, 63, 8, True), (1, 4, 4, 9, 5, 16, True),
            (2, 2, 1, 5, 11, 4, False), (1, 2, 2, 1, 1, 8, True),
            (1, 4, 2, 70, 3, 4, True)]:
        q, k, v = gaussian_inputs(rng, b, hq, hkv, sq, skv, d)
        ref = reference_attention(q, k, v, causal)
        direct = _direct_attention(q, k, v, causal)
        expect(_rel_err(ref, direct) < 1e-12,
               f"reference == direct softmax b={b} hq={hq} hkv={hkv} "
               f"sq={sq} skv={skv} d={d} causal={causal}")
        if causal and sq > skv:
            masked_rows = key_limits(sq, skv, True) == 0
            expect(np.all(ref[:, :, masked_rows] == 0.0),
                   f"fully masked rows are zeros sq={sq} skv={skv}")

    def loop_matches_simulator(q, k, v, causal, lam, bm, bn, tag, **tiling):
        """The literal online-softmax loop against the simulator: the same
        tiles, the same skips, and its output the reference with the
        predicted tiles dropped. Returns the prediction."""
        pred = predict(q, k, causal, lam, bm, bn, **tiling)
        out, skipped, total = _online_softmax_loop(q, k, v, causal, lam, bm,
                                                   bn, **tiling)
        sq, skv = q.shape[2], k.shape[2]
        expect(total == pred.tiles_total,
               f"tiles_total {total} == {pred.tiles_total}: {tag}")
        expect(np.array_equal(skipped, pred.skipped),
               f"skip pattern matches loop: {tag}")
        ref = reference_attention(q, k, v, causal,
                                  drop=pred.drop_mask(sq, skv, bm, bn))
        expect(_rel_err(out, ref) < 1e-12,
               f"loop output == reference with dropped tiles: {tag}")
        return pred

    # Simulator vs the literal online-softmax loop, on shapes small enough
    # for Python loops, blocks small so that there are many tiles.
    partial = 0
    for (b, hq, hkv, sq, skv, d, causal, bm, bn, kind) in [
            (1, 2, 1, 13, 40, 8, True, 4, 8, "biased"),
            (2, 2, 2, 9, 37, 8, False, 4, 8, "biased"),
            (1, 2, 1, 1, 50, 8, True, 4, 8, "biased"),
            (1, 2, 2, 30, 10, 4, True, 8, 4, "biased"),
            (1, 2, 1, 16, 64, 8, True, 4, 8, "planted"),
            (1, 1, 1, 5, 33, 8, False, 2, 4, "gaussian")]:
        if kind == "planted":
            q, k, v, _ = planted_inputs(rng, b, hq, hkv, sq, skv, d, causal,
                                        bm, bn)
        elif kind == "biased":
            q, k, v = block_biased_inputs(rng, b, hq, hkv, sq, skv, d, bn)
        else:
            q, k, v = gaussian_inputs(rng, b, hq, hkv, sq, skv, d)
        lams = [0.0, 1.0, 1.5, -0.1, 0.5, 0.05, 1e-3]
        # Unsplit, and the decode tiling: parts seeded from block 0, GQA
        # heads packed into the q-blocks.
        tilings = [(1, False)] * len(lams) + [(3, False), (2, True),
                                             (5, True), (1, True)]
        for i, (splits, pack) in enumerate(tilings):
            lam = lams[i % len(lams)] if i < len(lams) else \
                lams[4 + i % 3]
            tag = (f"{kind} b={b} hq={hq} hkv={hkv} sq={sq} skv={skv} "
                   f"causal={causal} blocks={bm}x{bn} lam={lam} "
                   f"splits={splits} pack={pack}")
            pred = loop_matches_simulator(q, k, v, causal, lam, bm, bn, tag,
                                          num_splits=splits, pack_gqa=pack)
            if not skipping_active(lam):
                expect(pred.tiles_skipped == 0 and not pred.margins,
                       f"no skipping when lam={lam}: {tag}")
            partial += 0 < pred.tiles_skipped < pred.tiles_total
    expect(partial >= 10,
           f"simulator-vs-loop cases skip some but not all tiles ({partial})")

    # Vote groups finer than the q-block (skipattn-compile --vote), unsplit
    # and in parts, against the same loop; ragged q-blocks leave groups
    # wholly past Sq, which skip every block they vote on.
    split_votes = 0
    for (b, hq, hkv, sq, skv, d, causal, bm, bn, vr, kind) in [
            (1, 2, 1, 13, 40, 8, True, 8, 8, 2, "biased"),
            (2, 2, 2, 9, 37, 8, False, 8, 8, 4, "biased"),
            (1, 2, 2, 30, 10, 4, True, 8, 4, 4, "biased"),
            (1, 2, 1, 16, 64, 8, True, 8, 8, 4, "planted")]:
        if kind == "planted":
            q, k, v, _ = planted_inputs(rng, b, hq, hkv, sq, skv, d, causal,
                                        bm, bn)
        else:
            q, k, v = block_biased_inputs(rng, b, hq, hkv, sq, skv, d, bn)
        for lam, splits in [(0.0, 1), (0.5, 1), (0.05, 1), (1e-3, 1),
                            (0.05, 3), (0.5, 2)]:
            tag = (f"{kind} b={b} hq={hq} hkv={hkv} sq={sq} skv={skv} "
                   f"causal={causal} blocks={bm}x{bn} vote={vr} lam={lam} "
                   f"splits={splits}")
            pred = loop_matches_simulator(q, k, v, causal, lam, bm, bn, tag,
                                          num_splits=splits, vote_rows=vr)
            per_block = bm // vr
            expect(pred.tiles_total == b * hq * per_block *
                   int(visited_counts(sq, skv, causal, bm, bn).sum()),
                   f"every group counts its q-block's tiles: {tag}")
            if skipping_active(lam) and splits == 1:
                # Groups with no row before Sq skip every tile but block 0.
                for unit, n in enumerate(pred.visited[0, 0]):
                    if unit * vr >= sq and n > 1:
                        expect(pred.skipped[:, :, unit, 1:n].all(),
                               f"group {unit} past Sq skips blocks 1..{n - 1}"
                               f": {tag}")
            by_block = pred.skipped.reshape(b, hq, -1, per_block,
                                            pred.skipped.shape[-1])
            split_votes += int((by_block.any(axis=3) &
                                ~by_block.all(axis=3)).sum())
    expect(split_votes > 0,
           f"the groups of a q-block decide differently somewhere "
           f"({split_votes} tiles)")

    # Seeds: on inputs whose sink (block 0) dominates every row, a part that
    # starts from the seed skips what the unsplit pass skips, whatever the
    # number of parts; without the seed a part could not skip its first tile.
    q, k, v, _ = planted_inputs(rng, 1, 4, 1, 1, 2048, 64, True)
    base = predict(q, k, True, 1e-3, 64, 64, pack_gqa=True)
    for splits in (2, 5, 32):
        pred = predict(q, k, True, 1e-3, 64, 64, num_splits=splits,
                       pack_gqa=True)
        expect(pred.tiles_total == base.tiles_total and
               pred.tiles_skipped == base.tiles_skipped > 0,
               f"seeded parts skip as unsplit: {splits} parts "
               f"{pred.tiles_skipped}/{pred.tiles_total}, unsplit "
               f"{base.tiles_skipped}/{base.tiles_total}")
    expect(list(part_ranges(10, 4)) == [(0, 3), (3, 6), (6, 9), (9, 10)] and
           list(part_ranges(3, 5)) == [(0, 1), (1, 2), (2, 3), (3, 3),
                                       (3, 3)],
           "part ranges of 10 blocks in 4 parts and of 3 blocks in 5")
    counts, heads = packed_visited(3, 10, True, 4, 4, 4)
    expect(list(counts) == [3, 3, 3] and list(heads) == [2, 2, 2],
           "packed causal q-blocks of 4 rows over 4 heads x 3 queries: each "
           "crosses a head, so sees up to query 2")
    counts, heads = packed_visited(8, 10, True, 2, 4, 4)
    expect(list(counts) == [2, 3, 2, 3] and list(heads) == [1, 1, 1, 1],
           "packed causal q-blocks of 4 rows over 2 heads x 8 queries: "
           "queries 0-3 see keys < 6, queries 4-7 all 10")

    # The biased generator really exercises skipping somewhere.
    q, k, v = block_biased_inputs(rng, 1, 2, 1, 40, 200, 8, 16)
    pred = predict(q, k, False, 0.05, 8, 16)
    expect(0 < pred.tiles_skipped < pred.tiles_total,
           f"biased inputs skip some tiles ({pred.tiles_skipped}/"
           f"{pred.tiles_total})")

    # Planted inputs: > 50% predicted skips, robust margins, and the plan
    # (sink + high blocks) is exactly what the simulator predicts.
    for (b, hq, hkv, sq, skv, d, causal) in [
            (2, 4, 4, 200, 500, 32, False), (2, 4, 1, 200, 500, 64, True),
            (1, 4, 1, 1, 500, 128, True), (2, 4, 4, 65, 500, 32, True),
            (1, 4, 4, 7, 2048, 64, False), (1, 4, 1, 64, 129, 32, False),
            (1, 4, 4, 256, 1024, 128, True)]:
        q, k, v, plan = planted_inputs(rng, b, hq, hkv, sq, skv, d, causal)
        for lam in (1e-3, 1e-2):
            pred = predict(q, k, causal, lam)
            tag = (f"planted b={b} hq={hq} hkv={hkv} sq={sq} skv={skv} d={d} "
                   f"causal={causal} lam={lam}")
            expect(pred.tiles_skipped > pred.tiles_total / 2,
                   f"> 50% skipped ({pred.tiles_skipped}/{pred.tiles_total}): "
                   f"{tag}")
            expect(pred.tiles_skipped == plan.planned_skipped(b, hq) and
                   pred.tiles_total == plan.planned_total(b, hq),
                   f"plan matches simulator: {tag}")
            expect(pred.min_margin > 1.0,
                   f"margins robust (min {pred.min_margin:.3g}): {tag}")
            dense = reference_attention(q, k, v, causal)
            dropped = reference_attention(q, k, v, causal,
                                          dropped=pred.skipped)
            expect(_rel_err(dropped, dense) > 1e-4,
                   f"dropping tiles is visible above the 1e-5 bound "
                   f"({_rel_err(dropped, dense):.2g}): {tag}")

    print(f"attention_ref selftest: {checks} checks, {len(failures)} failed")
    return 0 if not failures else 1


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selftest", action="store_true",
                        help="check the reference, simulator and generators")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.selftest:
        return selftest(args.verbose)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
