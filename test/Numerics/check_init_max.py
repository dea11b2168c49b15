#!/usr/bin/env python3
"""CPU numerics of the carry: attn.attention's init_max operand and max result.

Compiles f32 CPU bundles with --lse and with --lse --init-max (dense and
skip) and runs them through libskipattn_runtime (skipattn_run_host_ex, the
Python binding's ctypes structs) on fresh random inputs per case:

  none     init_max all -inf: out, lse (and the counters) bit-identical to
           the bundle without --init-max; max equal to each row's largest
           kept score (float64 scores, the simulator's drops).
  carried  the keys cut in two calls, the second starting from the first
           call's max (what a ring step does): each call's counters equal
           to the simulator given the same init_max, the two merged through
           their lse equal to float64 attention over every key (with the
           simulator's drops), the second max equal to the larger of the
           first max and the second call's largest kept score.
  errors   (once) the runtime refuses a carry bundle run without init_max
           and max, and a bundle without the carry given them.
  bound    (causal) init_max a lower bound of each row's own max (the row
           max minus 0.5, rows without a key at -inf or at 3.0): out and lse
           equal to float64 (with the drops), a row without a key keeps its
           init_max as max, with lse -inf and out 0.

One line per case, then `init_max: N cases, P passed, F failed`; exit 1 when
anything failed. A failure prints its seed.
"""

import argparse
import ctypes
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
TOL_MAX = 1e-5
LAMBDA = 1e-2

# (batch, Hq, Hkv, Sq, Skv, D, causal)
CASES = [(2, 4, 2, 70, 300, 32, False), (1, 4, 1, 1, 500, 32, False),
         (2, 4, 4, 65, 129, 32, True), (1, 4, 2, 90, 40, 32, True)]


Failure = ar.CheckFailure


class Runner:
    def __init__(self, bin_dir, lib, binding, workdir):
        sys.path.insert(0, binding)
        import skipattn_runtime
        self.types = skipattn_runtime
        self.compile = os.path.join(bin_dir, "skipattn-compile")
        self.workdir = workdir
        self.bundles = {}
        self.rt = ctypes.CDLL(lib)
        self.rt.skipattn_last_error.restype = ctypes.c_char_p
        self.rt.skipattn_bundle_load.argtypes = [
            ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        self.rt.skipattn_run_host_ex.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(skipattn_runtime._Shape),
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_float, ctypes.c_void_p,
            ctypes.POINTER(skipattn_runtime._Options)]

    def _check(self, status, what):
        if status:
            raise Failure(f"{what}: status {status}: "
                          f"{self.rt.skipattn_last_error().decode()}")

    def bundle(self, hq, hkv, d, causal, skip, carry):
        key = (hq, hkv, d, causal, skip, carry)
        if key not in self.bundles:
            out = os.path.join(self.workdir, "b_%d_%d_%d_%d_%d_%d" % key)
            cmd = [self.compile, "--target", "cpu", "-o", out, "--batch", "?",
                   "--q-heads", str(hq), "--kv-heads", str(hkv), "--q-len",
                   "?", "--kv-len", "?", "--head-dim", str(d), "--dtype",
                   "f32", "--lse"]
            if causal:
                cmd.append("--causal")
            if skip:
                cmd.append("--skip")
            if carry:
                cmd.append("--init-max")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise Failure(f"{' '.join(cmd)}: {proc.stderr.strip()}")
            handle = ctypes.c_void_p()
            self._check(self.rt.skipattn_bundle_load(
                out.encode(), ctypes.byref(handle)), "load " + out)
            self.bundles[key] = handle
        return self.bundles[key]

    def run(self, bundle, q, k, v, lam=None, init_max=None):
        """(out, lse, max or None, (tiles_total, tiles_skipped) or None).
        Outputs start as NaN, so that an unwritten element shows."""
        b, hq, sq, d = q.shape
        shape = self.types._Shape(b, hq, k.shape[1], sq, k.shape[2], d,
                                  v.shape[3])
        q, k, v = (np.ascontiguousarray(x, dtype=np.float32)
                   for x in (q, k, v))
        out = np.full((b, hq, sq, v.shape[3]), np.nan, dtype=np.float32)
        lse = np.full((b, hq, sq), np.nan, dtype=np.float32)
        options = self.types._Options()
        options.lse = lse.ctypes.data
        mx = None
        if init_max is not None:
            init_max = np.ascontiguousarray(init_max, dtype=np.float32)
            mx = np.full((b, hq, sq), np.nan, dtype=np.float32)
            options.init_max = init_max.ctypes.data
            options.max = mx.ctypes.data
        stats = (ctypes.c_int64 * 2)() if lam is not None else None
        self._check(self.rt.skipattn_run_host_ex(
            bundle, ctypes.byref(shape), q.ctypes.data, k.ctypes.data,
            v.ctypes.data, None, None, out.ctypes.data,
            0.0 if lam is None else lam, stats, ctypes.byref(options)), "run")
        counts = (stats[0], stats[1]) if stats is not None else None
        return out, lse, mx, counts


def kept_max(q, k, causal, drop=None):
    """Each row's largest score that a kernel keeps (float64)."""
    s = ar.scores(q, k, causal)
    if drop is not None:
        s = np.where(drop, -np.inf, s)
    return np.max(s, axis=-1, initial=-np.inf)


def merge(out_a, lse_a, out_b, lse_b):
    """Two partial attentions of the same rows, merged in float64."""
    lse = np.logaddexp(lse_a.astype(np.float64), lse_b.astype(np.float64))
    safe = np.where(np.isneginf(lse), 0.0, lse)
    wa = np.where(np.isneginf(lse_a), 0.0, np.exp(lse_a - safe))
    wb = np.where(np.isneginf(lse_b), 0.0, np.exp(lse_b - safe))
    return out_a * wa[..., None] + out_b * wb[..., None], lse


def inputs(rng, case, skip, init_max_of=None):
    """Inputs (planted for a skip bundle, with a decision margin of at least
    1e-3 when the prediction allows) and the prediction."""
    b, hq, hkv, sq, skv, d, causal = case
    if not skip:
        return ar.gaussian_inputs(rng, b, hq, hkv, sq, skv, d) + (None,)
    for _ in range(8):
        q, k, v, _ = ar.planted_inputs(rng, b, hq, hkv, sq, skv, d, causal)
        pred = ar.predict(q, k, causal, LAMBDA,
                          init_max=None if init_max_of is None else
                          init_max_of(q, k))
        if pred.min_margin > 1e-3:
            break
    return q, k, v, pred


def check_counts(got, pred, what):
    want = (pred.tiles_total, pred.tiles_skipped)
    if got != want:
        raise Failure(f"{what}: tiles {got}, predicted {want}")


def check_none(runner, rng, case, skip):
    b, hq, hkv, sq, skv, d, causal = case
    q, k, v, pred = inputs(rng, case, skip)
    lam = LAMBDA if skip else None
    plain = runner.run(runner.bundle(hq, hkv, d, causal, skip, False), q, k,
                       v, lam)
    none = np.full((b, hq, sq), -np.inf, dtype=np.float32)
    carry = runner.run(runner.bundle(hq, hkv, d, causal, skip, True), q, k,
                       v, lam, init_max=none)
    for name, x, y in (("out", plain[0], carry[0]), ("lse", plain[1],
                                                     carry[1])):
        if x.tobytes() != y.tobytes():
            raise Failure(f"init_max -inf: {name} differs from the bundle "
                          "without init_max (max abs diff %g)" %
                          float(np.nanmax(np.abs(x - y))))
    if plain[3] != carry[3]:
        raise Failure(f"init_max -inf: tiles {carry[3]}, without init_max "
                      f"{plain[3]}")
    drop = pred.drop_mask(sq, skv) if skip else None
    if skip:
        check_counts(carry[3], pred, "init_max -inf")
    err = ar.check_rows(carry[2], kept_max(q, k, causal, drop), TOL_MAX,
                        "max", relative=True)
    tiles = " tiles %d/%d" % (carry[3][1], carry[3][0]) if skip else ""
    return [f"bit-identical to no init_max{tiles}, max err {err:.1e}"]


def check_carried(runner, rng, case, skip):
    b, hq, hkv, sq, skv, d, causal = case
    bundle = runner.bundle(hq, hkv, d, causal, skip, True)
    lam = LAMBDA if skip else None
    cut = int(rng.integers(1, skv))
    q, k, v, _ = inputs(rng, case, skip)
    none = np.full((b, hq, sq), -np.inf, dtype=np.float32)
    oa, la, ma, ca = runner.run(bundle, q, k[:, :, :cut], v[:, :, :cut], lam,
                                init_max=none)
    ob, lb, mb, cb = runner.run(bundle, q, k[:, :, cut:], v[:, :, cut:], lam,
                                init_max=ma)
    drop_a = drop_b = None
    if skip:
        pa = ar.predict(q, k[:, :, :cut], causal, lam)
        pb = ar.predict(q, k[:, :, cut:], causal, lam, init_max=ma)
        check_counts(ca, pa, "first call")
        check_counts(cb, pb, "second call (init_max = first max)")
        drop_a = pa.drop_mask(sq, cut)
        drop_b = pb.drop_mask(sq, skv - cut)
    out, lse = merge(oa, la, ob, lb)
    drop = np.concatenate([drop_a, drop_b], axis=-1) if skip else None
    e_out = ar.check_out(out, ar.reference_attention(q, k, v, causal,
                                                     drop=drop),
                         TOL_OUT, "merged")
    e_lse = ar.check_rows(lse, ar.reference_lse(q, k, causal, drop=drop),
                          TOL_LSE, "merged lse", relative=True)
    want = np.maximum(ma.astype(np.float64),
                      kept_max(q, k[:, :, cut:], causal, drop_b))
    e_max = ar.check_rows(mb, want, TOL_MAX, "second max", relative=True)
    tiles = " tiles %d/%d then %d/%d" % (ca[1], ca[0], cb[1], cb[0]) \
        if skip else ""
    return [f"cut {cut}{tiles}: out {e_out:.1e} lse {e_lse:.1e} "
            f"max {e_max:.1e}"]


def check_bound(runner, rng, case, skip):
    b, hq, hkv, sq, skv, d, causal = case
    bundle = runner.bundle(hq, hkv, d, causal, skip, True)
    lam = LAMBDA if skip else None

    def lower_bound(q, k):
        top = kept_max(q, k, causal)
        # Rows without a key: any init_max is kept as their max.
        return np.where(np.isneginf(top), 3.0, top - 0.5).astype(np.float32)
    q, k, v, pred = inputs(rng, case, skip, lower_bound)
    init = lower_bound(q, k)
    out, lse, mx, counts = runner.run(bundle, q, k, v, lam, init_max=init)
    drop = None
    if skip:
        check_counts(counts, pred, "bound")
        drop = pred.drop_mask(sq, skv)
    e_out = ar.check_out(out, ar.reference_attention(q, k, v, causal,
                                                     drop=drop),
                         TOL_OUT, "bound")
    e_lse = ar.check_rows(lse, ar.reference_lse(q, k, causal, drop=drop),
                          TOL_LSE, "bound lse", relative=True)
    want = np.maximum(init.astype(np.float64), kept_max(q, k, causal, drop))
    e_max = ar.check_rows(mx, want, TOL_MAX, "bound max", relative=True)
    empty = ar.key_limits(sq, skv, causal) == 0
    notes = f"out {e_out:.1e} lse {e_lse:.1e} max {e_max:.1e}"
    if empty.any():
        if not ((out[:, :, empty] == 0).all() and
                np.isneginf(lse[:, :, empty]).all() and
                (mx[:, :, empty] == 3.0).all()):
            raise Failure("rows without a key: out 0, lse -inf and max "
                          "init_max expected")
        notes += f"; {int(empty.sum())} rows without a key"
    if skip:
        notes = "tiles %d/%d " % (counts[1], counts[0]) + notes
    return [notes]


def check_errors(runner):
    """The runtime refuses a carry bundle run without init_max and max,
    and a bundle without the carry given them, with a message."""
    rng = np.random.default_rng(0)
    q, k, v = ar.gaussian_inputs(rng, 1, 4, 2, 5, 7, 32)
    notes = []
    for carry, init, want in (
            (True, None, "this bundle carries the running max"),
            (False, np.zeros((1, 4, 5), dtype=np.float32),
             "init_max or max was given, but this bundle does not take "
             "them")):
        bundle = runner.bundle(4, 2, 32, False, False, carry)
        try:
            runner.run(bundle, q, k, v, init_max=init)
        except Failure as e:
            if want not in str(e):
                raise Failure(f"expected {want!r}, got: {e}")
            notes.append(str(e).split(": ", 3)[-1][:60] + "...")
            continue
        raise Failure(f"no error, expected {want!r}")
    return notes


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--lib", required=True,
                        help="libskipattn_runtime.so")
    parser.add_argument("--binding", required=True,
                        help="the directory of skipattn_runtime.py")
    parser.add_argument("--workdir")
    parser.add_argument("--seed", type=lambda s: int(s, 0))
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="skipattn-initmax-")
    os.makedirs(workdir, exist_ok=True)
    runner = Runner(args.bin, args.lib, args.binding, workdir)
    checks = [("none", check_none), ("carried", check_carried),
              ("bound", check_bound)]
    log = ar.CaseLog()
    for case in CASES:
        for name, check in checks:
            if name == "carried" and case[6]:
                continue  # a causal mask moves with each part's length
            if name == "bound" and not case[6]:
                continue
            for skip in (False, True):
                seed = ar.case_seed(args.seed)
                rng = np.random.default_rng(seed)
                tag = "b=%d hq=%d hkv=%d sq=%d skv=%d d=%d causal=%d" % case
                log.run(f"{name} {'skip' if skip else 'dense'} {tag}",
                        lambda: check(runner, rng, case, skip), seed)
    log.run("errors", lambda: check_errors(runner))
    status = log.summary("init_max")
    if args.workdir is None and not log.failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
