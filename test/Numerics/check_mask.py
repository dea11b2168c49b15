#!/usr/bin/env python3
"""CPU numerics of the mask operand in the decode tiling (docs/serving.md).

Compiles f32 CPU bundles with skipattn-compile --mask (bool and additive,
broadcast and full shapes) in the prefill tiling and in the split-KV decode
tiling (--pack-gqa --kv-splits, where each packed row reads the mask of its
own query head and query), and on fresh random inputs checks with
skipattn-run against attention_ref.py:

  dense   out against float64 attention with the mask, rows whose every
          key is masked giving zeros;
  skip    planted inputs at lambda 1e-2 with a random number of kv parts:
          tiles_total / tiles_skipped equal the simulator's on the masked
          scores, out equals the reference with those tiles dropped.

One line per case, then `mask: N cases, P passed, F failed`; exit 1 when
anything failed. A failure prints its seed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import attention_ref as ar  # noqa: E402

LAMBDA = 1e-2
B, HQ, HKV, D = 2, 4, 1, 32

# (kind, mask shape, Sq, Skv, causal, dtype): "?" marks a full (dynamic)
# extent. The bf16 case is a bundle that once failed to load: LLVM's x86 back
# end calls __truncsfbf2 for the masked load's bf16 phi (compiler-rt's
# builtins are linked in for it).
CASES = [("bool", "?,1,1,?", 1, 300, False, "f32"),
         ("bool", "?,4,?,?", 3, 200, True, "f32"),
         ("additive", "1,4,?,?", 2, 500, False, "f32"),
         ("additive", "?,1,?,?", 5, 130, True, "f32"),
         ("additive", "?,1,?,?", 5, 130, True, "bf16")]
# Relative error allowed per dtype: f32 arithmetic, or inputs, mask and
# output rounded to bf16.
TOLERANCE = {"f32": 1e-5, "bf16": 3e-2}


class Failure(Exception):
    pass


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"exit {proc.returncode}: {' '.join(cmd)}\n    "
                      f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def round_bf16(x):
    """x (float32) rounded to the nearest bf16, ties to even; infinities
    stay."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def make_mask(rng, kind, shape_text, sq, skv):
    """A mask of the given broadcast shape: bool keeping about 80% of the
    entries, or additive N(0, 2) with about 10% -inf; either with one row of
    every key masked where the shape has rows."""
    full = [B, HQ, sq, skv]
    shape = [full[i] if d == "?" else int(d)
             for i, d in enumerate(shape_text.split(","))]
    if kind == "bool":
        mask = rng.random(shape) < 0.8
        if shape[2] > 1:
            mask[..., 0, :] = False   # query 0 attends nothing
        else:
            mask[0] = False           # sequence 0 attends nothing
        return mask
    mask = rng.normal(0.0, 2.0, shape).astype(np.float32)
    mask[rng.random(shape) < 0.1] = -np.inf
    if shape[2] > 1:
        mask[..., -1, :] = -np.inf    # the last query attends nothing
    return mask


def check_case(bins, workdir, rng, case, split, bundles):
    kind, shape_text, sq, skv, causal, dtype = case
    key = (kind, shape_text, causal, split, dtype)
    if key not in bundles:
        out = os.path.join(workdir, "b%d" % len(bundles))
        cmd = [os.path.join(bins, "skipattn-compile"), "--target", "cpu",
               "-o", out, "--batch", "?", "--q-heads", str(HQ), "--kv-heads",
               str(HKV), "--q-len", "?", "--kv-len", "?", "--head-dim", str(D),
               "--dtype", dtype, "--mask", f"{kind}:{shape_text}"]
        if causal:
            cmd.append("--causal")
        if split:
            cmd += ["--skip", "--pack-gqa", "--kv-splits", "--block-m", "16"]
        run(cmd)
        bundles[key] = out
    mask = make_mask(rng, kind, shape_text, sq, skv)
    if split:
        q, k, v, _ = ar.planted_inputs(rng, B, HQ, HKV, sq, skv, D, causal,
                                       16, 64)
    else:
        q, k, v = ar.gaussian_inputs(rng, B, HQ, HKV, sq, skv, D)
    if dtype == "bf16":
        # The bundle sees the bf16 values; so do the reference and the
        # simulator.
        q, k, v = (round_bf16(x) for x in (q, k, v))
        if kind == "additive":
            mask = round_bf16(mask)
    paths = {}
    for name, arr in (("q", q), ("k", k), ("v", v), ("m", mask)):
        paths[name] = os.path.join(workdir, name + ".npy")
        np.save(paths[name], arr)
    out = os.path.join(workdir, "o.npy")
    if os.path.exists(out):
        os.remove(out)
    cmd = [os.path.join(bins, "skipattn-run"), bundles[key], "--q", paths["q"],
           "--k", paths["k"], "--v", paths["v"], "--mask", paths["m"],
           "--out", out]
    parts = 1
    if split:
        parts = int(rng.integers(1, ar.num_blocks(skv, 64) + 2))
        cmd += ["--skip-threshold", repr(LAMBDA), "--stats", "--num-splits",
                str(parts)]
    summary = json.loads(run(cmd).strip().splitlines()[-1])
    got = np.load(out)
    drop = None
    note = ""
    if split:
        pred = ar.predict(q, k, causal, LAMBDA, 16, 64, num_splits=parts,
                          pack_gqa=True, mask=mask)
        counts = (summary["tiles_total"], summary["tiles_skipped"])
        if counts != (pred.tiles_total, pred.tiles_skipped):
            raise Failure(f"tiles {counts}, predicted "
                          f"{(pred.tiles_total, pred.tiles_skipped)}")
        drop = pred.drop_mask(sq, skv, 16, 64)
        note = f" parts={parts} tiles {counts[1]}/{counts[0]}"
    ref = ar.reference_attention(q, k, v, causal, drop=drop, mask=mask)
    err = float(np.max(np.abs(got - ref))) / max(float(np.max(np.abs(ref))),
                                                 1e-30)
    if not np.isfinite(got).all() or err > TOLERANCE[dtype]:
        raise Failure(f"max rel err {err:.3g}")
    empty = int((ar.scores(q, k, causal, mask=mask) == -np.inf).all(-1).sum())
    return f"err {err:.1e}, {empty} rows with no key{note}"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--workdir")
    parser.add_argument("--seed", type=lambda s: int(s, 0))
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-mask-")
    os.makedirs(workdir, exist_ok=True)
    bundles = {}
    passed = failed = 0
    for case in CASES:
        for split in (False, True):
            seed = args.seed if args.seed is not None else \
                int.from_bytes(os.urandom(8), "little")
            rng = np.random.default_rng(seed)
            tag = "%s mask %s sq=%d skv=%d causal=%d %s" % case + \
                (" split" if split else " dense")
            try:
                note = check_case(args.bin, workdir, rng, case, split, bundles)
            except Failure as failure:
                failed += 1
                print(f"FAIL {tag} seed={seed:#x}: {failure}", flush=True)
            else:
                passed += 1
                print(f"PASS {tag}: {note}", flush=True)
    print(f"mask: {passed + failed} cases, {passed} passed, {failed} failed")
    if args.workdir is None and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
