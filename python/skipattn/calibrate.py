"""Calibration: the Skip-Softmax threshold that gives a target tile sparsity.

One pass over the samples computes, for every tile the kernel visits (same
block_m x block_n geometry, vote group = the whole q-block, causal visited
ranges, first visited block never skipped), the decisive value

    D = max over the q-block's valid rows r of (mt[r] - m[r])

where mt is the tile's row max of the scaled scores and m the running max
over *all* earlier kv-blocks of the row (the dense running max). The tile
is skipped at lambda exactly when D < ln(lambda).

Why the dense running max is exact: in the real run a skipped tile leaves m
unchanged, so m is the max over the *kept* earlier tiles only. But a tile is
skipped only when mt[r] - m[r] < ln(lambda) < 0 (skipping is off unless
0 < lambda < 1) for every row, i.e. mt[r] < m[r]: had it been kept it would
not have raised m either. By induction over the tiles in visiting order the
real running max equals the dense one at every step, so the decision at any
lambda follows from D alone and sparsity(lambda) = #{D < ln lambda} / total.
(Rows whose tile is all masked vote yes: their difference is -inf; a finite
mt over m = -inf is +inf and keeps the tile.) The CPU bundle's counters are
checked against this in python/tests/test_calibrate.py.

With lambda = factor / kv_len (TensorRT-LLM), a tile of a sample of length
L is skipped when D + ln(L) < ln(factor), so samples of different lengths
are pooled on D + ln(L).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

FIT_GRID = [round(0.05 * i, 2) for i in range(1, 20)]   # 0.05 .. 0.95


def _blocks(n, block):
    return (n + block - 1) // block


def tile_margins(q, k, causal=False, block_m=64, block_n=64, scale=None,
                 max_elements=1 << 26):
    """Flat numpy array of D over every visited tile (first tiles give +inf).

    q [B, Hq, Sq, D], k [B, Hkv, Skv, D]: numpy arrays or torch tensors of
    any float dtype. Scores are computed in float64 with torch on the
    tensors' device (a GPU makes 64K-long samples quick), a block of query
    rows at a time so that no more than about max_elements scores are held.
    """
    import torch
    q, k = (x if isinstance(x, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(x)) for x in (q, k))
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError("q and k must be 4-D [B, H, S, D]")
    b, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    if k.shape[0] != b or k.shape[3] != d or hq % hkv:
        raise ValueError("q %s and k %s do not fit together" %
                         (tuple(q.shape), tuple(k.shape)))
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    dev = q.device
    nkb = _blocks(skv, block_n)
    keys = torch.arange(nkb * block_n, device=dev)
    # Rows of a chunk: whole q-blocks, as many as max_elements allows.
    rows = max(1, max_elements // (nkb * block_n) // block_m) * block_m
    out = []
    for bi in range(b):
        for h in range(hq):
            kh = k[bi, h // (hq // hkv)].double()
            for r0 in range(0, sq, rows):
                r1 = min(sq, r0 + rows)
                s = torch.full((r1 - r0, nkb * block_n), -math.inf,
                               dtype=torch.float64, device=dev)
                s[:, :skv] = (q[bi, h, r0:r1].double() @ kh.T) * scale
                # Row i sees keys j < limit[i] (bottom-right causal).
                limit = torch.arange(r0, r1, device=dev) + (skv - sq) + 1 \
                    if causal else torch.full((r1 - r0,), skv, device=dev)
                limit = limit.clamp(0, skv)
                s.masked_fill_(keys[None, :] >= limit[:, None], -math.inf)
                mt = s.view(r1 - r0, nkb, block_n).max(dim=2).values
                # The dense running max before block j.
                run = torch.cummax(mt, dim=1).values
                prev = torch.cat([torch.full_like(run[:, :1], -math.inf),
                                  run[:, :-1]], dim=1)
                diff = mt - prev
                diff = torch.where(torch.isneginf(mt),
                                   torch.full_like(diff, -math.inf), diff)
                diff = torch.where(torch.isfinite(mt) & torch.isneginf(prev),
                                   torch.full_like(diff, math.inf), diff)
                # Max over each q-block's rows (padding rows are -inf).
                nqb = _blocks(r1 - r0, block_m)
                padded = torch.full((nqb * block_m, nkb), -math.inf,
                                    dtype=torch.float64, device=dev)
                padded[:r1 - r0] = diff
                blocks = padded.view(nqb, block_m, nkb).max(dim=1).values
                blocks = blocks.cpu().numpy()
                for i in range(nqb):
                    last = min(sq, r0 + (i + 1) * block_m) - 1
                    end = min(skv, last + (skv - sq) + 1) if causal else skv
                    visited = _blocks(max(end, 0), block_n)
                    if visited == 0:
                        continue
                    dq = blocks[i, :visited].copy()
                    dq[0] = np.inf  # the first visited block is never skipped
                    out.append(dq)
    return np.concatenate(out) if out else np.zeros(0)


def sparsity_at(margins, log_lambda):
    """Fraction of tiles skipped at ln(lambda) (margins from tile_margins)."""
    if margins.size == 0:
        return 0.0
    return float(np.count_nonzero(margins < log_lambda)) / margins.size


def _log_threshold_for(sorted_m, target):
    """ln(x) with #{m < ln x} / n closest to target, halfway between two
    neighbouring margins so that f32 rounding does not move decisions."""
    n = sorted_m.size
    finite = sorted_m[np.isfinite(sorted_m)]
    want = int(round(target * n))
    want = max(0, min(want, finite.size))
    if want == 0:
        return (finite[0] - 1.0) if finite.size else -50.0
    lo = finite[want - 1]
    hi = finite[want] if want < finite.size else lo + 1.0
    return 0.5 * (lo + hi) if hi > lo else lo + 1e-6


def calibrate(samples, targets, causal=False, block_m=64, block_n=64,
              scale=None, min_kv_len=None):
    """Thresholds for target sparsities from sample (q, k) pairs.

    samples: list of (q, k) (or (q, k, v); v is not needed) numpy arrays or
    torch tensors (counted on their device). Returns the JSON-able dict
    described in python/README.md.
    """
    pooled, raw, lengths = [], [], []
    for sample in samples:
        q, k = sample[:2]
        m = tile_margins(q, k, causal, block_m, block_n, scale)
        raw.append(m)
        pooled.append(m + math.log(k.shape[2]))
        lengths.append(int(k.shape[2]))
    pooled = np.sort(np.concatenate(pooled))
    raw_all = np.sort(np.concatenate(raw))
    entries = []
    for t in targets:
        t = float(t)
        if not 0.0 <= t < 1.0:
            raise ValueError("target sparsity must be in [0, 1), got %r" % t)
        log_f = _log_threshold_for(pooled, t)
        log_l = _log_threshold_for(raw_all, t)
        lam = math.exp(log_l)
        entries.append({
            "target": t,
            "factor": math.exp(log_f),
            "lambda": lam if lam < 1.0 else None,
            "sparsity_factor": sparsity_at(pooled, log_f),
            "sparsity_lambda": sparsity_at(raw_all, log_l)})
    # a * exp(b * s) through the factors of a grid of sparsities (least
    # squares on ln factor); the grid stops where a sparsity is unreachable.
    grid = [s for s in FIT_GRID
            if s * pooled.size <= np.count_nonzero(np.isfinite(pooled))]
    fit = None
    if len(grid) >= 2:
        logs = np.array([_log_threshold_for(pooled, s) for s in grid])
        b, ln_a = np.polyfit(np.array(grid), logs, 1)
        rel = [abs(sparsity_at(pooled, ln_a + b * s) - s) for s in grid]
        fit = {"a": float(math.exp(ln_a)), "b": float(b),
               "max_sparsity_error": float(max(rel)), "grid": grid}
    entry = {"targets": entries, "fit": fit, "tiles": int(pooled.size),
             "kv_lengths": sorted(set(lengths))}
    if min_kv_len is not None:
        entry["min_kv_len"] = int(min_kv_len)
    return {"block_m": block_m, "block_n": block_n, "vote": "block",
            "causal": bool(causal), "entry": entry}


def _phase_entry(res):
    e = dict(res["entry"])
    e.update({k: res[k] for k in ("block_m", "block_n", "vote", "causal")})
    return e


def calibration_json(prefill=None, decode=None, layers=None):
    """{"calibration": {"prefill": ..., "decode": ..., "layers": {name:
    {"prefill": ..., "decode": ...}}}} from calibrate() results, the form
    skipattn.attention(skip=...) reads (with "target", and "layer" for a
    layer's own setting); layers maps a layer name to {"prefill": result,
    "decode": result}."""
    cal = {}
    for name, res in (("prefill", prefill), ("decode", decode)):
        if res is not None:
            cal[name] = _phase_entry(res)
    if layers:
        cal["layers"] = {
            str(layer): {phase: _phase_entry(res)
                         for phase, res in phases.items() if res is not None}
            for layer, phases in layers.items()}
    return {"calibration": cal}


def merge_calibration(base, new):
    """base's calibration with new's phases and layers added (new wins)."""
    if "calibration" not in base:
        raise ValueError("not a skipattn-calibrate file (no 'calibration')")
    out = json.loads(json.dumps(base))
    cal = out["calibration"]
    for key, value in new["calibration"].items():
        if key != "layers":
            cal[key] = value
            continue
        for layer, phases in value.items():
            cal.setdefault("layers", {}).setdefault(layer, {}).update(phases)
    return out


def _bundle_geometry(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        man = json.load(f)
    found = {}

    def walk(x):
        if isinstance(x, dict):
            for key, val in x.items():
                if key in ("block_m", "block_n", "vote_rows") and \
                        isinstance(val, int):
                    found.setdefault(key, val)
                walk(val)
        elif isinstance(x, list):
            for val in x:
                walk(val)
    walk(man)
    if "block_m" not in found or "block_n" not in found:
        raise SystemExit("skipattn-calibrate: %s/manifest.json names no "
                         "block_m/block_n" % directory)
    vote = found.get("vote_rows", found["block_m"])
    if vote not in (0, found["block_m"]):
        raise SystemExit("skipattn-calibrate: the bundle votes per %d rows; "
                         "only a whole-q-block vote is calibrated" % vote)
    return found["block_m"], found["block_n"]


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="skipattn-calibrate",
        description="Skip-Softmax thresholds (lambda and factor = lambda * "
                    "kv_len) for target tile sparsities, from sample Q/K/V.")
    p.add_argument("--q", required=True, action="append",
                   help="Q .npy [B, Hq, Sq, D]; repeat for more samples")
    p.add_argument("--k", required=True, action="append")
    p.add_argument("--v", action="append",
                   help="V .npy (checked for shape; not needed to count)")
    p.add_argument("--target-sparsity", required=True,
                   help="comma-separated, e.g. 0.5,0.7,0.9")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--block-m", type=int)
    p.add_argument("--block-n", type=int)
    p.add_argument("--bundle", help="take block sizes from this bundle")
    p.add_argument("--scale", type=float)
    p.add_argument("--phase", choices=("prefill", "decode"),
                   default="prefill")
    p.add_argument("--min-kv-len", type=int)
    p.add_argument("--layer", action="append",
                   help="the layer of the matching --q (repeat with it): "
                        "each layer also gets its own setting")
    p.add_argument("--merge", metavar="FILE",
                   help="add this phase (and layers) to an earlier "
                        "skipattn-calibrate JSON")
    p.add_argument("-o", "--output")
    a = p.parse_args(argv)
    if a.bundle and (a.block_m or a.block_n):
        p.error("give --block-m/--block-n or --bundle, not both")
    if a.bundle:
        bm, bn = _bundle_geometry(a.bundle)
    else:
        bm, bn = a.block_m or 64, a.block_n or 64
    if len(a.q) != len(a.k) or (a.v and len(a.v) != len(a.q)):
        p.error("give as many --k (and --v) as --q")
    if a.layer and len(a.layer) != len(a.q):
        p.error("give one --layer per --q (or none)")
    samples = []
    for i, (qp, kp) in enumerate(zip(a.q, a.k)):
        q, k = np.load(qp), np.load(kp)
        if a.v:
            v = np.load(a.v[i])
            if v.ndim != 4 or v.shape[:3] != k.shape[:3]:
                p.error("v %s does not fit k %s" % (v.shape, k.shape))
        samples.append((q, k))
    targets = [float(t) for t in a.target_sparsity.split(",") if t]
    res = calibrate(samples, targets, a.causal, bm, bn, a.scale,
                    a.min_kv_len)
    layers = {}
    for name in dict.fromkeys(a.layer or []):
        mine = [s for s, n in zip(samples, a.layer) if n == name]
        layers[name] = {a.phase: calibrate(mine, targets, a.causal, bm, bn,
                                           a.scale, a.min_kv_len)}
    result = calibration_json(**{a.phase: res}, layers=layers)
    if a.merge:
        with open(a.merge) as f:
            try:
                result = merge_calibration(json.load(f), result)
            except ValueError as e:
                p.error("--merge %s: %s" % (a.merge, e))
    text = json.dumps(result, indent=1)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
