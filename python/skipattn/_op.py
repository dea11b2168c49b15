"""skipattn.attention: argument checks, skip settings, the CPU and CUDA paths
and the torch custom-op registration."""
import ctypes
import json
import math
import os
from typing import Optional, Tuple

import torch

from . import _bundles
from ._bundles import BundleKey

# Below this many keys skipping is not worth its accuracy risk (the most
# common complaint about skip softmax is collapse on short prompts): the
# op runs dense and the stats say why. A skip setting may override it.
DEFAULT_MIN_KV_LEN = 1024

_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


# On the GPU a call with at most this many queries per sequence runs the
# split-KV decode kernels (KernelConfig::kDecodeWideQueries), whose kv-block
# is at most 64 keys (KernelConfig::decodeBlockN) and whose query block holds
# every query of the call.
GPU_DECODE_MAX_QUERIES = 8
GPU_DECODE_MAX_BLOCK_N = 64


def block_sizes(device, causal, head_dim, q_len=None):
    """(block_m, block_n) of the bundles the op runs on `device`: the CPU's
    64 x 64, else skipattn-compile's defaults for the GPU's chip (sm_90a
    64 x 128; sm_80 128 x 64, or 64 x 64 for causal head dims below 128).
    With q_len, the tile of the kernel that serves that many queries per
    sequence: on the GPU up to 8 queries run the split-KV decode kernel,
    which visits kv-blocks of at most 64 keys.
    Calibrate with these (skipattn-calibrate --block-m/--block-n)."""
    device = torch.device(device)
    chip = chip_of(device) if device.type == "cuda" else ""
    bm, bn = _block_sizes(chip, causal, head_dim)
    if chip and q_len is not None and q_len <= GPU_DECODE_MAX_QUERIES:
        return GPU_DECODE_MAX_QUERIES, min(bn, GPU_DECODE_MAX_BLOCK_N)
    return bm, bn


def _block_sizes(chip, causal, head_dim):
    if not chip:
        return 64, 64
    if chip == "sm_90a":
        return 64, 128
    return (64 if causal and head_dim < 128 else 128), 64


def chip_of(device):
    """The bundle chip for a CUDA device: sm_90a on compute capability 9.0,
    else sm_80 (any later device runs it through the PTX JIT)."""
    major, minor = torch.cuda.get_device_capability(device)
    return "sm_90a" if (major, minor) == (9, 0) else "sm_80"


# ===----------------------------------------------------------------------===
# Skip settings
# ===----------------------------------------------------------------------===

def resolve_skip(skip, kv_len):
    """(lambda, min_kv_len, dense_reason or None) for a skip setting.

    skip is None (dense), a float (the threshold lambda itself), or a dict:
    {"lambda": x} or {"factor": F} (lambda = F / kv_len), optionally with
    "min_kv_len", or a calibration from skipattn-calibrate plus "target"
    (and optionally "phase" and "layer"): its JSON as a dict, or
    {"calibration": "calib.json", "target": ...}.
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
    # The runtime's rule (runtime.h, skipattn-run): a lambda given is in
    # [0, 1), 0 turning skipping off; a factor is finite and at least 0,
    # and a kv_len not above it gives lambda >= 1, skipping off.
    if "factor" in setting:
        factor = float(setting["factor"])
        if not (math.isfinite(factor) and factor >= 0.0):
            raise ValueError("skip factor must be a finite number at least 0 "
                             "(0 turns skipping off), got %r" % factor)
        lam = factor / kv_len if kv_len > 0 else 0.0
    elif "lambda" in setting:
        lam = float(setting["lambda"])
        if not 0.0 <= lam < 1.0:
            raise ValueError("skip lambda must be in [0, 1) (0 turns skipping "
                             "off), got %r" % lam)
    else:
        raise ValueError("skip dict needs 'lambda' or 'factor' (or a "
                         "calibration with 'target'), got keys %s" %
                         sorted(setting))
    if lam == 0.0:
        return 0.0, min_kv, "lambda <= 0"
    if lam >= 1.0:
        return 0.0, min_kv, "lambda >= 1 (would skip nearly everything)"
    if kv_len < min_kv:
        return 0.0, min_kv, "kv_len %d below min_kv_len %d" % (kv_len, min_kv)
    return lam, min_kv, None


def _select_calibrated(skip, kv_len):
    """A calibration JSON (see skipattn.calibrate) -> one plain setting: of
    skip["layer"] when given, else the pooled one."""
    if "calibration" not in skip:
        return skip
    cal = skip["calibration"]
    if isinstance(cal, (str, os.PathLike)):  # {"calibration": "calib.json"}
        with open(cal) as f:
            cal = json.load(f)["calibration"]
    if skip.get("layer") is not None:
        layers = cal.get("layers", {})
        if str(skip["layer"]) not in layers:
            raise ValueError("calibration has no layer %r (has %s)" %
                             (skip["layer"], sorted(layers)))
        cal = layers[str(skip["layer"])]
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

def _check_inputs(q, k, v, scale):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError("%s must be a torch.Tensor, got %s" %
                            (name, type(t).__name__))
        if t.dim() != 4:
            raise ValueError("%s must be 4-D [B, H, S, D] (the layout of "
                             "scaled_dot_product_attention), got shape %s" %
                             (name, tuple(t.shape)))
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


def _prepare_mask(mask, q, k):
    """The mask as the bundles take it: 4-D, each dim 1 (broadcast) or the
    full extent, bool or q's dtype. Broadcast views (stride 0, e.g. from
    expand) are narrowed to extent 1 instead of copied."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError("mask must be a torch.Tensor, got %s" %
                        type(mask).__name__)
    if mask.device != q.device:
        raise ValueError("mask is on %s but q is on %s" %
                         (mask.device, q.device))
    if mask.dtype != torch.bool and mask.dtype != q.dtype:
        raise TypeError("mask dtype %s must be torch.bool (True attends) or "
                        "q's dtype %s (added to the scores)" %
                        (mask.dtype, q.dtype))
    if not 1 <= mask.dim() <= 4:
        raise ValueError("mask must have 1 to 4 dims (broadcasting to [B, Hq, "
                         "Sq, Skv]), got shape %s" % (tuple(mask.shape),))
    while mask.dim() < 4:
        mask = mask.unsqueeze(0)
    full = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    names = ("batch", "query heads", "query length", "key length")
    for d in range(4):
        if mask.shape[d] not in (1, full[d]):
            raise ValueError("mask dim %d (%d) must be 1 or the %s (%d); mask "
                             "shape %s, attention [B, Hq, Sq, Skv] = %s" %
                             (d, mask.shape[d], names[d], full[d],
                              tuple(mask.shape), full))
        if mask.shape[d] > 1 and mask.stride(d) == 0:
            mask = mask.narrow(d, 0, 1)
    return mask.contiguous()


# ===----------------------------------------------------------------------===
# The kernel call (both devices)
# ===----------------------------------------------------------------------===

def bundle_key(chip, dtype, q_heads, kv_heads, head_dim, value_head_dim,
               causal, skip, mask=None, lse=False, init_max=False):
    """The BundleKey the op uses: chip "" for the CPU, else "sm_90a" or
    "sm_80"; dtype a torch dtype; mask None or a 4-D tensor (its dtype and
    which dims broadcast count); lse for the bundle that also writes the
    log-sum-exp (skipattn.distributed); init_max for the bundle that
    carries the running max (init_max in, max out; the ring's carry). For
    filling a cache ahead of time."""
    bm, bn = _block_sizes(chip, causal, head_dim)
    mask_spec = None
    if mask is not None:
        # Extent-1 dims broadcast; the others are dynamic, except the heads,
        # which the bundle knows.
        dims = [1 if mask.shape[0] == 1 else "?",
                1 if mask.shape[1] == 1 else q_heads,
                1 if mask.shape[2] == 1 else "?",
                1 if mask.shape[3] == 1 else "?"]
        mask_spec = {"dtype": "i1" if mask.dtype == torch.bool
                     else _DTYPES[mask.dtype], "shape": dims}
    return BundleKey("gpu" if chip else "cpu", _DTYPES[dtype], q_heads,
                     kv_heads, head_dim, value_head_dim, causal, skip, bm, bn,
                     chip=chip, mask=mask_spec, lse=lse, init_max=init_max)


def _key(q, k, v, mask, causal, skip, lse=False, init_max=False):
    chip = chip_of(q.device) if q.device.type == "cuda" else ""
    return bundle_key(chip, q.dtype, q.shape[1], k.shape[1], q.shape[3],
                      v.shape[3], causal, skip, mask, lse, init_max)


def _run(q, k, v, mask, causal, scale, lam, skip, lse=None, init_max=None,
         max_out=None):
    """out [B, Hq, Sq, Dv] and the counters int64 [B, Hq, 2] {tiles_total,
    tiles_skipped} per (batch, query head), on q's device (zeros for a dense
    bundle, which counts nothing). With lse (a contiguous f32 tensor
    [B, Hq, Sq] on q's device) the bundle compiled with --lse runs and writes
    each row's log-sum-exp into it (docs/serving.md). With init_max and
    max_out (contiguous f32 [B, Hq, Sq] tensors on q's device, with lse) the
    bundle compiled with --init-max starts each row's running max from
    init_max and writes the final one into max_out (docs/distributed.md).

    The bundles have the default scale 1/sqrt(D) built in; another scale is
    applied by scaling q (exact in f32 up to one rounding of q).
    """
    d = q.shape[3]
    if scale is not None and abs(scale * math.sqrt(d) - 1.0) > 1e-12:
        q = q * (scale * math.sqrt(d))
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty(q.shape[:3] + (v.shape[3],), dtype=q.dtype,
                      device=q.device)
    stats = torch.zeros(q.shape[0], q.shape[1], 2, dtype=torch.int64,
                        device=q.device)
    handle = _bundles.load(_key(q, k, v, mask, causal, skip,
                                lse is not None, init_max is not None))
    lib = _bundles.runtime()
    shape = _bundles._Shape(q.shape[0], q.shape[1], k.shape[1], q.shape[2],
                            k.shape[2], q.shape[3], v.shape[3])
    mask_ptr, mask_dims, mask_shape = None, None, None
    if mask is not None:
        mask_ptr = mask.data_ptr()
        mask_dims = (ctypes.c_int64 * 4)(*mask.shape)
        mask_shape = ctypes.addressof(mask_dims)
    args = (handle, ctypes.byref(shape), q.data_ptr(), k.data_ptr(),
            v.data_ptr(), mask_ptr, mask_shape, out.data_ptr(), lam)
    if lse is not None:
        options = _bundles._Options()
        options.lse = lse.data_ptr()
        if init_max is not None:
            options.init_max = init_max.data_ptr()
            options.max = max_out.data_ptr()
        if skip:
            options.head_stats = stats.data_ptr()
        if q.device.type == "cpu":
            _bundles.check(lib.skipattn_run_host_ex(*args, None,
                                                    ctypes.byref(options)))
            return out, stats
        stream = ctypes.c_void_p(
            torch.cuda.current_stream(q.device).cuda_stream)
        with torch.cuda.device(q.device):
            _bundles.check(lib.skipattn_run_device_ex(
                *args, None, stream, ctypes.byref(options)))
        return out, stats
    if q.device.type == "cpu":
        if skip:
            _bundles.check(lib.skipattn_run_host_head_stats(
                *args, stats.data_ptr()))
        else:
            _bundles.check(lib.skipattn_run_host(*args, None))
        return out, stats
    # CUDA: queued on torch's current stream, counters left on the device,
    # nothing waits (so the call can be captured in a CUDA graph).
    stream = ctypes.c_void_p(torch.cuda.current_stream(q.device).cuda_stream)
    with torch.cuda.device(q.device):
        if skip:
            _bundles.check(lib.skipattn_run_device_head_stats(
                *args, stats.data_ptr(), stream))
        else:
            _bundles.check(lib.skipattn_run_device(*args, None, stream))
    return out, stats


# ===----------------------------------------------------------------------===
# Custom op registration (torch >= 2.4: torch.library.custom_op)
# ===----------------------------------------------------------------------===

HAS_CUSTOM_OP = hasattr(torch, "library") and hasattr(torch.library,
                                                       "custom_op")

if HAS_CUSTOM_OP:
    @torch.library.custom_op("skipattn::attention", mutates_args=())
    def _attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      mask: Optional[torch.Tensor], causal: bool, scale: float,
                      lam: float, skip: bool
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        return _run(q, k, v, mask, causal, scale if scale > 0 else None, lam,
                    skip)

    @_attention_op.register_fake
    def _(q, k, v, mask, causal, scale, lam, skip):
        out = q.new_empty(q.shape[:3] + (v.shape[3],))
        return out, q.new_empty((q.shape[0], q.shape[1], 2),
                                dtype=torch.int64)

    def _call(q, k, v, mask, causal, scale, lam, skip):
        return _attention_op(q, k, v, mask, causal,
                             -1.0 if scale is None else float(scale), lam,
                             skip)
else:
    def _call(q, k, v, mask, causal, scale, lam, skip):
        return _run(q, k, v, mask, causal, scale, lam, skip)


def visited_tiles(sq, skv, causal, block_m, block_n):
    """tiles_total of DESIGN.md section 4 for one (batch, head)."""
    total = 0
    for qb in range((sq + block_m - 1) // block_m):
        if not causal:
            total += (skv + block_n - 1) // block_n
            continue
        last_row = min(sq, (qb + 1) * block_m) - 1
        max_key = min(skv, last_row + (skv - sq) + 1) - 1
        total += 0 if max_key < 0 else max_key // block_n + 1
    return total


# ===----------------------------------------------------------------------===
# Public entry
# ===----------------------------------------------------------------------===

def attention(q, k, v, *, causal=False, scale=None, skip=None, mask=None,
              return_stats=False):
    """Attention on [B, H, S, D] torch tensors with optional Skip-Softmax.

    Non-contiguous inputs are copied to contiguous ones (the kernels read
    the op layout densely). mask: bool (True attends) or
    q's dtype (added to the scaled scores), broadcasting to [B, Hq, Sq,
    Skv]; a row with nothing to attend to gives zeros. With return_stats,
    also returns a dict: tiles_total, tiles_skipped, sparsity, their
    per-(batch, query head) tensors tiles_total_per_head,
    tiles_skipped_per_head and sparsity_per_head ([B, Hq], on the CPU),
    lambda (the one used, 0 when dense), dense (True when the op ran
    without skipping), dense_reason and min_kv_len.
    """
    _check_inputs(q, k, v, scale)
    mask = _prepare_mask(mask, q, k)
    if not isinstance(causal, bool):
        raise TypeError("causal must be a bool")
    kv_len = k.shape[2]
    lam, min_kv, reason = resolve_skip(skip, kv_len)
    use_skip = reason is None
    # A skip setting runs the skip bundle (at lambda 0 when a guard turns
    # skipping off, so the counters still come from the kernel).
    out, counters = _call(q, k, v, mask, causal, scale, lam, skip is not None)
    if not return_stats:
        return out
    counters = counters.cpu()
    if skip is None:
        bm, bn = block_sizes(q.device, causal, q.shape[3], q.shape[2])
        counters[..., 0] = visited_tiles(q.shape[2], kv_len, causal, bm, bn)
    total_h, skipped_h = counters[..., 0], counters[..., 1]
    total, skipped = int(total_h.sum()), int(skipped_h.sum())
    stats = {"tiles_total": total, "tiles_skipped": skipped,
             "sparsity": skipped / total if total else 0.0,
             "tiles_total_per_head": total_h,
             "tiles_skipped_per_head": skipped_h,
             "sparsity_per_head": skipped_h.double() /
             total_h.clamp(min=1).double(),
             "lambda": lam, "dense": not use_skip, "dense_reason": reason,
             "min_kv_len": min_kv}
    return out, stats
