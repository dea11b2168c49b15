#!/usr/bin/env python3
"""skipattn.attention on CPU against torch SDPA-in-float64 (or its float64
formula where torch 1.13's SDPA lacks GQA/causal alignment), skip counts
against the DESIGN.md section 4 simulator, the guards and every error case.

Needs SKIPATTN_BIN (skipattn-compile's directory) and SKIPATTN_CACHE set, or
a build tree next to python/.
"""
import math
import os
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "Numerics"))
sys.dont_write_bytecode = True

import skipattn  # noqa: E402
import attention_ref as ar  # noqa: E402


def reference(q, k, v, causal, scale=None, mask=None):
    """float64 attention in the SDPA layout; GQA by repeating K/V heads;
    causal bottom-right aligned (the op's convention); mask bool (True
    attends) or additive; rows with nothing to attend to give zeros."""
    if mask is not None:
        return masked_reference(q, k, v, causal, scale, mask)
    q, k, v = (t.double() for t in (q, k, v))
    g = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(g, dim=1)
    v = v.repeat_interleave(g, dim=1)
    sq, skv = q.shape[2], k.shape[2]
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    mask = None
    if causal:
        i = torch.arange(sq)[:, None]
        j = torch.arange(skv)[None, :]
        mask = j <= i + (skv - sq)
    if sdpa is not None and (not causal or (mask.any(dim=1).all())):
        kw = {"attn_mask": mask} if causal else {}
        if "scale" in sdpa.__doc__:
            kw["scale"] = scale
            return sdpa(q, k, v, **kw)
        return sdpa(q * (scale * math.sqrt(q.shape[3])), k, v, **kw)
    s = torch.einsum("bhid,bhjd->bhij", q, k) * scale
    if causal:
        s = s.masked_fill(~mask, -math.inf)
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)
    return torch.einsum("bhij,bhjd->bhid", p, v)


def masked_reference(q, k, v, causal, scale, mask):
    """The formula, in float64, with a mask (torch 1.13 has no SDPA; SDPA
    also gives NaN for fully masked rows where the op gives zeros)."""
    q, k, v = (t.double() for t in (q, k, v))
    g = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(g, dim=1)
    v = v.repeat_interleave(g, dim=1)
    sq, skv = q.shape[2], k.shape[2]
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    s = torch.einsum("bhid,bhjd->bhij", q, k) * scale
    if mask.dtype == torch.bool:
        s = s.masked_fill(~mask, -math.inf)
    else:
        s = s + mask.double()
    if causal:
        i = torch.arange(sq)[:, None]
        j = torch.arange(skv)[None, :]
        s = s.masked_fill(~(j <= i + (skv - sq)), -math.inf)
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)
    return torch.einsum("bhij,bhjd->bhid", p, v)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-30))


class Dense(unittest.TestCase):
    def check(self, b, hq, hkv, sq, skv, d, causal, dv=None, scale=None,
              dtype=torch.float32, tol=2e-5):
        g = torch.Generator().manual_seed(sq * 1000 + skv + hkv)
        q = torch.randn(b, hq, sq, d, generator=g).to(dtype)
        k = torch.randn(b, hkv, skv, d, generator=g).to(dtype)
        v = torch.randn(b, hkv, skv, dv or d, generator=g).to(dtype)
        out = skipattn.attention(q, k, v, causal=causal, scale=scale)
        self.assertEqual(out.shape, (b, hq, sq, dv or d))
        self.assertEqual(out.dtype, dtype)
        err = rel_err(out, reference(q, k, v, causal, scale))
        self.assertLess(err, tol, f"b{b} hq{hq} hkv{hkv} sq{sq} skv{skv} "
                                  f"d{d} causal={causal}")

    def test_full(self):
        self.check(2, 4, 4, 64, 64, 32, False)

    def test_gqa_ragged(self):
        for sq, skv in ((1, 63), (7, 129), (65, 200), (200, 65)):
            self.check(1, 4, 2, sq, skv, 32, False)

    def test_causal_gqa_ragged(self):
        for sq, skv in ((1, 63), (7, 129), (65, 200), (130, 130)):
            self.check(2, 4, 1, sq, skv, 32, True)

    def test_scale(self):
        self.check(1, 2, 2, 33, 70, 32, False, scale=0.3)

    def test_noncontiguous(self):
        q = torch.randn(1, 40, 2, 32).transpose(1, 2)   # [1, 2, 40, 32]
        k = torch.randn(1, 50, 2, 32).transpose(1, 2)
        v = torch.randn(1, 2, 32, 50).transpose(2, 3)
        self.assertFalse(q.is_contiguous())
        out = skipattn.attention(q, k, v)
        self.assertLess(rel_err(out, reference(q, k, v, False)), 2e-5)

    def test_dense_stats(self):
        q = torch.randn(1, 2, 100, 32)
        k = torch.randn(1, 2, 130, 32)
        out, st = skipattn.attention(q, k, k, causal=True, return_stats=True)
        want = ar.visited_counts(100, 130, True, 64, 64).sum() * 2
        self.assertEqual(st["tiles_total"], want)
        self.assertEqual(st["tiles_skipped"], 0)
        self.assertTrue(st["dense"])
        self.assertEqual(st["tiles_total_per_head"].tolist(),
                         [[want // 2] * 2])
        self.assertEqual(st["tiles_skipped_per_head"].tolist(), [[0, 0]])


class Mask(unittest.TestCase):
    """mask= on CPU bundles against the float64 formula."""

    def check(self, mask_shape, dtype=torch.bool, causal=False, hq=4, hkv=2,
              sq=70, skv=130, b=2, expand=False, skip=None):
        g = torch.Generator().manual_seed(sq + skv + len(mask_shape))
        q = torch.randn(b, hq, sq, 32, generator=g)
        k = torch.randn(b, hkv, skv, 32, generator=g)
        v = torch.randn(b, hkv, skv, 32, generator=g)
        if dtype == torch.bool:
            mask = torch.rand(mask_shape, generator=g) < 0.6
        else:
            mask = torch.randn(mask_shape, generator=g).to(dtype) * 2.0
            mask[..., :3] = -math.inf   # padding-like entries
        given = mask
        if expand:
            full = (b, hq, sq, skv)[4 - len(mask_shape):]
            given = mask.expand(*full)
            self.assertEqual(given.stride()[0], 0)
        out = skipattn.attention(q, k, v, causal=causal, mask=given,
                                 skip=skip)
        ref = reference(q, k, v, causal, mask=mask)
        self.assertLess(rel_err(out, ref), 2e-5,
                        f"mask {mask_shape} {dtype} causal={causal}")
        return out

    def test_bool_shapes(self):
        for shape in ((1, 1, 70, 130), (2, 1, 1, 130), (2, 4, 70, 130),
                      (70, 130), (130,)):
            self.check(shape)

    def test_additive(self):
        self.check((2, 1, 1, 130), dtype=torch.float32)
        self.check((1, 4, 70, 130), dtype=torch.float32, causal=True)

    def test_causal_and_mask(self):
        self.check((1, 1, 70, 130), causal=True)

    def test_expanded_is_narrowed(self):
        self.check((1, 1, 70, 130), expand=True)

    def test_fully_masked_rows_are_zero(self):
        q = torch.randn(1, 2, 8, 32)
        k = torch.randn(1, 2, 16, 32)
        mask = torch.ones(8, 16, dtype=torch.bool)
        mask[3] = False
        out = skipattn.attention(q, k, k, mask=mask)
        self.assertEqual(float(out[:, :, 3].abs().max()), 0.0)
        self.assertLess(rel_err(out, reference(q, k, k, False, mask=mask)),
                        2e-5)

    def test_with_skip_setting(self):
        # Skipping stays off below min_kv_len: the masked dense result.
        self.check((2, 1, 1, 130), skip={"lambda": 1e-3})


class Skip(unittest.TestCase):
    def test_counts_match_simulator(self):
        rng = np.random.default_rng(7)
        for causal in (False, True):
            q, k, v = ar.planted_inputs(rng, 1, 4, 2, 128, 512, 32,
                                        causal)[:3]
            # Query head 1 without the plant: it skips less than the others.
            q = q.copy()
            q[:, 1] = rng.standard_normal(q[:, 1].shape).astype(q.dtype)
            qt, kt, vt = (torch.from_numpy(np.ascontiguousarray(x))
                          for x in (q, k, v))
            for lam in (1e-3, 1e-2):
                pred = ar.predict(q, k, causal, lam, 64, 64)
                if pred.min_margin < 1e-3:
                    continue
                out, st = skipattn.attention(
                    qt, kt, vt, causal=causal,
                    skip={"lambda": lam, "min_kv_len": 0}, return_stats=True)
                self.assertFalse(st["dense"])
                self.assertEqual(st["tiles_total"], pred.tiles_total)
                self.assertEqual(st["tiles_skipped"], pred.tiles_skipped)
                self.assertGreater(st["tiles_skipped"], 0)
                # Per (batch, query head), and the heads differ, so a count
                # in the wrong head shows.
                heads = pred.skipped.sum(axis=(2, 3))
                self.assertEqual(st["tiles_total_per_head"].tolist(),
                                 pred.visited.sum(axis=2).tolist())
                self.assertEqual(st["tiles_skipped_per_head"].tolist(),
                                 heads.tolist())
                self.assertGreater(len(set(heads.ravel().tolist())), 1)
                ref = ar.reference_attention(q, k, v, causal,
                                             dropped=pred.skipped)
                self.assertLess(rel_err(out, torch.from_numpy(ref)), 2e-5)

    def test_factor(self):
        q = torch.randn(1, 2, 64, 32)
        k = torch.randn(1, 2, 256, 32)
        _, st = skipattn.attention(q, k, k, skip={"factor": 0.256,
                                                  "min_kv_len": 0},
                                   return_stats=True)
        self.assertAlmostEqual(st["lambda"], 1e-3, places=9)

    def test_guards(self):
        q = torch.randn(1, 2, 64, 32)
        k = torch.randn(1, 2, 256, 32)
        ref = reference(q, k, k, False)
        for skip, why in ((0.5, "below min_kv_len"),
                          ({"factor": 300.0, "min_kv_len": 0}, "lambda >= 1"),
                          ({"lambda": 0.0, "min_kv_len": 0}, "lambda <= 0")):
            out, st = skipattn.attention(q, k, k, skip=skip, return_stats=True)
            self.assertTrue(st["dense"], skip)
            self.assertIn(why, st["dense_reason"])
            self.assertEqual(st["tiles_skipped"], 0)
            self.assertEqual(st["tiles_total"], 4 * 2)
            self.assertLess(rel_err(out, ref), 2e-5)
        # The same setting above min_kv_len does skip.
        _, st = skipattn.attention(q, k, k, skip={"lambda": 0.5,
                                                  "min_kv_len": 0},
                                   return_stats=True)
        self.assertFalse(st["dense"])


class Errors(unittest.TestCase):
    def raises(self, exc, text, *args, **kw):
        with self.assertRaises(exc) as cm:
            skipattn.attention(*args, **kw)
        self.assertIn(text, str(cm.exception))

    def test_errors(self):
        q = torch.randn(1, 4, 8, 32)
        k = torch.randn(1, 2, 8, 32)
        self.raises(TypeError, "float64", q.double(), k.double(), k.double())
        self.raises(TypeError, "differs from q dtype", q, k.half(), k)
        self.raises(TypeError, "torch.Tensor", q.numpy(), k, k)
        self.raises(ValueError, "4-D", q[0], k, k)
        self.raises(ValueError, "multiple of key/value heads",
                    q, torch.randn(1, 3, 8, 32), torch.randn(1, 3, 8, 32))
        self.raises(ValueError, "batch sizes differ", q,
                    torch.randn(2, 2, 8, 32), torch.randn(2, 2, 8, 32))
        self.raises(ValueError, "k head dim", q, torch.randn(1, 2, 8, 16),
                    torch.randn(1, 2, 8, 16))
        self.raises(ValueError, "k length", q, k, torch.randn(1, 2, 9, 32))
        self.raises(ValueError, "k heads", q, k, torch.randn(1, 1, 8, 32))
        self.raises(ValueError, "empty", q[:, :, :0], k, k)
        self.raises(ValueError, "scale", q, k, k, scale=-1.0)
        self.raises(TypeError, "mask dtype", q, k, k,
                    mask=torch.ones(1, 1, 8, 8, dtype=torch.float64))
        self.raises(TypeError, "mask dtype", q, k, k,
                    mask=torch.ones(1, 1, 8, 8, dtype=torch.int32))
        self.raises(TypeError, "mask must be a torch.Tensor", q, k, k,
                    mask=[[True]])
        self.raises(ValueError, "mask dim 1 (2) must be 1 or the query heads",
                    q, k, k, mask=torch.ones(1, 2, 8, 8, dtype=torch.bool))
        self.raises(ValueError, "mask dim 3 (9) must be 1 or the key length",
                    q, k, k, mask=torch.ones(8, 9, dtype=torch.bool))
        self.raises(ValueError, "1 to 4 dims", q, k, k,
                    mask=torch.ones(1, 1, 1, 8, 8, dtype=torch.bool))
        self.raises(ValueError, "'lambda' or 'factor'", q, k, k, skip={})
        self.raises(TypeError, "skip must be", q, k, k, skip=[1e-3])
        # The runtime's rule for lambda, as skipattn-run and the C API have it.
        for lam in (1.0, -0.1, float("nan"), float("inf")):
            self.raises(ValueError, "skip lambda must be in [0, 1)", q, k, k,
                        skip=lam)
        self.raises(ValueError, "skip factor must be a finite number", q, k,
                    k, skip={"factor": -1.0})
        if hasattr(torch, "device"):
            meta = torch.empty(1, 4, 8, 32, device="meta")
            self.raises(ValueError, "cpu or cuda", meta,
                        k.to("meta"), k.to("meta"))

    def test_missing_compiler(self):
        old = dict(os.environ)
        try:
            os.environ["SKIPATTN_BIN"] = "/nonexistent"
            os.environ["SKIPATTN_CACHE"] = os.environ.get(
                "SKIPATTN_CACHE", "/tmp") + "/empty-cache"
            from skipattn import _bundles
            _bundles._loaded.clear()
            self.raises(skipattn.SkipattnError, "skipattn-compile not found",
                        torch.randn(1, 3, 8, 32), torch.randn(1, 3, 8, 32),
                        torch.randn(1, 3, 8, 32))
        finally:
            os.environ.clear()
            os.environ.update(old)


class Cache(unittest.TestCase):
    def test_key_and_reuse(self):
        from skipattn import _bundles
        a = _bundles.BundleKey("cpu", "f32", 4, 2, 32, 32, False, False, 64, 64)
        b = _bundles.BundleKey("cpu", "f32", 4, 2, 32, 32, True, False, 64, 64)
        c = _bundles.BundleKey("cpu", "f32", 4, 2, 32, 32, False, False, 64, 32)
        comp = _bundles.compiler_path()
        digests = {x.digest(comp) for x in (a, b, c)}
        self.assertEqual(len(digests), 3)
        d = _bundles.bundle_dir(a)
        self.assertTrue(os.path.isfile(os.path.join(d, "cache_key.json")))
        self.assertEqual(_bundles.bundle_dir(a), d)
        m = _bundles.BundleKey("cpu", "f32", 4, 2, 32, 32, False, False, 64,
                               64, mask={"dtype": "i1",
                                         "shape": ["?", 1, 1, "?"]})
        self.assertNotEqual(m.digest(comp), a.digest(comp))

    def test_cache_without_compiler(self):
        # A GPU machine has no compiler: a cache filled elsewhere serves.
        from skipattn import _bundles
        a = _bundles.BundleKey("cpu", "f32", 2, 2, 32, 32, True, False, 64, 64)
        d = _bundles.bundle_dir(a)
        old = os.environ.get("SKIPATTN_BIN")
        os.environ["SKIPATTN_BIN"] = "/nonexistent"
        try:
            self.assertEqual(_bundles.bundle_dir(a), d)
            other = _bundles.BundleKey("cpu", "f32", 2, 2, 32, 32, True, True,
                                       64, 64)
            with self.assertRaises(skipattn.SkipattnError) as cm:
                _bundles.bundle_dir(other)
            self.assertIn("nor does", str(cm.exception))
        finally:
            if old is None:
                del os.environ["SKIPATTN_BIN"]
            else:
                os.environ["SKIPATTN_BIN"] = old


if __name__ == "__main__":
    print("torch", torch.__version__, "custom op:", skipattn.HAS_CUSTOM_OP,
          flush=True)
    unittest.main(verbosity=2)
