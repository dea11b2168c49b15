#!/usr/bin/env python3
"""skipattn-calibrate: the one-pass margins against the section-4 simulator
and the CPU bundle's counters, and held-out sparsity within 2 points of the
targets {0.5, 0.7, 0.9} on CPU bundles."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "Numerics"))
sys.dont_write_bytecode = True

import skipattn  # noqa: E402
from skipattn import calibrate as cal  # noqa: E402
import attention_ref as ar  # noqa: E402


def structured(rng, b, h, sq, skv, d):
    """Long-context-like scores: a sink key, random per-block key offsets
    (so tile maxima spread over a range), gaussian noise."""
    q = rng.standard_normal((b, h, sq, d))
    k = rng.standard_normal((b, h, skv, d))
    k[:, :, 0] *= 0.0
    q[..., 0] = 4.0
    k[:, :, 0, 0] = 12.0
    nkb = (skv + 63) // 64
    bias = rng.uniform(0.0, 20.0, (b, h, nkb))
    k[..., 1] += np.repeat(bias, 64, axis=-1)[..., :skv]
    q[..., 1] = 1.5
    return q.astype(np.float32), k.astype(np.float32), \
        rng.standard_normal((b, h, skv, d)).astype(np.float32)


class OnePass(unittest.TestCase):
    def test_matches_simulator_and_bundle(self):
        rng = np.random.default_rng(3)
        for causal in (False, True):
            q, k, v = structured(rng, 1, 2, 130, 700, 32)
            margins = cal.tile_margins(q, k, causal)
            for lam in (0.5, 0.2, 0.05, 1e-2, 1e-3):
                pred = ar.predict(q, k, causal, lam, 64, 64)
                self.assertEqual(margins.size, pred.tiles_total)
                self.assertEqual(
                    int(np.count_nonzero(margins < math.log(lam))),
                    pred.tiles_skipped, (causal, lam))
                if pred.min_margin < 1e-3:
                    continue
                _, st = skipattn.attention(
                    *(torch.from_numpy(x) for x in (q, k, v)), causal=causal,
                    skip={"lambda": lam, "min_kv_len": 0}, return_stats=True)
                self.assertEqual(st["tiles_skipped"], pred.tiles_skipped)
                self.assertEqual(st["tiles_total"], pred.tiles_total)


class HeldOut(unittest.TestCase):
    def test_targets(self):
        rng = np.random.default_rng(11)
        skv = 1024
        train = [structured(rng, 2, 4, 128, skv, 32) for _ in range(2)]
        with tempfile.TemporaryDirectory() as tmp:
            args = []
            for i, (q, k, v) in enumerate(train):
                for name, x in (("q", q), ("k", k), ("v", v)):
                    path = os.path.join(tmp, f"{name}{i}.npy")
                    np.save(path, x)
                    args += [f"--{name}", path]
            out = os.path.join(tmp, "calib.json")
            proc = subprocess.run(
                [sys.executable, os.path.join(HERE, "..", "bin",
                                              "skipattn-calibrate")] + args +
                ["--target-sparsity", "0.5,0.7,0.9", "-o", out],
                capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            calib = json.load(open(out))
        self.assertEqual(json.loads(proc.stdout), calib)
        fit = calib["calibration"]["prefill"]["fit"]
        self.assertGreater(fit["a"], 0)
        test = structured(rng, 2, 4, 128, skv, 32)
        qt, kt, vt = (torch.from_numpy(x) for x in test)
        for target in (0.5, 0.7, 0.9):
            _, st = skipattn.attention(
                qt, kt, vt, skip=dict(calib, target=target, min_kv_len=0),
                return_stats=True)
            print(f"target {target}: held-out sparsity {st['sparsity']:.4f} "
                  f"lambda {st['lambda']:.3g}")
            self.assertLess(abs(st["sparsity"] - target), 0.02)


class Layers(unittest.TestCase):
    """Per-layer settings and a merged decode phase, as skipattn.attention
    selects them."""

    def test_layer_and_phase(self):
        rng = np.random.default_rng(5)
        wide = structured(rng, 1, 2, 128, 1024, 32)
        narrow = structured(rng, 1, 2, 128, 1024, 32)
        narrow[1][..., 1] *= 0.25          # key offsets over 5, not 20
        res = {"wide": cal.calibrate([wide[:2]], [0.5]),
               "narrow": cal.calibrate([narrow[:2]], [0.5])}
        pooled = cal.calibrate([wide[:2], narrow[:2]], [0.5])
        calib = cal.calibration_json(
            prefill=pooled,
            layers={n: {"prefill": r} for n, r in res.items()})
        calib = cal.merge_calibration(
            calib, cal.calibration_json(decode=res["narrow"]))
        factor = {n: r["entry"]["targets"][0]["factor"]
                  for n, r in res.items()}
        self.assertNotAlmostEqual(factor["wide"], factor["narrow"], places=3)
        q, k, v = (torch.from_numpy(x) for x in wide)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "calib.json")
            with open(path, "w") as f:
                json.dump(calib, f)
            for skip, want in (
                    (dict(calib, target=0.5, layer="wide"), factor["wide"]),
                    (dict(calib, target=0.5, layer="narrow"),
                     factor["narrow"]),
                    ({"calibration": path, "target": 0.5, "phase": "decode"},
                     factor["narrow"]),
                    (dict(calib, target=0.5),
                     pooled["entry"]["targets"][0]["factor"])):
                _, st = skipattn.attention(
                    q, k, v, skip=dict(skip, min_kv_len=0), return_stats=True)
                self.assertAlmostEqual(st["lambda"] * 1024 / want, 1.0,
                                       places=6)
        with self.assertRaises(ValueError) as cm:
            skipattn.attention(q, k, v, skip=dict(calib, target=0.5,
                                                  layer="deep"))
        self.assertIn("no layer 'deep'", str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
