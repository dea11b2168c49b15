#!/usr/bin/env python3
"""TEST HELPER: makes .npy inputs for the skipattn-run tests and checks outputs.

  npy_tool.py random PATH:b,h,s,d[:f4|f2|b1]... [--seed N]
      random normal data (bool: random True/False with the first key kept)
  npy_tool.py planted DIR [--sq N] [--skv N] [--hq N] [--d N]
      q/k/v where every kv block after the first scores 8 (scaled-logit
      units) below the first: skipped at lambda 1e-3, kept at 1e-4
  npy_tool.py bad KIND PATH
      a broken or unsupported .npy file (see BAD below)
  npy_tool.py check OUT Q K V [--mask M] [--causal] [--scale S]
                   [--dtype f32|f16|bf16] [--kv-limit N] [--tol T]
      compares OUT with a float64 reference computed on the inputs rounded
      to the bundle dtype; prints "ok" or the worst mismatch
  npy_tool.py save-like PATH b,h,s,d
      writes what np.save writes for a float32 array of that shape, to
      compare skipattn-run's .npy writer with numpy's byte for byte
"""

import argparse
import struct
import sys

import numpy as np


def shape_arg(text):
    return tuple(int(x) for x in text.split(","))


def header_v1(descr, shape, fortran=False, version=(1, 0)):
    header = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (
        descr, fortran, tuple(shape))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + \
            header.encode("latin1")
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(header)) + \
        header.encode("latin1")


def good_f32(shape):
    data = np.arange(np.prod(shape), dtype="<f4").tobytes()
    return header_v1("<f4", shape) + data


BAD = {
    # Not a .npy file at all.
    "magic": lambda s: b"PK\x03\x04 this is a zip file, not npy",
    # A valid header followed by half of the data.
    "truncated-data": lambda s: good_f32(s)[:-(4 * int(np.prod(s)) // 2)],
    # The magic and version, then the file ends inside the header.
    "truncated-header": lambda s: good_f32(s)[:20],
    # Data beyond what the header's shape needs.
    "trailing": lambda s: good_f32(s) + b"\0\0\0\0",
    # A header that is not a Python dict literal.
    "garbage-header": lambda s: b"\x93NUMPY\x01\x00" + struct.pack("<H", 16) +
    b"{'descr': <f4, \n",
    # Supported layout, unsupported element types.
    "f8": lambda s: header_v1("<f8", s) + bytes(8 * int(np.prod(s))),
    "i4": lambda s: header_v1("<i4", s) + bytes(4 * int(np.prod(s))),
    "big-endian": lambda s: header_v1(">f4", s) + bytes(4 * int(np.prod(s))),
    # An item size whose bits overflow an int (found by fuzz/NpyFuzzer.cpp).
    "huge-itemsize": lambda s: header_v1("<f52885288888", s),
    "fortran": lambda s: header_v1("<f4", s, fortran=True) +
    bytes(4 * int(np.prod(s))),
    "version": lambda s: good_f32(s)[:6] + b"\x04\x00" + good_f32(s)[8:],
    "structured": lambda s: header_v1([("a", "<f4")], s) +
    bytes(4 * int(np.prod(s))),
}


def cmd_random(a):
    rng = np.random.default_rng(a.seed)
    for spec in a.specs:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            sys.exit(f"npy_tool.py: expected PATH:SHAPE[:DTYPE], got {spec!r}")
        path, shape = parts[0], shape_arg(parts[1])
        dtype = parts[2] if len(parts) == 3 else "f4"
        if dtype == "b1":
            data = rng.random(shape) < 0.7
            data[..., 0] = True  # no fully masked row
        else:
            data = rng.standard_normal(shape).astype(
                {"f4": np.float32, "f2": np.float16}[dtype])
        np.save(path, data)


def cmd_planted(a):
    q = np.full((1, a.hq, a.sq, a.d), 0.5, dtype=np.float32)
    k = np.full((1, 1, a.skv, a.d), -1.0, dtype=np.float32)
    k[:, :, :64, :] = 1.0
    rng = np.random.default_rng(7)
    v = rng.standard_normal((1, 1, a.skv, a.d)).astype(np.float32)
    for name, arr in (("q", q), ("k", k), ("v", v)):
        np.save(f"{a.dir}/{name}.npy", arr)


def cmd_bad(a):
    with open(a.path, "wb") as f:
        f.write(BAD[a.kind](a.shape))


def round_to(x, dtype):
    x = np.asarray(x, dtype=np.float32)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float64)
    if dtype == "bf16":
        bits = x.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return x.astype(np.float64)


def reference(q, k, v, mask, causal, scale, kv_limit):
    b, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    k = np.repeat(k, hq // hkv, axis=1)
    v = np.repeat(v, hq // hkv, axis=1)
    s = scale * np.einsum("bhid,bhjd->bhij", q, k)
    keep = np.ones((sq, skv), dtype=bool)
    if causal:
        keep &= np.arange(skv)[None, :] <= np.arange(sq)[:, None] + skv - sq
    if kv_limit is not None:
        keep &= np.arange(skv)[None, :] < kv_limit
    s = np.where(keep, s, -np.inf)
    if mask is not None:
        if mask.dtype == bool:
            s = np.where(np.broadcast_to(mask, s.shape), s, -np.inf)
        else:
            s = s + mask.astype(np.float64)
    m = s.max(axis=-1, keepdims=True)
    full = np.isneginf(m)
    p = np.exp(s - np.where(full, 0.0, m))
    l = p.sum(axis=-1, keepdims=True)
    o = np.einsum("bhij,bhjd->bhid", p, v) / np.where(full, 1.0, l)
    return np.where(full, 0.0, o)


def cmd_check(a):
    out = np.load(a.out)
    q, k, v = (round_to(np.load(x), a.dtype) for x in (a.q, a.k, a.v))
    mask = np.load(a.mask) if a.mask else None
    scale = a.scale if a.scale is not None else 1.0 / np.sqrt(q.shape[-1])
    ref = reference(q, k, v, mask, a.causal, scale, a.kv_limit)
    if out.dtype != np.float32 or out.shape != ref.shape:
        print(f"MISMATCH dtype/shape: {out.dtype} {out.shape} vs {ref.shape}")
        return 1
    err = float(np.max(np.abs(out - ref))) if out.size else 0.0
    if not np.all(np.isfinite(out)) or err > a.tol:
        print(f"MISMATCH max abs error {err:.3e} > {a.tol:g}")
        return 1
    print("ok")
    return 0


def cmd_save_like(a):
    np.save(a.path, np.zeros(a.shape, dtype=np.float32))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random")
    r.add_argument("specs", nargs="+", metavar="PATH:SHAPE[:DTYPE]")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_random)
    pl = sub.add_parser("planted")
    pl.add_argument("dir")
    pl.add_argument("--sq", type=int, default=8)
    pl.add_argument("--skv", type=int, default=200)
    pl.add_argument("--hq", type=int, default=2)
    pl.add_argument("--d", type=int, default=64)
    pl.set_defaults(fn=cmd_planted)
    b = sub.add_parser("bad")
    b.add_argument("kind", choices=sorted(BAD))
    b.add_argument("path")
    b.add_argument("--shape", type=shape_arg, default=(1, 4, 8, 64))
    b.set_defaults(fn=cmd_bad)
    c = sub.add_parser("check")
    for name in ("out", "q", "k", "v"):
        c.add_argument(name)
    c.add_argument("--mask")
    c.add_argument("--causal", action="store_true")
    c.add_argument("--scale", type=float)
    c.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    c.add_argument("--kv-limit", type=int)
    c.add_argument("--tol", type=float, default=1e-5)
    c.set_defaults(fn=cmd_check)
    s = sub.add_parser("save-like")
    s.add_argument("path")
    s.add_argument("shape", type=shape_arg)
    s.set_defaults(fn=cmd_save_like)
    a = p.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
