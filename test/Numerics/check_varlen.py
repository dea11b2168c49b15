#!/usr/bin/env python3
"""CPU numerics of variable-length batches (attn.varlen_attention).

Compiles f32 CPU bundles with skipattn-compile --varlen (dense and skip,
causal and not, GQA) and on fresh random inputs runs skipattn-run on a
packed batch of sequences of mixed lengths (1 query or key among them, and
sequences with no key, whose rows must be zeros), then checks every
sequence against float64 attention of that sequence alone
(attention_ref.py):

  dense   out rows of each sequence against its own attention; the rows of
          a sequence without keys are zeros;
  skip    planted inputs per sequence at lambda 1e-2: tiles_total and
          tiles_skipped per (sequence, query head) equal the simulator's
          for each sequence alone, and out equals the reference with the
          skipped tiles dropped.

One line per case, then `varlen: N cases, P passed, F failed`; exit 1 when
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

TOL = 1e-5
LAMBDA = 1e-2
D = 32
BLOCK_M, BLOCK_N = 16, 32

# (Hq, Hkv, causal, skip, [(Sq_b, Skv_b) per sequence]).
CASES = [
    (4, 2, True, False, [(1, 1), (5, 70), (33, 33), (1, 300), (20, 0), (7, 7)]),
    (2, 2, False, False, [(64, 100), (1, 1), (3, 0), (17, 129)]),
    (4, 1, False, True, [(1, 400), (16, 300), (2, 1), (40, 257)]),
    (4, 2, True, True, [(48, 300), (1, 1), (9, 200), (31, 31)]),
]


class Failure(Exception):
    pass


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"exit {proc.returncode}: {' '.join(cmd)}\n    "
                      f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def compile_bundle(bins, out, hq, hkv, causal, skip):
    cmd = [os.path.join(bins, "skipattn-compile"), "--target", "cpu", "-o",
           out, "--varlen", "--batch", "?", "--q-heads", str(hq),
           "--kv-heads", str(hkv), "--q-len", "?", "--kv-len", "?",
           "--head-dim", str(D), "--dtype", "f32", "--block-m",
           str(BLOCK_M), "--block-n", str(BLOCK_N)]
    if causal:
        cmd.append("--causal")
    if skip:
        cmd.append("--skip")
    run(cmd)


def sequences(rng, hq, hkv, causal, skip, lens):
    """Per sequence (q, k, v) as [1, H, S, D] arrays."""
    seqs = []
    for sq, skv in lens:
        if skip and sq and skv:
            q, k, v, _ = ar.planted_inputs(rng, 1, hq, hkv, sq, skv, D,
                                           causal, BLOCK_M, BLOCK_N)
        else:
            q, k, v = ar.gaussian_inputs(rng, 1, hq, hkv, sq, skv, D)
        seqs.append((q, k, v))
    return seqs


def pack(arrays):
    """[1, H, S_b, D] arrays -> one [sum S_b, H, D] array and cu_seqlens."""
    rows = [a[0].transpose(1, 0, 2) for a in arrays]
    cu = np.zeros(len(rows) + 1, dtype=np.int32)
    cu[1:] = np.cumsum([r.shape[0] for r in rows])
    return np.concatenate(rows, axis=0).astype(np.float32), cu


def check_case(bins, workdir, rng, case, bundle):
    hq, hkv, causal, skip, lens = case
    seqs = sequences(rng, hq, hkv, causal, skip, lens)
    q, cu_q = pack([s[0] for s in seqs])
    k, cu_k = pack([s[1] for s in seqs])
    v, _ = pack([s[2] for s in seqs])
    paths = {}
    for name, arr in (("q", q), ("k", k), ("v", v), ("cq", cu_q),
                      ("ck", cu_k)):
        paths[name] = os.path.join(workdir, name + ".npy")
        np.save(paths[name], arr)
    out = os.path.join(workdir, "o.npy")
    if os.path.exists(out):
        os.remove(out)
    cmd = [os.path.join(bins, "skipattn-run"), bundle, "--q", paths["q"],
           "--k", paths["k"], "--v", paths["v"], "--cu-seqlens-q",
           paths["cq"], "--cu-seqlens-k", paths["ck"], "--out", out]
    if skip:
        cmd += ["--skip-threshold", repr(LAMBDA), "--stats"]
    summary = json.loads(run(cmd).strip().splitlines()[-1])
    got = np.load(out)
    if got.shape != (q.shape[0], hq, D):
        raise Failure(f"out has shape {got.shape}, expected "
                      f"{(q.shape[0], hq, D)}")
    worst = 0.0
    totals, skips = [], []
    for b, (sq, skv) in enumerate(lens):
        qb, kb, vb = seqs[b]
        drop = None
        if skip:
            pred = ar.predict(qb, kb, causal, LAMBDA, BLOCK_M, BLOCK_N)
            drop = pred.drop_mask(sq, skv, BLOCK_M, BLOCK_N)
            total, skipped = pred.head_counts()
            totals.append(total[0])
            skips.append(skipped[0])
        ref = ar.reference_attention(qb, kb, vb, causal, drop=drop)
        mine = got[cu_q[b]:cu_q[b + 1]].transpose(1, 0, 2)[None]
        if not np.isfinite(mine).all():
            raise Failure(f"sequence {b} ({sq}x{skv}): non-finite output")
        if skv == 0 and np.any(mine != 0):
            raise Failure(f"sequence {b} has no key but nonzero rows")
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
        err = float(np.max(np.abs(mine - ref))) / scale if ref.size else 0.0
        if err > TOL:
            raise Failure(f"sequence {b} ({sq}x{skv}): max rel err {err:.3g}")
        worst = max(worst, err)
    note = f"err {worst:.1e}"
    if skip:
        got_heads = (summary["tiles_total_per_head"],
                     summary["tiles_skipped_per_head"])
        if got_heads != (totals, skips):
            raise Failure(f"per-(sequence, head) tiles {got_heads}, "
                          f"predicted {(totals, skips)}")
        note += (f", tiles {summary['tiles_skipped']}/"
                 f"{summary['tiles_total']} skipped as predicted")
    return note


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--workdir")
    parser.add_argument("--seed", type=lambda s: int(s, 0))
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-varlen-")
    os.makedirs(workdir, exist_ok=True)
    passed = failed = 0
    for i, case in enumerate(CASES):
        hq, hkv, causal, skip, lens = case
        tag = (f"hq={hq} hkv={hkv} causal={int(causal)} "
               f"{'skip' if skip else 'dense'} lens={lens}")
        seed = args.seed if args.seed is not None else \
            int.from_bytes(os.urandom(8), "little")
        try:
            bundle = os.path.join(workdir, f"b{i}")
            compile_bundle(args.bin, bundle, hq, hkv, causal, skip)
            note = check_case(args.bin, workdir, np.random.default_rng(seed),
                              case, bundle)
        except Failure as failure:
            failed += 1
            print(f"FAIL {tag} seed={seed:#x}: {failure}", flush=True)
        else:
            passed += 1
            print(f"PASS {tag}: {note}", flush=True)
    print(f"varlen: {passed + failed} cases, {passed} passed, {failed} failed")
    if args.workdir is None and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
