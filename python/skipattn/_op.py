"""skipattn.attention: argument checks, skip settings, the CPU and CUDA paths
and the torch custom-op registration."""
import ctypes
import json
import math
import os

import torch

from . import _bundles
from ._bundles import SkipattnError, BundleKey

DEFAULT_BLOCK_M = 64
DEFAULT_BLOCK_N = 64
# Below this many keys skipping is not worth its accuracy risk (the most
# common complaint about skip softmax is collapse on short prompts): the
# op runs dense and the stats say why. A skip setting may override it.
DEFAULT_MIN_KV_LEN = 1024

_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


# ===----------------------------------------------------------------------===
# Skip settings
# ===----------------------------------------------------------------------===

def resolve_skip(skip, kv_len):
    """(lambda, min_kv_len, dense_reason or None) for a skip setting.

    skip is None (dense), a float (the threshold lambda itself), or a dict:
    {"lambda": x} or {"factor": F} (lambda = F / kv_len), optionally with
    "min_kv_len", or a calibration JSON from skipattn-calibrate (a dict with
    "prefill"/"decode" entries, or a path to such a file) plus "target".
    """
    if skip is None:
        return 0.0, 0, "no skip setting"
    if isinstance(skip, (str, os.PathLike)):
        with open(skip) as f:
            skip = json.load(f)
    if isinstance(skip, bool):
        raise TypeError("skip must be None, a float lambda or a dict, got bool")
    if isinstance(skip, (int, float)):
        setting = {"lambda": float(skip)}
    elif isinstance(skip, dict):
        setting = _select_calibrated(skip, kv_len)
    else:
        raise TypeError("skip must be None, a float lambda, a dict or a "
                        "calibration file, got %s" % type(skip).__name__)
    min_kv = int(setting.get("min_kv_len", DEFAULT_MIN_KV_LEN))
    if "lambda" in setting and "factor" in setting:
        raise ValueError("skip gives both 'lambda' and 'factor'; give one")
    if "factor" in setting:
        lam = float(setting["factor"]) / kv_len if kv_len > 0 else 0.0
    elif "lambda" in setting:
        lam = float(setting["lambda"])
    else:
        raise ValueError("skip dict needs 'lambda' or 'factor' (or a "
                         "calibration with 'target'), got keys %s" %
                         sorted(setting))
    if not math.isfinite(lam):
        raise ValueError("skip lambda must be finite, got %r" % lam)
    if lam <= 0.0:
        return 0.0, min_kv, "lambda <= 0"
    if lam >= 1.0:
        return 0.0, min_kv, "lambda >= 1 (would skip nearly everything)"
    if kv_len < min_kv:
        return 0.0, min_kv, "kv_len %d below min_kv_len %d" % (kv_len, min_kv)
    return lam, min_kv, None


def _select_calibrated(skip, kv_len):
    """A calibration JSON (see skipattn.calibrate) -> one plain setting."""
    if "calibration" not in skip:
        return skip
    cal = skip["calibration"]
    phase = skip.get("phase", "prefill")
    if phase not in cal:
        raise ValueError("calibration has no %r entry (has %s)" %
                         (phase, sorted(cal)))
    entry = cal[phase]
    if "target" not in skip:
        raise ValueError("a calibration needs 'target' (a sparsity in [0, 1))")
    target = float(skip["target"])
    for t in entry["targets"]:
        if abs(t["target"] - target) < 1e-9:
            out = {"factor": t["factor"]}
            break
    else:
        fit = entry["fit"]
        out = {"factor": fit["a"] * math.exp(fit["b"] * target)}
    if "min_kv_len" in skip:
        out["min_kv_len"] = skip["min_kv_len"]
    elif "min_kv_len" in entry:
        out["min_kv_len"] = entry["min_kv_len"]
    return out


# ===----------------------------------------------------------------------===
# Argument checks
# ===----------------------------------------------------------------------===

def _check_inputs(q, k, v, scale, mask):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError("%s must be a torch.Tensor, got %s" %
                            (name, type(t).__name__))
        if t.dim() != 4:
            raise ValueError("%s must be 4-D [B, H, S, D] (the layout of "
                             "scaled_dot_product_attention), got shape %s" %
                             (name, tuple(t.shape)))
    if mask is not None:
        raise NotImplementedError(
            "skipattn.attention: mask is not supported yet (the bundles built "
            "from flags take no mask operand); use causal=True or SDPA")
    if q.dtype not in _DTYPES:
        raise TypeError("q dtype %s is not supported (float32, float16, "
                        "bfloat16)" % q.dtype)
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            raise TypeError("%s dtype %s differs from q dtype %s" %
                            (name, t.dtype, q.dtype))
        if t.device != q.device:
            raise ValueError("%s is on %s but q is on %s" %
                             (name, t.device, q.device))
    if q.device.type not in ("cpu", "cuda"):
        raise ValueError("skipattn.attention runs on cpu or cuda tensors, "
                         "got %s" % q.device)
    b, hq, sq, d = q.shape
    if k.shape[0] != b or v.shape[0] != b:
        raise ValueError("batch sizes differ: q %d, k %d, v %d" %
                         (b, k.shape[0], v.shape[0]))
    if k.shape[1] != v.shape[1]:
        raise ValueError("k heads (%d) and v heads (%d) differ" %
                         (k.shape[1], v.shape[1]))
    if k.shape[1] == 0 or hq % k.shape[1] != 0:
        raise ValueError("number of query heads (%d) must be a multiple of "
                         "key/value heads (%d)" % (hq, k.shape[1]))
    if k.shape[2] != v.shape[2]:
        raise ValueError("k length (%d) and v length (%d) differ" %
                         (k.shape[2], v.shape[2]))
    if k.shape[3] != d:
        raise ValueError("k head dim (%d) differs from q head dim (%d)" %
                         (k.shape[3], d))
    if min(b, hq, sq, d, k.shape[2], v.shape[3]) == 0:
        raise ValueError("empty dimension in q %s, k %s, v %s" %
                         (tuple(q.shape), tuple(k.shape), tuple(v.shape)))
    if scale is not None and not (isinstance(scale, (int, float)) and
                                  math.isfinite(scale) and scale > 0):
        raise ValueError("scale must be a positive finite number, got %r" %
                         (scale,))


# ===----------------------------------------------------------------------===
# The kernel call (both devices)
# ===----------------------------------------------------------------------===

def _key(q, k, v, causal, skip, block_m, block_n):
    target = "cpu" if q.device.type == "cpu" else "gpu"
    chip = ""
    if target == "gpu":
        major, minor = torch.cuda.get_device_capability(q.device)
        chip = "sm_90a" if (major, minor) == (9, 0) else "sm_80"
    return BundleKey(target, _DTYPES[q.dtype], q.shape[1], k.shape[1],
                     q.shape[3], v.shape[3], causal, skip, block_m, block_n,
                     chip=chip)


def _run(q, k, v, causal, scale, lam, skip):
    """out [B, Hq, Sq, Dv] and stats int64 [2] {tiles_total, tiles_skipped}.

    The bundles have the default scale 1/sqrt(D) built in; another scale is
    applied by scaling q (exact in f32 up to one rounding of q).
    """
    d = q.shape[3]
    if scale is not None and abs(scale * math.sqrt(d) - 1.0) > 1e-12:
        q = q * (scale * math.sqrt(d))
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty(q.shape[:3] + (v.shape[3],), dtype=q.dtype,
                      device=q.device)
    stats = torch.zeros(2, dtype=torch.int64)
    handle = _bundles.load(_key(q, k, v, causal, skip, DEFAULT_BLOCK_M,
                                DEFAULT_BLOCK_N))
    lib = _bundles.runtime()
    shape = _bundles._Shape(q.shape[0], q.shape[1], k.shape[1], q.shape[2],
                            k.shape[2], q.shape[3], v.shape[3])
    counters = (ctypes.c_int64 * 2)() if skip else None
    if q.device.type == "cpu":
        _bundles.check(lib.skipattn_run_host(
            handle, ctypes.byref(shape), q.data_ptr(), k.data_ptr(),
            v.data_ptr(), None, None, out.data_ptr(), lam, counters))
    else:
        out_stats = _run_cuda(lib, handle, shape, q, k, v, out, lam,
                              counters)
        return out, out_stats
    if counters is not None:
        stats[0], stats[1] = counters[0], counters[1]
    return out, stats


def _run_cuda(lib, handle, shape, q, k, v, out, lam, counters):
    """GPU path: queues the bundle on torch's current stream. With counters
    (a skip bundle) the runtime waits for the stream to read them back."""
    stream = torch.cuda.current_stream(q.device).cuda_stream
    with torch.cuda.device(q.device):
        _bundles.check(lib.skipattn_run_device(
            handle, ctypes.byref(shape), q.data_ptr(), k.data_ptr(),
            v.data_ptr(), None, None, out.data_ptr(), lam, counters,
            ctypes.c_void_p(stream)))
    stats = torch.zeros(2, dtype=torch.int64)
    if counters is not None:
        stats[0], stats[1] = counters[0], counters[1]
    return stats


# ===----------------------------------------------------------------------===
# Custom op registration (torch >= 2.4: torch.library.custom_op)
# ===----------------------------------------------------------------------===

HAS_CUSTOM_OP = hasattr(torch, "library") and hasattr(torch.library,
                                                       "custom_op")

if HAS_CUSTOM_OP:
    @torch.library.custom_op("skipattn::attention", mutates_args=())
    def _attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      causal: bool, scale: float, lam: float,
                      skip: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return _run(q, k, v, causal, scale if scale > 0 else None, lam, skip)

    @_attention_op.register_fake
    def _(q, k, v, causal, scale, lam, skip):
        out = q.new_empty(q.shape[:3] + (v.shape[3],))
        return out, torch.empty(2, dtype=torch.int64)

    def _call(q, k, v, causal, scale, lam, skip):
        return _attention_op(q, k, v, causal,
                             -1.0 if scale is None else float(scale), lam, skip)
else:
    def _call(q, k, v, causal, scale, lam, skip):
        return _run(q, k, v, causal, scale, lam, skip)


def _visited_tiles(b, hq, sq, skv, causal, block_m=DEFAULT_BLOCK_M,
                   block_n=DEFAULT_BLOCK_N):
    """tiles_total of DESIGN.md section 4 for a dense run (no counters)."""
    total = 0
    for qb in range((sq + block_m - 1) // block_m):
        if not causal:
            total += (skv + block_n - 1) // block_n
            continue
        last_row = min(sq, (qb + 1) * block_m) - 1
        max_key = min(skv, last_row + (skv - sq) + 1) - 1
        total += 0 if max_key < 0 else max_key // block_n + 1
    return b * hq * total


# ===----------------------------------------------------------------------===
# Public entry
# ===----------------------------------------------------------------------===

def attention(q, k, v, *, causal=False, scale=None, skip=None, mask=None,
              return_stats=False):
    """Attention on [B, H, S, D] torch tensors with optional Skip-Softmax.

    Non-contiguous inputs are copied to contiguous ones (the kernels read
    the op layout densely). With return_stats, also returns a dict:
    tiles_total, tiles_skipped, sparsity, lambda (the one used, 0 when
    dense), dense (True when the op ran without skipping) and dense_reason.
    """
    _check_inputs(q, k, v, scale, mask)
    if not isinstance(causal, bool):
        raise TypeError("causal must be a bool")
    kv_len = k.shape[2]
    lam, min_kv, reason = resolve_skip(skip, kv_len)
    use_skip = reason is None
    # A skip setting runs the skip bundle (at lambda 0 when a guard turns
    # skipping off, so the counters still come from the kernel).
    out, counters = _call(q, k, v, causal, scale, lam, skip is not None)
    if not return_stats:
        return out
    total, skipped = int(counters[0]), int(counters[1])
    if skip is None:
        total = _visited_tiles(q.shape[0], q.shape[1], q.shape[2], kv_len,
                               causal)
    stats = {"tiles_total": total, "tiles_skipped": skipped,
             "sparsity": skipped / total if total else 0.0,
             "lambda": lam, "dense": not use_skip, "dense_reason": reason,
             "min_kv_len": min_kv}
    return out, stats
