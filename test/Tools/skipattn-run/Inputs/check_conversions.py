#!/usr/bin/env python3
"""TEST HELPER: checks the runtime's f16/bf16 conversions through ctypes.

Loads libskipattn_runtime.so with ctypes (as a Python host would) and
compares its conversions with numpy (f16) and with an integer reference of
round-to-nearest-even (bf16): every f16 bit pattern, every f16 value's
neighbours and rounding midpoints in f32, and random f32 bit patterns.
Prints one "ok" line per check, or the first mismatch.

  check_conversions.py LIBDIR
"""

import ctypes
import os
import sys

import numpy as np

F32, F16, BF16 = 0, 1, 2


def main():
    lib = ctypes.CDLL(os.path.join(sys.argv[1], "libskipattn_runtime.so"))
    lib.skipattn_convert.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_size_t]
    lib.skipattn_f32_to_f16.argtypes = [ctypes.c_float]
    lib.skipattn_f32_to_f16.restype = ctypes.c_uint16
    lib.skipattn_f32_to_bf16.argtypes = [ctypes.c_float]
    lib.skipattn_f32_to_bf16.restype = ctypes.c_uint16
    lib.skipattn_last_error.restype = ctypes.c_char_p

    def convert(src, src_type, dst_dtype, dst_type):
        src = np.ascontiguousarray(src)
        dst = np.empty(src.shape, dtype=dst_dtype)
        status = lib.skipattn_convert(src.ctypes.data, src_type,
                                      dst.ctypes.data, dst_type, src.size)
        if status != 0:
            sys.exit("skipattn_convert failed: " +
                     lib.skipattn_last_error().decode())
        return dst

    failures = 0

    def expect(name, got, want, inputs):
        nonlocal failures
        bad = np.nonzero(got != want)[0]
        if bad.size:
            i = bad[0]
            print(f"MISMATCH {name}: {bad.size} values, first input "
                  f"0x{int(inputs[i]):08x}: got 0x{int(got[i]):04x}, "
                  f"want 0x{int(want[i]):04x}")
            failures += 1
        else:
            print(f"ok {name} ({got.size} values)")

    # f16 -> f32: every bit pattern, exact (NaN payloads included).
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    got = convert(halves, F16, np.float32, F32).view(np.uint32)
    want = halves.view(np.float16).astype(np.float32).view(np.uint32)
    nan = np.isnan(halves.view(np.float16))
    expect("f16->f32 all patterns", got[~nan], want[~nan], halves[~nan])
    expect("f16->f32 NaN stays NaN", np.isnan(got.view(np.float32)[nan]),
           np.ones(nan.sum(), bool), halves[nan])

    # f32 -> f16: every f16 value, its f32 neighbours, the midpoints between
    # consecutive f16 values and theirs, plus random bit patterns.
    finite = halves[np.isfinite(halves.view(np.float16))]
    values = finite.view(np.float16).astype(np.float32)
    ordered = np.sort(values[values >= 0])
    mids = ((ordered[:-1].astype(np.float64) + ordered[1:]) / 2).astype(
        np.float32)
    mids = np.concatenate([mids, -mids, [np.float32(65520.0),
                                         np.float32(-65520.0)]])
    base = np.concatenate([values, mids]).view(np.uint32)
    cases = np.concatenate([base, base + 1, base - 1])
    rng = np.random.default_rng(0)
    cases = np.concatenate([cases, rng.integers(0, 2**32, 1 << 20,
                                                dtype=np.uint64)
                            .astype(np.uint32)]).astype(np.uint32)
    floats = cases.view(np.float32)
    nan = np.isnan(floats)
    got = convert(floats, F32, np.uint16, F16)
    with np.errstate(over="ignore"):
        want = floats.astype(np.float16).view(np.uint16)
    expect("f32->f16 round to nearest even", got[~nan], want[~nan],
           cases[~nan])
    expect("f32->f16 NaN stays NaN", np.isnan(got[nan].view(np.float16)),
           np.ones(nan.sum(), bool), cases[nan])

    # f32 -> bf16 against integer round-to-nearest-even; bf16 -> f32 exact.
    wide = cases.astype(np.uint64)
    want = ((wide + 0x7FFF + ((wide >> 16) & 1)) >> 16).astype(np.uint16)
    got = convert(floats, F32, np.uint16, BF16)
    expect("f32->bf16 round to nearest even", got[~nan], want[~nan],
           cases[~nan])
    got_nan = (got[nan].astype(np.uint32) << 16).view(np.float32)
    expect("f32->bf16 NaN stays NaN", np.isnan(got_nan),
           np.ones(nan.sum(), bool), cases[nan])
    expect("f32->bf16 NaN keeps its sign", got[nan] >> 15,
           (cases[nan] >> 31).astype(np.uint16), cases[nan])
    back = convert(halves, BF16, np.float32, F32).view(np.uint32)
    expect("bf16->f32 all patterns", back,
           halves.astype(np.uint32) << 16, halves)

    # The scalar entry points agree with the bulk conversion.
    sample = floats[~nan][::4096]
    scalar = np.array([lib.skipattn_f32_to_f16(float(x)) for x in sample],
                      dtype=np.uint16)
    expect("scalar f32->f16 == bulk", scalar,
           convert(sample, F32, np.uint16, F16), sample.view(np.uint32))
    scalar = np.array([lib.skipattn_f32_to_bf16(float(x)) for x in sample],
                      dtype=np.uint16)
    expect("scalar f32->bf16 == bulk", scalar,
           convert(sample, F32, np.uint16, BF16), sample.view(np.uint32))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
