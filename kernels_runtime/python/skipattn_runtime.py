"""ctypes binding of libskipattn_runtime for Python hosts (PyTorch, CuPy).

    rt = Runtime("/path/to/libskipattn_runtime.so")
    bundle = rt.load("bundle_dir")
    bundle.run_device(q, k, v, out, lam)            # torch CUDA tensors, async
    total, skipped = bundle.run_device(..., stats=True)  # waits, returns counters

Tensors are in the op layout ([B, H, S, D]), contiguous, in the bundle's
dtype; `stream` defaults to PyTorch's current stream. Every runtime error
raises RuntimeError with the runtime's message.
"""
import ctypes
import json
import os


class _Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in (
        "batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim",
        "value_head_dim")]


class Runtime:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.skipattn_last_error.restype = ctypes.c_char_p
        lib.skipattn_status_name.restype = ctypes.c_char_p
        lib.skipattn_status_name.argtypes = [ctypes.c_int]
        lib.skipattn_bundle_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.skipattn_bundle_free.argtypes = [ctypes.c_void_p]
        lib.skipattn_bundle_default_lambda.restype = ctypes.c_float
        lib.skipattn_bundle_default_lambda.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        lib.skipattn_check_device.argtypes = [ctypes.c_void_p]
        lib.skipattn_run_device.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(_Shape), ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_float, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p]
        lib.skipattn_plan_device.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(_Shape), ctypes.c_int64,
            ctypes.POINTER(ctypes.c_char_p)]
        self.lib = lib

    def check(self, status):
        if status != 0:
            name = self.lib.skipattn_status_name(status).decode()
            raise RuntimeError(f"{name}: {self.lib.skipattn_last_error().decode()}")

    def load(self, directory):
        handle = ctypes.c_void_p()
        self.check(self.lib.skipattn_bundle_load(directory.encode(), ctypes.byref(handle)))
        return Bundle(self, handle, directory)


class Bundle:
    def __init__(self, runtime, handle, directory):
        self.rt = runtime
        self.handle = handle
        self.dir = directory
        with open(os.path.join(directory, "manifest.json")) as f:
            self.manifest = json.load(f)

    def __del__(self):
        if self.handle:
            self.rt.lib.skipattn_bundle_free(self.handle)
            self.handle = None

    def check_device(self):
        self.rt.check(self.rt.lib.skipattn_check_device(self.handle))

    @staticmethod
    def shape_of(q, k, v):
        return _Shape(q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2],
                      q.shape[3], v.shape[3])

    def plan(self, q, k, v):
        text = ctypes.c_char_p()
        shape = self.shape_of(q, k, v)
        self.rt.check(self.rt.lib.skipattn_plan_device(self.handle, ctypes.byref(shape), 0,
                                                       ctypes.byref(text)))
        return json.loads(text.value.decode())

    def run_device(self, q, k, v, out, lam=0.0, stats=False, stream=None):
        """Runs the bundle on torch CUDA tensors. With stats, waits for the
        stream and returns (tiles_total, tiles_skipped)."""
        if stream is None:
            import torch
            stream = torch.cuda.current_stream().cuda_stream
        shape = self.shape_of(q, k, v)
        counters = (ctypes.c_int64 * 2)() if stats else None
        self.rt.check(self.rt.lib.skipattn_run_device(
            self.handle, ctypes.byref(shape), q.data_ptr(), k.data_ptr(), v.data_ptr(),
            None, None, out.data_ptr(), lam, counters, stream))
        if stats:
            return counters[0], counters[1]
        return None
