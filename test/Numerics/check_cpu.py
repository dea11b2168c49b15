#!/usr/bin/env python3
"""CPU numerics sweep: skipattn CPU bundles against a float64 reference.

For a slice of the sweep (Sq x Skv x head dim x GQA ratio x causal x
dense|skip), this compiles one f32 bundle per (D, GQA, causal, dense|skip)
with dynamic batch and lengths, draws fresh random inputs per config (the
seed comes from os.urandom and is printed with every failure), runs
skipattn-run and checks, against attention_ref.py:

  dense  the dense bundle: max|out - ref| / max|ref| <= tol.
  skip   the skip bundle
         - with skipping off at run time (lambda 0): the dense
           result, tiles_skipped == 0 and the predicted tiles_total;
         - on random inputs with per-block biases, at a lambda from a grid
           that skips some tiles: tiles_total and tiles_skipped equal the
           simulator's, and the output matches the reference with the
           skipped tiles dropped;
         - on planted long-context inputs at lambda 1e-3 .. 1e-2 (given as a
           threshold or as a scale factor over Skv): the same, and more than
           half of the tiles skipped wherever the geometry allows it.
  split  the skip checks above on a bundle with the split-KV decode
         kernel's tiling (--pack-gqa --kv-splits, docs/serving.md), each run
         with a random number of kv parts (from 1 to more parts than
         kv-blocks): counts against the simulator with the same packing,
         parts and seeds.

With --vote N the skip bundles vote in groups of N rows of each q-block
(skipattn-compile --vote, the GPU's warp vote) and the simulator does the
same: each group decides and counts its own tiles.

Skip decisions closer to ln(lambda) than --min-margin would depend on f32
rounding: such inputs are redrawn (at most --max-redraws times) and the
config line says so. One line per config, then a summary line
`numerics: N configs, P passed, F failed, R redraws`; the exit status is 1
when anything failed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import attention_ref as ar  # noqa: E402

SWEEP_SQ = [1, 7, 64, 65, 200]
SWEEP_SKV = [1, 63, 64, 129, 500]
SWEEP_D = [32, 64, 128]
SWEEP_GQA = [1, 4]
Q_HEADS = 4
RANDOM_LAMBDAS = [0.9, 0.5, 0.2, 0.1, 0.05, 0.02, 1e-2, 3e-3, 1e-3, 1e-4]
PLANTED_LAMBDAS = [1e-3, 3e-3, 1e-2]
OFF_LAMBDAS = [0.0]


class CheckFailure(Exception):
    """One failed check; the message names what and where."""


def int_list(text):
    return [int(x) for x in text.split(",") if x]


def seed_arg(text):
    return int(text, 0)


# ===----------------------------------------------------------------------===
# Tools
# ===----------------------------------------------------------------------===

class Tools:
    def __init__(self, bin_dir, workdir, block_m, block_n, vote, timeout):
        self.compile = os.path.join(bin_dir, "skipattn-compile")
        self.run = os.path.join(bin_dir, "skipattn-run")
        self.workdir = workdir
        self.block_m = block_m
        self.block_n = block_n
        self.vote = vote
        self.timeout = timeout
        self.bundles = {}

    def missing(self):
        return [t for t in (self.compile, self.run)
                if not os.access(t, os.X_OK)]

    def _exec(self, cmd):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailure(f"timed out after {self.timeout}s: "
                               f"{' '.join(cmd)}")
        except OSError as err:
            raise CheckFailure(f"cannot run {cmd[0]}: {err}")
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-2000:]
            raise CheckFailure(f"exit {proc.returncode}: {' '.join(cmd)}\n"
                               f"    {tail}")
        return proc.stdout

    def bundle(self, d, hkv, causal, skip, split=False):
        """The bundle dir for this key, compiled on first use (or the error)."""
        key = (d, hkv, causal, skip, split)
        if key not in self.bundles:
            name = (f"bundle_d{d}_hq{Q_HEADS}_hkv{hkv}_"
                    f"{'causal' if causal else 'full'}_"
                    f"{'skip' if skip else 'dense'}{'_split' if split else ''}"
                    f"{f'_vote{self.vote}' if skip and self.vote else ''}")
            out = os.path.join(self.workdir, name)
            shutil.rmtree(out, ignore_errors=True)
            cmd = [self.compile, "--target", "cpu", "-o", out,
                   "--batch", "?", "--q-heads", str(Q_HEADS),
                   "--kv-heads", str(hkv), "--q-len", "?", "--kv-len", "?",
                   "--head-dim", str(d), "--dtype", "f32",
                   "--block-m", str(self.block_m),
                   "--block-n", str(self.block_n)]
            if causal:
                cmd.append("--causal")
            if skip:
                cmd.append("--skip")
                if self.vote:
                    cmd += ["--vote", str(self.vote)]
            if split:
                cmd += ["--pack-gqa", "--kv-splits"]
            try:
                start = time.time()
                self._exec(cmd)
                self._check_manifest(out)
                self.bundles[key] = (out, None)
                print(f"compiled {name} in {time.time() - start:.1f}s",
                      flush=True)
            except CheckFailure as err:
                self.bundles[key] = (None, f"compiling {name}: {err}")
        out, err = self.bundles[key]
        if err:
            raise CheckFailure(err)
        return out

    def _check_manifest(self, out):
        """If a manifest reports block_m/block_n/vote_rows, they must be
        ours."""
        if not os.path.isdir(out):
            raise CheckFailure(f"skipattn-compile wrote no bundle at {out}")
        for name in sorted(os.listdir(out)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(out, name)) as f:
                    found = _find_keys(json.load(f),
                                       ("block_m", "block_n", "vote_rows"))
            except (OSError, ValueError):
                continue
            want = {"block_m": self.block_m, "block_n": self.block_n,
                    "vote_rows": self.vote or self.block_m}
            for key, values in found.items():
                bad = [x for x in values if x != want[key]]
                if bad:
                    raise CheckFailure(f"{name} reports {key}={bad[0]}, "
                                       f"asked for {want[key]}")

    def execute(self, bundle, rundir, q, k, v, lam=None, scale_factor=None,
                stats=False, num_splits=None):
        """Runs one problem; returns (out, stats dict or None)."""
        os.makedirs(rundir, exist_ok=True)
        paths = {}
        for name, arr in (("q", q), ("k", k), ("v", v)):
            paths[name] = os.path.join(rundir, f"{name}.npy")
            np.save(paths[name], arr)
        out_path = os.path.join(rundir, "o.npy")
        if os.path.exists(out_path):
            os.remove(out_path)     # a stale output must never pass
        cmd = [self.run, bundle, "--q", paths["q"], "--k", paths["k"],
               "--v", paths["v"], "--out", out_path]
        if lam is not None:
            cmd += ["--skip-threshold", f"{lam:.17g}"]
        if scale_factor is not None:
            cmd += ["--skip-scale-factor", f"{scale_factor:.17g}"]
        if stats:
            cmd.append("--stats")
        if num_splits is not None:
            cmd += ["--num-splits", str(num_splits)]
        stdout = self._exec(cmd)
        summary = None
        for line in reversed(stdout.strip().splitlines()):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                summary = parsed
                break
        if stats:
            if summary is None:
                raise CheckFailure(f"no JSON line on stdout of "
                                   f"{' '.join(cmd)}: {stdout.strip()[-500:]}")
            for key in ("tiles_total", "tiles_skipped"):
                if not isinstance(summary.get(key), int):
                    raise CheckFailure(f"JSON summary lacks integer '{key}': "
                                       f"{json.dumps(summary)}")
                if not isinstance(summary.get(key + "_per_head"), list):
                    raise CheckFailure(f"JSON summary lacks '{key}_per_head':"
                                       f" {json.dumps(summary)}")
        if not os.path.exists(out_path):
            raise CheckFailure(f"skipattn-run wrote no output: {' '.join(cmd)}")
        return np.load(out_path), summary


def _find_keys(node, keys):
    found = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in keys and isinstance(value, int):
                    found.setdefault(key, []).append(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


# ===----------------------------------------------------------------------===
# Checks
# ===----------------------------------------------------------------------===

def compare(out, ref, tol, what):
    """Raises unless out is finite, ref-shaped f32 and within tol of ref."""
    if out.shape != ref.shape:
        raise CheckFailure(f"{what}: output shape {out.shape}, expected "
                           f"{ref.shape}")
    if out.dtype != np.float32:
        raise CheckFailure(f"{what}: output dtype {out.dtype}, expected "
                           f"float32")
    bad = ~np.isfinite(out)
    if bad.any():
        idx = tuple(int(x) for x in np.argwhere(bad)[0])
        raise CheckFailure(f"{what}: {int(bad.sum())} non-finite outputs, "
                           f"first at [b,h,i,d]={list(idx)}: {out[idx]}")
    err = np.abs(out.astype(np.float64) - ref)
    denom = float(np.max(np.abs(ref))) if ref.size else 0.0
    if denom == 0.0:
        rel = float(err.max()) if err.size else 0.0
        limit = 0.0
    else:
        rel = float(err.max()) / denom
        limit = tol * denom
    if rel > tol or (denom == 0.0 and rel > 0.0):
        idx = tuple(int(x) for x in np.argwhere(err > limit)[0])
        raise CheckFailure(
            f"{what}: max|out-ref|/max|ref| = {rel:.3g} > {tol:g}; first bad "
            f"[b,h,i,d]={list(idx)}: out={out[idx]!r} ref={ref[idx]!r} "
            f"(max|ref|={denom:.4g})")
    return rel


def check_stats(summary, pred, what):
    got = (summary["tiles_total"], summary["tiles_skipped"])
    want = (pred.tiles_total, pred.tiles_skipped)
    if got != want:
        raise CheckFailure(
            f"{what}: tiles_total/tiles_skipped = {got[0]}/{got[1]}, "
            f"simulator predicts {want[0]}/{want[1]} "
            f"(skipped per (b,h,q-block): {_pattern(pred)})")
    # The same per (batch, query head): [B][Hq] lists.
    heads = pred.head_counts()
    got_heads = (summary["tiles_total_per_head"],
                 summary["tiles_skipped_per_head"])
    if got_heads != heads:
        raise CheckFailure(
            f"{what}: per-head tiles_total/tiles_skipped = {got_heads}, "
            f"simulator predicts {heads}")


def check_skip_run(out, summary, ref, pred, tol, what):
    """Counts and output of a run with skipping on; reports both problems."""
    problems = []
    for check in (lambda: check_stats(summary, pred, what),
                  lambda: compare(out, ref, tol, what + " vs reference minus "
                                  "skipped tiles")):
        try:
            err = check()
        except CheckFailure as failure:
            problems.append(str(failure))
    if problems:
        raise CheckFailure("\n    ".join(problems))
    return err


def _pattern(pred, limit=12):
    items = []
    b_count, h_count, nqb = pred.visited.shape
    for b in range(b_count):
        for h in range(h_count):
            for qb in range(nqb):
                js = [int(j) for j in np.nonzero(pred.skipped[b, h, qb])[0]]
                items.append(f"({b},{h},{qb}):{js}/{pred.visited[b, h, qb]}")
    more = f" ... {len(items) - limit} more" if len(items) > limit else ""
    return " ".join(items[:limit]) + more


# ===----------------------------------------------------------------------===
# One config
# ===----------------------------------------------------------------------===

class Tiling:
    """How the skip bundle under test tiles and votes: unsplit, or the
    split-KV decode tiling with some number of kv parts; in vote groups of
    vote_rows rows (0: the q-block)."""

    def __init__(self, vote_rows, split=False, num_splits=1):
        self.vote_rows = vote_rows
        self.split = split
        self.num_splits = num_splits

    def sim(self):
        """The simulator's keyword arguments for this tiling."""
        return dict(num_splits=self.num_splits, pack_gqa=self.split,
                    vote_rows=self.vote_rows)

    def run(self):
        """skipattn-run's keyword arguments for this tiling."""
        return dict(num_splits=self.num_splits if self.split else None)

    def note(self):
        return f" parts={self.num_splits}" if self.split else ""


class Config:
    def __init__(self, d, hkv, causal, sq, skv, batch, mode, seed):
        self.d, self.hkv, self.causal = d, hkv, causal
        self.sq, self.skv, self.batch = sq, skv, batch
        self.mode, self.seed = mode, seed

    def tag(self):
        return (f"d={self.d} hq={Q_HEADS} hkv={self.hkv} "
                f"causal={int(self.causal)} sq={self.sq} skv={self.skv} "
                f"b={self.batch} {self.mode}")

    def repro(self, args):
        return (f"{sys.executable} {os.path.abspath(__file__)} --bin "
                f"{args.bin} --d {self.d} --gqa {Q_HEADS // self.hkv} "
                f"--causal {int(self.causal)} --sq {self.sq} --skv {self.skv} "
                f"--batch {self.batch} --modes {self.mode} "
                f"--block-m {args.block_m} --block-n {args.block_n} "
                f"--vote {args.vote} --seed {self.seed:#x}")


def choose_random_lambda(rng, q, k, cfg, args, tiling):
    """A lambda that skips some tiles with robust decisions, or None."""
    rm = ar.block_row_max(q, k, cfg.causal, args.block_n)
    robust, partial = [], []
    for lam in RANDOM_LAMBDAS:
        pred = ar.simulate_skip(rm, cfg.sq, cfg.skv, cfg.causal, lam,
                                args.block_m, args.block_n,
                                kv_heads=cfg.hkv, **tiling.sim())
        if pred.min_margin < args.min_margin:
            continue
        robust.append(pred)
        if 0 < pred.tiles_skipped < pred.tiles_total:
            partial.append(pred)
    if partial:
        return partial[rng.integers(len(partial))], robust
    return None, robust


def random_tiling(rng, cfg, args, split):
    """Unsplit, or a random number of kv parts up to more than there are
    kv-blocks (empty parts included)."""
    if not split:
        return Tiling(args.vote)
    nkb = ar.num_blocks(cfg.skv, args.block_n)
    return Tiling(args.vote, True, int(rng.integers(1, nkb + 3)))


def run_skip_checks(tools, cfg, args, rng, workdir, q, k, v, ref, dense_out,
                    notes, redraws, split=False):
    bundle = tools.bundle(cfg.d, cfg.hkv, cfg.causal, True, split)
    shape = (cfg.batch, Q_HEADS, cfg.hkv, cfg.sq, cfg.skv, cfg.d)
    bm, bn = args.block_m, args.block_n

    # Skipping off at run time.
    off = OFF_LAMBDAS[rng.integers(len(OFF_LAMBDAS))]
    tiling = random_tiling(rng, cfg, args, split)
    pred = ar.predict(q, k, cfg.causal, off, bm, bn, **tiling.sim())
    out, summary = tools.execute(bundle, os.path.join(workdir, "off"), q, k, v,
                                 lam=off, stats=True, **tiling.run())
    what = f"skip bundle, lambda={off:g} (off)"
    err = compare(out, ref, args.tol, what)
    if dense_out is not None:
        compare(out, dense_out.astype(np.float64), args.tol,
                what + " vs dense bundle")
    check_stats(summary, pred, what)
    notes.append(f"off lam={off:g}{tiling.note()} tiles "
                 f"{summary['tiles_skipped']}/{summary['tiles_total']} "
                 f"err={err:.1e}")

    # Random inputs with block biases at a lambda that skips some tiles.
    chosen = fallback = None
    tiling = random_tiling(rng, cfg, args, split)
    for attempt in range(args.max_redraws + 1):
        rq, rk, rv = ar.block_biased_inputs(rng, *shape, block_n=bn)
        chosen, robust = choose_random_lambda(rng, rq, rk, cfg, args, tiling)
        if chosen is not None:
            break
        if robust and all(p.tiles_skipped == 0 for p in robust):
            # No lambda skips anything on these inputs; keep them in case
            # no draw does (e.g. every q-block visits a single kv-block).
            fallback = (rq, rk, rv, robust[rng.integers(len(robust))])
            if max(int(c) for c in ar.visited_counts(
                    cfg.sq, cfg.skv, cfg.causal, bm, bn)) <= 1:
                break
        if attempt < args.max_redraws:
            redraws[0] += 1
    if chosen is None:
        if fallback is None:
            raise CheckFailure(
                f"random: no robust lambda after {args.max_redraws} redraws "
                f"(every candidate had a decision within {args.min_margin:g} "
                f"of ln(lambda))")
        rq, rk, rv, chosen = fallback
        notes.append("no lambda skips a tile on these inputs")
    else:
        if attempt:
            notes.append(f"random redrawn {attempt}x (no lambda skipped some "
                         f"but not all tiles with every decision "
                         f">= {args.min_margin:g} from ln(lambda))")
    what = f"random inputs, lambda={chosen.lam:g}{tiling.note()}"
    out, summary = tools.execute(bundle, os.path.join(workdir, "random"),
                                 rq, rk, rv, lam=chosen.lam, stats=True,
                                 **tiling.run())
    rref = ar.reference_attention(rq, rk, rv, cfg.causal,
                                  drop=chosen.drop_mask(cfg.sq, cfg.skv, bm,
                                                        bn))
    err = check_skip_run(out, summary, rref, chosen, args.tol, what)
    notes.append(f"random lam={chosen.lam:g}{tiling.note()} tiles "
                 f"{chosen.tiles_skipped}/{chosen.tiles_total} err={err:.1e}")

    # Planted long-context inputs at a moderate lambda.
    lam = PLANTED_LAMBDAS[rng.integers(len(PLANTED_LAMBDAS))]
    use_factor = bool(rng.integers(2))
    tiling = random_tiling(rng, cfg, args, split)
    for attempt in range(args.max_redraws + 1):
        pq, pk, pv, plan = ar.planted_inputs(rng, *shape, cfg.causal, bm, bn)
        # The tool divides the scale factor by Skv; replay that division.
        factor = lam * cfg.skv
        eff = factor / cfg.skv if use_factor else lam
        pred = ar.predict(pq, pk, cfg.causal, eff, bm, bn, **tiling.sim())
        if pred.min_margin >= args.min_margin:
            break
        if attempt == args.max_redraws:
            raise CheckFailure(
                f"planted: decisions within {args.min_margin:g} of ln(lambda) "
                f"after {args.max_redraws} redraws (min margin "
                f"{pred.min_margin:.3g})")
        redraws[0] += 1
    if attempt:
        notes.append(f"planted redrawn {attempt}x (a decision within "
                     f"{args.min_margin:g} of ln(lambda))")
    form = f"scale-factor={factor:g}" if use_factor else f"lambda={lam:g}"
    form += tiling.note()
    what = f"planted inputs, {form}"
    if use_factor:
        out, summary = tools.execute(bundle, os.path.join(workdir, "planted"),
                                     pq, pk, pv, scale_factor=factor,
                                     stats=True, **tiling.run())
    else:
        out, summary = tools.execute(bundle, os.path.join(workdir, "planted"),
                                     pq, pk, pv, lam=lam, stats=True,
                                     **tiling.run())
    pref = ar.reference_attention(pq, pk, pv, cfg.causal,
                                  drop=pred.drop_mask(cfg.sq, cfg.skv, bm, bn))
    err = check_skip_run(out, summary, pref, pred, args.tol, what)
    total = pred.tiles_total
    # The plan is of unpacked q-blocks; its majority holds for the packed
    # ones when every q-block is planted for it (seeds keep it under parts),
    # and for vote groups, whose rows share their q-block's plan.
    majority = plan.exact and not split and \
        plan.planned_skipped(cfg.batch, Q_HEADS) > \
        plan.planned_total(cfg.batch, Q_HEADS) / 2
    if majority and not summary["tiles_skipped"] > total / 2:
        raise CheckFailure(f"{what}: {summary['tiles_skipped']}/{total} "
                           f"tiles skipped, planted for more than half")
    notes.append(f"planted {form} tiles {pred.tiles_skipped}/{total}"
                 f"{' (>1/2)' if majority else ''} err={err:.1e}")


def run_shape(tools, args, d, hkv, causal, sq, skv, counters):
    batch = args.batch or (1 if sq * skv >= 25000 else 2)
    seed = args.seed if args.seed is not None else \
        int.from_bytes(os.urandom(8), "little")
    rng = np.random.default_rng(seed)
    shape = (batch, Q_HEADS, hkv, sq, skv, d)
    q, k, v = ar.gaussian_inputs(rng, *shape)
    ref = ar.reference_attention(q, k, v, causal)
    dense_out = None
    for mode in args.modes:
        cfg = Config(d, hkv, causal, sq, skv, batch, mode, seed)
        workdir = os.path.join(tools.workdir, "run")
        shutil.rmtree(workdir, ignore_errors=True)
        notes, redraws = [], [0]
        start = time.time()
        try:
            if mode == "dense":
                bundle = tools.bundle(d, hkv, causal, False)
                dense_out, _ = tools.execute(bundle, os.path.join(workdir,
                                                                  "dense"),
                                             q, k, v)
                err = compare(dense_out, ref, args.tol, "dense bundle")
                notes.append(f"err={err:.1e}")
            else:
                run_skip_checks(tools, cfg, args, rng, workdir, q, k, v, ref,
                                dense_out, notes, redraws,
                                split=mode == "split")
        except CheckFailure as failure:
            counters["failed"] += 1
            keep = os.path.join(tools.workdir, "failures",
                                cfg.tag().replace(" ", "_").replace("=", ""))
            if os.path.isdir(workdir):
                shutil.rmtree(keep, ignore_errors=True)
                shutil.copytree(workdir, keep)
            print(f"FAIL {cfg.tag()} seed={seed:#x}: {failure}\n"
                  f"    inputs kept in {keep}\n"
                  f"    reproduce: {cfg.repro(args)}", flush=True)
            counters["keep"] = True
        else:
            counters["passed"] += 1
            print(f"PASS {cfg.tag()} ({time.time() - start:.2f}s): "
                  f"{'; '.join(notes)}", flush=True)
        counters["configs"] += 1
        counters["redraws"] += redraws[0]


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--bin", required=True,
                        help="directory with skipattn-compile, skipattn-run")
    parser.add_argument("--workdir",
                        help="scratch dir (default: a temp dir, removed "
                             "unless something failed)")
    parser.add_argument("--d", type=int_list, default=SWEEP_D)
    parser.add_argument("--gqa", type=int_list, default=SWEEP_GQA,
                        help=f"Hq/Hkv ratios (Hq = {Q_HEADS})")
    parser.add_argument("--causal", type=int_list, default=[0, 1])
    parser.add_argument("--sq", type=int_list, default=SWEEP_SQ)
    parser.add_argument("--skv", type=int_list, default=SWEEP_SKV)
    parser.add_argument("--modes", type=lambda s: s.split(","),
                        default=["dense", "skip"])
    parser.add_argument("--batch", type=int, default=0,
                        help="batch size (default: 2, 1 for Sq*Skv >= 25000)")
    parser.add_argument("--block-m", type=int, default=ar.DEFAULT_BLOCK)
    parser.add_argument("--block-n", type=int, default=ar.DEFAULT_BLOCK)
    parser.add_argument("--vote", type=int, default=0,
                        help="rows per skip vote group (0: the q-block)")
    parser.add_argument("--seed", type=seed_arg,
                        help="seed every config with this (to reproduce)")
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--min-margin", type=float, default=1e-3)
    parser.add_argument("--max-redraws", type=int, default=8)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch dir")
    args = parser.parse_args(argv)
    for mode in args.modes:
        if mode not in ("dense", "skip", "split"):
            parser.error(f"unknown mode '{mode}'")
    if args.vote < 0 or (args.vote and args.block_m % args.vote):
        parser.error(f"--vote {args.vote} does not divide --block-m "
                     f"{args.block_m}")
    for ratio in args.gqa:
        if ratio <= 0 or Q_HEADS % ratio:
            parser.error(f"GQA ratio {ratio} does not divide {Q_HEADS}")

    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-numerics-")
    os.makedirs(workdir, exist_ok=True)
    tools = Tools(os.path.abspath(args.bin), os.path.abspath(workdir),
                  args.block_m, args.block_n, args.vote, args.timeout)
    missing = tools.missing()
    if missing:
        print(f"error: tool not found or not executable: {', '.join(missing)}",
              file=sys.stderr)
        return 2

    counters = {"configs": 0, "passed": 0, "failed": 0, "redraws": 0,
                "keep": False}
    start = time.time()
    for d in args.d:
        for ratio in args.gqa:
            for causal in args.causal:
                for sq in args.sq:
                    for skv in args.skv:
                        run_shape(tools, args, d, Q_HEADS // ratio,
                                  bool(causal), sq, skv, counters)
    print(f"numerics: {counters['configs']} configs, {counters['passed']} "
          f"passed, {counters['failed']} failed, {counters['redraws']} "
          f"redraws ({time.time() - start:.0f}s)", flush=True)
    if args.workdir is None and not args.keep and not counters["keep"]:
        shutil.rmtree(workdir, ignore_errors=True)
    elif counters["keep"]:
        print(f"scratch dir kept: {workdir}")
    return 1 if counters["failed"] or counters["configs"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
