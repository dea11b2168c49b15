#!/usr/bin/env python3
"""TEST FIXTURE host: runs a gpu bundle compiled with --init-max through
skipattn_run_device_ex on whatever libcuda.so.1 the loader finds (the
stand-in driver of Inputs/fake_libcuda.c in fake-driver-carry.test), with
the carry's device buffers, and the option mistakes the runtime refuses.

  carry_device.py LIBSKIPATTN_RUNTIME CARRY_BUNDLE PLAIN_BUNDLE

Buffers are allocated in the order q, k, v, out, lse, init_max, max, so the
driver's trace names them dev#1 .. dev#7. Prints one line per call:
`<case>: <status> <message>`."""
import ctypes
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "kernels_runtime", "python"))
from skipattn_runtime import Runtime, _Options, _Shape  # noqa: E402


def main():
    rt = Runtime(sys.argv[1])
    lib = rt.lib
    lib.skipattn_device_alloc.argtypes = [ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_void_p)]
    lib.skipattn_device_synchronize.argtypes = [ctypes.c_void_p]
    lib.skipattn_device_free.argtypes = [ctypes.c_void_p]
    carry, plain = rt.load(sys.argv[2]), rt.load(sys.argv[3])
    b, hq, hkv, sq, skv, d = 1, 4, 2, 70, 130, 64
    sizes = [b * hq * sq * d * 2, b * hkv * skv * d * 2, b * hkv * skv * d * 2,
             b * hq * sq * d * 2, b * hq * sq * 4, b * hq * sq * 4,
             b * hq * sq * 4]
    q, k, v, out, lse, init_max, mx = [ctypes.c_void_p() for _ in sizes]
    for size, ptr in zip(sizes, (q, k, v, out, lse, init_max, mx)):
        rt.check(lib.skipattn_device_alloc(size, ctypes.byref(ptr)))

    def run(case, bundle, q_len=sq, **fields):
        call = _Shape(b, hq, hkv, q_len, skv, d, d)
        options = _Options()
        for name, value in fields.items():
            setattr(options, name, value)
        status = lib.skipattn_run_device_ex(
            bundle.handle, ctypes.byref(call), q, k, v, None, None, out,
            0.0, None, None, ctypes.byref(options))
        if status == 0:
            status = lib.skipattn_device_synchronize(None)
        message = lib.skipattn_last_error().decode() if status else ""
        print("%s: %s %s" % (case, lib.skipattn_status_name(status).decode(),
                             message), flush=True)

    run("carry", carry, lse=lse.value, init_max=init_max.value, max=mx.value)
    # One query row: the prefill kernel too (the bundle has no decode one).
    run("carry-one-row", carry, q_len=1, lse=lse.value,
        init_max=init_max.value, max=mx.value)
    run("carry-without-max", carry, lse=lse.value, init_max=init_max.value)
    run("plain-with-init-max", plain, lse=lse.value, init_max=init_max.value,
        max=mx.value)
    for ptr in (q, k, v, out, lse, init_max, mx):
        rt.check(lib.skipattn_device_free(ptr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
