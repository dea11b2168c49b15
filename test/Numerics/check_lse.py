#!/usr/bin/env python3
"""CPU numerics of the log-sum-exp output and of merging partial attentions.

Compiles f32 CPU bundles with --lse (dense; skip; skip with the split-KV
decode tiling of docs/serving.md) and, on fresh random inputs per case,
checks with skipattn-run against attention_ref.py:

  whole   out and lse against float64 (a skip run: with the tiles the
          simulator predicts dropped, counts equal to its prediction);
  halves  the key range cut at a random key into two calls whose results
          skipattn_merge_lse (libskipattn_runtime, through ctypes) merges:
          equal to the whole call and to the reference (non-causal: a
          causal mask would move with each half's length);
  empty   causal rows with no key to attend (Sq > Skv): lse -inf, out 0.

One line per case, then `lse: N cases, P passed, F failed`; exit 1 when
anything failed. A failure prints its seed.
"""

import argparse
import ctypes
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import attention_ref as ar  # noqa: E402

TOL_OUT = 1e-5
TOL_LSE = 1e-4
LAMBDA = 1e-2

# (batch, Hq, Hkv, Sq, Skv, D, causal)
CASES = [(2, 4, 2, 7, 200, 32, False), (1, 4, 1, 1, 500, 32, False),
         (2, 4, 4, 65, 129, 32, True), (1, 4, 1, 3, 300, 64, True),
         (1, 4, 2, 90, 40, 32, True)]


Failure = ar.CheckFailure


class Runner:
    def __init__(self, bin_dir, lib, workdir):
        self.compile = os.path.join(bin_dir, "skipattn-compile")
        self.run_tool = os.path.join(bin_dir, "skipattn-run")
        self.workdir = workdir
        self.bundles = {}
        self.rt = ctypes.CDLL(lib)
        self.rt.skipattn_merge_lse.argtypes = [
            ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p]
        self.rt.skipattn_last_error.restype = ctypes.c_char_p

    def _exec(self, cmd):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise Failure(f"exit {proc.returncode}: {' '.join(cmd)}\n    "
                          f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
        return proc.stdout

    def bundle(self, hq, hkv, d, causal, kind):
        key = (hq, hkv, d, causal, kind)
        if key not in self.bundles:
            out = os.path.join(self.workdir, "b_%d_%d_%d_%d_%s" % key)
            cmd = [self.compile, "--target", "cpu", "-o", out, "--batch", "?",
                   "--q-heads", str(hq), "--kv-heads", str(hkv), "--q-len",
                   "?", "--kv-len", "?", "--head-dim", str(d), "--dtype",
                   "f32", "--lse"]
            if causal:
                cmd.append("--causal")
            if kind != "dense":
                cmd.append("--skip")
            if kind == "split":
                cmd += ["--pack-gqa", "--kv-splits"]
            self._exec(cmd)
            self.bundles[key] = out
        return self.bundles[key]

    def run(self, bundle, q, k, v, lam=None, num_splits=None):
        """(out, lse, stats) of one skipattn-run call."""
        paths = {}
        for name, arr in (("q", q), ("k", k), ("v", v)):
            paths[name] = os.path.join(self.workdir, name + ".npy")
            np.save(paths[name], arr)
        out = os.path.join(self.workdir, "o.npy")
        lse = os.path.join(self.workdir, "lse.npy")
        for stale in (out, lse):
            if os.path.exists(stale):
                os.remove(stale)
        cmd = [self.run_tool, bundle, "--q", paths["q"], "--k", paths["k"],
               "--v", paths["v"], "--out", out, "--lse", lse]
        if lam is not None:
            cmd += ["--skip-threshold", repr(lam), "--stats"]
        if num_splits is not None:
            cmd += ["--num-splits", str(num_splits)]
        summary = json.loads(self._exec(cmd).strip().splitlines()[-1])
        return np.load(out), np.load(lse), summary

    def merge(self, out_a, lse_a, out_b, lse_b):
        """skipattn_merge_lse on f32 arrays, into fresh ones."""
        rows = lse_a.size
        dv = out_a.shape[-1]
        out = np.empty_like(out_a)
        lse = np.empty_like(lse_a)
        arrays = [np.ascontiguousarray(x, dtype=np.float32)
                  for x in (out_a, lse_a, out_b, lse_b)]
        status = self.rt.skipattn_merge_lse(
            0, rows, dv, *[x.ctypes.data for x in arrays], out.ctypes.data,
            lse.ctypes.data)
        if status:
            raise Failure("skipattn_merge_lse: " +
                          self.rt.skipattn_last_error().decode())
        return out, lse


def check_case(runner, rng, case, kind):
    b, hq, hkv, sq, skv, d, causal = case
    bundle = runner.bundle(hq, hkv, d, causal, kind)
    notes = []
    if kind == "dense":
        q, k, v = ar.gaussian_inputs(rng, b, hq, hkv, sq, skv, d)
        out, lse, _ = runner.run(bundle, q, k, v)
        notes.append("whole out %.1e lse %.1e" % (
            ar.check_out(out, ar.reference_attention(q, k, v, causal),
                         TOL_OUT, "whole"),
            ar.check_rows(lse, ar.reference_lse(q, k, causal), TOL_LSE,
                          "whole lse")))
        if causal and sq > skv:
            empty = ar.key_limits(sq, skv, True) == 0
            if not (np.isneginf(lse[:, :, empty]).all() and
                    (out[:, :, empty] == 0).all()):
                raise Failure("rows with no key: lse must be -inf and out 0")
            notes.append(f"{int(empty.sum())} empty rows")
        if not causal:
            cut = int(rng.integers(1, skv)) if skv > 1 else 1
            oa, la, _ = runner.run(bundle, q, k[:, :, :cut], v[:, :, :cut])
            ob, lb, _ = runner.run(bundle, q, k[:, :, cut:], v[:, :, cut:])
            om, lm = runner.merge(oa, la, ob, lb)
            ar.check_out(om, out.astype(np.float64), TOL_OUT,
                         "halves vs whole")
            ar.check_rows(lm, lse.astype(np.float64), TOL_LSE,
                          "halves vs whole lse")
            notes.append("halves at %d: out %.1e lse %.1e" % (
                cut,
                ar.check_out(om, ar.reference_attention(q, k, v, causal),
                             TOL_OUT, "halves vs reference"),
                ar.check_rows(lm, ar.reference_lse(q, k, causal), TOL_LSE,
                              "halves vs reference lse")))
        return notes
    # Skip bundles: planted inputs, the simulator's drops in the reference.
    split = kind == "split"
    nkb = ar.num_blocks(skv, ar.DEFAULT_BLOCK)
    parts = int(rng.integers(1, nkb + 2)) if split else 1
    for _ in range(8):
        q, k, v, _ = ar.planted_inputs(rng, b, hq, hkv, sq, skv, d, causal)
        pred = ar.predict(q, k, causal, LAMBDA, num_splits=parts,
                          pack_gqa=split)
        if pred.min_margin > 1e-3:
            break
    out, lse, summary = runner.run(bundle, q, k, v, lam=LAMBDA,
                                   num_splits=parts if split else None)
    got = (summary["tiles_total"], summary["tiles_skipped"])
    if got != (pred.tiles_total, pred.tiles_skipped):
        raise Failure(f"tiles {got}, predicted "
                      f"{(pred.tiles_total, pred.tiles_skipped)}")
    drop = pred.drop_mask(sq, skv)
    notes.append("parts=%d tiles %d/%d out %.1e lse %.1e" % (
        parts, got[1], got[0],
        ar.check_out(out, ar.reference_attention(q, k, v, causal, drop=drop),
                     TOL_OUT, "skip"),
        ar.check_rows(lse, ar.reference_lse(q, k, causal, drop=drop), TOL_LSE,
                      "skip lse")))
    return notes


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--lib", required=True,
                        help="libskipattn_runtime.so (for skipattn_merge_lse)")
    parser.add_argument("--workdir")
    parser.add_argument("--seed", type=lambda s: int(s, 0))
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-lse-")
    os.makedirs(workdir, exist_ok=True)
    runner = Runner(args.bin, args.lib, workdir)
    log = ar.CaseLog()
    for case in CASES:
        for kind in ("dense", "skip", "split"):
            seed = ar.case_seed(args.seed)
            rng = np.random.default_rng(seed)
            tag = "b=%d hq=%d hkv=%d sq=%d skv=%d d=%d causal=%d" % case
            log.run(f"{kind} {tag}",
                    lambda: check_case(runner, rng, case, kind), seed)
    status = log.summary("lse")
    if args.workdir is None and not log.failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
