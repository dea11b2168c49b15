#!/usr/bin/env python3
"""CPU numerics of paged attention (attn.paged_attention, docs/serving.md).

Compiles f32 CPU bundles with --page-size (dense; skip with the split-KV
decode tiling, --pack-gqa --kv-splits; with --lse) and, on fresh random
inputs per case, scatters each sequence's keys and values over the pages of
a shared pool in random page order (with pages of other sequences and
unused garbage pages in between, and garbage in the table past each
sequence's pages), runs skipattn-run with --block-table and --seq-lens, and
checks against attention_ref.py on each sequence's contiguous K/V:

  dense   out (and lse) equal float64 attention of every sequence over its
          own length (mixed lengths, 1 and 0 included; causal per sequence);
  skip    with a random number of kv parts: tiles_total / tiles_skipped equal
          the simulator's, summed over the sequences, and out equals the
          reference with the predicted tiles dropped;
  errors  a length past the table's capacity and a page number outside the
          pool are refused with a message, not read.

One line per case, then `paged: N cases, P passed, F failed`; exit 1 when
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

# (Hq, Hkv, Sq, D, causal, page size, lengths)
CASES = [(4, 1, 1, 32, False, 16, [300, 1, 0, 77]),
         (4, 2, 3, 32, True, 64, [129, 5, 64]),
         (2, 2, 1, 64, False, 256, [600, 255]),
         (8, 2, 2, 32, True, 32, [1, 2, 500])]


class Failure(Exception):
    pass


def run(cmd, expect_ok=True):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if expect_ok and proc.returncode != 0:
        raise Failure(f"exit {proc.returncode}: {' '.join(cmd)}\n    "
                      f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def scatter(rng, k, v, lens, page):
    """Page pools and a block table holding each sequence's K and V.

    k, v: [B, Hkv, max(lens), D] (only the first lens[b] keys of b count).
    Returns pools [P, page, Hkv, D] with garbage in every slot no sequence
    uses, and a table [B, max_pages] with garbage past each sequence's
    pages (values outside the pool too, which must never be read)."""
    b_count, hkv, _, d = k.shape
    dv = v.shape[3]
    need = [-(-n // page) for n in lens]
    max_pages = max(max(need), 1) + 1
    spare = 3
    pool = sum(need) + spare
    order = rng.permutation(pool)
    kp = rng.standard_normal((pool, page, hkv, d)).astype(np.float32) * 100
    vp = rng.standard_normal((pool, page, hkv, dv)).astype(np.float32) * 100
    table = rng.integers(-5, pool + 5, size=(b_count, max_pages)).astype(
        np.int32)
    at = 0
    for b, n in enumerate(lens):
        for p in range(need[b]):
            page_id = int(order[at])
            at += 1
            table[b, p] = page_id
            keys = slice(p * page, min((p + 1) * page, n))
            rows = keys.stop - keys.start
            kp[page_id, :rows] = np.transpose(k[b, :, keys], (1, 0, 2))
            vp[page_id, :rows] = np.transpose(v[b, :, keys], (1, 0, 2))
    return kp, vp, table, np.asarray(lens, dtype=np.int32)


class Runner:
    def __init__(self, bin_dir, workdir):
        self.compile = os.path.join(bin_dir, "skipattn-compile")
        self.run_tool = os.path.join(bin_dir, "skipattn-run")
        self.workdir = workdir
        self.bundles = {}

    def bundle(self, hq, hkv, d, causal, page, kind):
        key = (hq, hkv, d, causal, page, kind)
        if key not in self.bundles:
            out = os.path.join(self.workdir, "b_%d_%d_%d_%d_%d_%s" % key)
            cmd = [self.compile, "--target", "cpu", "-o", out, "--batch", "?",
                   "--q-heads", str(hq), "--kv-heads", str(hkv), "--q-len",
                   "?", "--kv-len", "?", "--head-dim", str(d), "--dtype",
                   "f32", "--page-size", str(page), "--lse"]
            if causal:
                cmd.append("--causal")
            if kind == "split":
                cmd += ["--skip", "--pack-gqa", "--kv-splits"]
            run(cmd)
            self.bundles[key] = out
        return self.bundles[key]

    def execute(self, bundle, arrays, extra=(), expect_ok=True):
        paths = {}
        for name, arr in arrays.items():
            paths[name] = os.path.join(self.workdir, name + ".npy")
            np.save(paths[name], arr)
        out = os.path.join(self.workdir, "o.npy")
        lse = os.path.join(self.workdir, "lse.npy")
        for stale in (out, lse):
            if os.path.exists(stale):
                os.remove(stale)
        cmd = [self.run_tool, bundle, "--q", paths["q"], "--k", paths["k"],
               "--v", paths["v"], "--block-table", paths["table"],
               "--seq-lens", paths["lens"], "--out", out, "--lse", lse]
        proc = run(cmd + list(extra), expect_ok)
        if not expect_ok:
            return proc
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        return np.load(out), np.load(lse), summary


def rel_err(got, ref):
    denom = max(float(np.max(np.abs(ref))), 1e-30) if ref.size else 1.0
    return float(np.max(np.abs(got.astype(np.float64) - ref))) / denom \
        if ref.size else 0.0


def check_case(runner, rng, case, kind):
    hq, hkv, sq, d, causal, page, lens = case
    b = len(lens)
    top = max(max(lens), 1)
    bundle = runner.bundle(hq, hkv, d, causal, page, kind)
    if kind == "dense":
        q, k, v = ar.gaussian_inputs(rng, b, hq, hkv, sq, top, d)
    else:
        q, k, v, _ = ar.planted_inputs(rng, b, hq, hkv, sq, top, d, causal)
    kp, vp, table, lens_arr = scatter(rng, k, v, lens, page)
    arrays = dict(q=q, k=kp, v=vp, table=table, lens=lens_arr)
    extra, parts = [], 1
    if kind == "split":
        parts = int(rng.integers(1, ar.num_blocks(top, ar.DEFAULT_BLOCK) + 2))
        extra = ["--skip-threshold", repr(LAMBDA), "--stats", "--num-splits",
                 str(parts)]
    out, lse, summary = runner.execute(bundle, arrays, extra)
    total = skipped = 0
    worst = worst_lse = 0.0
    for i, n in enumerate(lens):
        qi, ki, vi = q[i:i + 1], k[i:i + 1, :, :n], v[i:i + 1, :, :n]
        drop = None
        if kind == "split":
            pred = ar.predict(qi, ki, causal, LAMBDA, num_splits=parts,
                              pack_gqa=True)
            total += pred.tiles_total
            skipped += pred.tiles_skipped
            drop = pred.drop_mask(sq, n)
        ref = ar.reference_attention(qi, ki, vi, causal, drop=drop)
        worst = max(worst, rel_err(out[i:i + 1], ref))
        ref_lse = ar.reference_lse(qi, ki, causal, drop=drop)
        if not np.array_equal(np.isneginf(lse[i:i + 1]), np.isneginf(ref_lse)):
            raise Failure(f"sequence {i} (length {n}): lse -inf rows differ")
        live = np.isfinite(ref_lse)
        if live.any():
            worst_lse = max(worst_lse, float(np.max(np.abs(
                lse[i:i + 1][live] - ref_lse[live]))))
    if worst > TOL or worst_lse > 1e-4:
        raise Failure(f"out max rel err {worst:.3g}, lse max abs err "
                      f"{worst_lse:.3g}")
    note = f"out {worst:.1e} lse {worst_lse:.1e}"
    if kind == "split":
        got = (summary["tiles_total"], summary["tiles_skipped"])
        if got != (total, skipped):
            raise Failure(f"tiles {got}, predicted {(total, skipped)} "
                          f"({parts} parts)")
        note += f"; parts={parts} tiles {skipped}/{total}"
    return note


def check_errors(runner, rng):
    """The host run checks what it reads: lengths and page numbers."""
    bundle = runner.bundle(4, 1, 32, False, 16, "dense")
    q, k, v = ar.gaussian_inputs(rng, 2, 4, 1, 1, 40, 32)
    kp, vp, table, lens = scatter(rng, k, v, [40, 20], 16)
    too_long = lens.copy()
    too_long[1] = table.shape[1] * 16 + 1
    proc = runner.execute(bundle, dict(q=q, k=kp, v=vp, table=table,
                                       lens=too_long), expect_ok=False)
    want = "seq_lens[1] is %d; it must be between 0 and max_pages * page_size" \
        % too_long[1]
    if proc.returncode == 0 or want not in proc.stderr:
        raise Failure(f"a length past the table: {proc.stderr.strip()}")
    bad = table.copy()
    bad[0, 1] = kp.shape[0]
    proc = runner.execute(bundle, dict(q=q, k=kp, v=vp, table=bad, lens=lens),
                          expect_ok=False)
    want = "block_table[0, 1] is %d, not a page of the pool" % kp.shape[0]
    if proc.returncode == 0 or want not in proc.stderr:
        raise Failure(f"a page outside the pool: {proc.stderr.strip()}")
    return "refused: length past the table, page outside the pool"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--workdir")
    parser.add_argument("--seed", type=lambda s: int(s, 0))
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-paged-")
    os.makedirs(workdir, exist_ok=True)
    runner = Runner(args.bin, workdir)
    passed = failed = 0
    jobs = [(case, kind) for case in CASES for kind in ("dense", "split")]
    jobs.append((None, "errors"))
    for case, kind in jobs:
        seed = args.seed if args.seed is not None else \
            int.from_bytes(os.urandom(8), "little")
        rng = np.random.default_rng(seed)
        tag = "errors" if case is None else \
            "%s hq=%d hkv=%d sq=%d d=%d causal=%d page=%d lens=%s" % (
                kind, *case[:6], case[6])
        try:
            note = check_errors(runner, rng) if case is None else \
                check_case(runner, rng, case, kind)
        except Failure as failure:
            failed += 1
            print(f"FAIL {tag} seed={seed:#x}: {failure}", flush=True)
        else:
            passed += 1
            print(f"PASS {tag}: {note}", flush=True)
    print(f"paged: {passed + failed} cases, {passed} passed, {failed} failed")
    if args.workdir is None and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
