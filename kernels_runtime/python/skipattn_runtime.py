"""ctypes binding of libskipattn_runtime for Python hosts (PyTorch, CuPy).

    rt = Runtime("/path/to/libskipattn_runtime.so")
    bundle = rt.load("bundle_dir")
    bundle.run_device(q, k, v, out, lam)            # torch CUDA tensors, async
    total, skipped = bundle.run_device(..., stats=True)  # waits, returns counters
    bundle.run_device(q, k, v, out, lse=lse)         # a bundle compiled with --lse
    bundle.run_device(q, k, v, out, lam, lse=lse,    # and --init-max: the carry
                      init_max=m0, max_out=m1)
    rt.merge_lse(out_a, lse_a, out_b, lse_b, out, lse)   # CPU tensors
    bundle.run_device(q, k_pages, v_pages, out,      # a paged bundle
                      block_table=table, seq_lens=lens)

Tensors are in the op layout ([B, H, S, D]), contiguous, in the bundle's
dtype; `stream` defaults to PyTorch's current stream. Every runtime error
raises RuntimeError with the runtime's message.
"""
import ctypes
import json
import os
import subprocess


def build_from_source(root):
    """Builds libskipattn_runtime alone (SKIPATTN_RUNTIME_ONLY, no MLIR)
    from the checkout at `root` into root/build-rt, as the GPU machine
    does, and returns the library's path."""
    build = os.path.join(root, "build-rt")
    subprocess.run(["cmake", "-S", root, "-B", build, "-G", "Ninja",
                    "-DSKIPATTN_RUNTIME_ONLY=ON"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build, "lib", "libskipattn_runtime.so")


class _Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in (
        "batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim",
        "value_head_dim")]


class _Options(ctypes.Structure):
    """skipattn_run_options (every field, in the header's order)."""
    _fields_ = [("num_splits", ctypes.c_int64), ("lse", ctypes.c_void_p),
                ("block_table", ctypes.c_void_p), ("seq_lens", ctypes.c_void_p),
                ("num_pages", ctypes.c_int64), ("max_pages", ctypes.c_int64),
                ("head_stats", ctypes.c_void_p), ("cu_seqlens_q", ctypes.c_void_p),
                ("cu_seqlens_k", ctypes.c_void_p), ("max_seqlen_q", ctypes.c_int64),
                ("init_max", ctypes.c_void_p), ("max", ctypes.c_void_p)]


_DTYPES = {"torch.float32": 0, "torch.float16": 1, "torch.bfloat16": 2}


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
        lib.skipattn_run_device_ex.argtypes = \
            lib.skipattn_run_device.argtypes + [ctypes.POINTER(_Options)]
        lib.skipattn_merge_lse.argtypes = [
            ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t] + [ctypes.c_void_p] * 6
        lib.skipattn_plan_device.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(_Shape), ctypes.c_int64,
            ctypes.POINTER(ctypes.c_char_p)]
        self.lib = lib

    def check(self, status):
        if status != 0:
            name = self.lib.skipattn_status_name(status).decode()
            raise RuntimeError(f"{name}: {self.lib.skipattn_last_error().decode()}")

    def merge_lse(self, out_a, lse_a, out_b, lse_b, out, lse):
        """Merges two attentions of the same rows over disjoint key ranges
        (skipattn_merge_lse): contiguous CPU tensors, outputs [..., Dv] in
        f32/f16/bf16 and lse [...] in f32; out and lse may be out_a and
        lse_a."""
        dtype = _DTYPES[str(out_a.dtype)]
        rows = lse_a.numel()
        self.check(self.lib.skipattn_merge_lse(
            dtype, rows, out_a.shape[-1], out_a.data_ptr(), lse_a.data_ptr(),
            out_b.data_ptr(), lse_b.data_ptr(), out.data_ptr(), lse.data_ptr()))

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

    def shape_of(self, q, k, v, block_table=None, cu_seqlens_q=None):
        """The call shape; for a paged bundle k and v are page pools
        [num_pages, page_size, Hkv, D] and kv_len is the block table's
        capacity, max_pages * page_size; for a varlen bundle q, k and v are
        packed [tokens, H, D] and the batch is len(cu_seqlens_q) - 1."""
        page = (self.manifest.get("paged") or {}).get("page_size")
        if self.manifest.get("varlen"):
            return _Shape(cu_seqlens_q.shape[0] - 1, q.shape[1], k.shape[1],
                          q.shape[0], k.shape[0], q.shape[2], v.shape[2])
        if page:
            return _Shape(q.shape[0], q.shape[1], k.shape[2], q.shape[2],
                          block_table.shape[1] * page, q.shape[3], v.shape[3])
        return _Shape(q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2],
                      q.shape[3], v.shape[3])

    def plan(self, q, k, v, block_table=None, cu_seqlens_q=None):
        text = ctypes.c_char_p()
        shape = self.shape_of(q, k, v, block_table, cu_seqlens_q)
        self.rt.check(self.rt.lib.skipattn_plan_device(self.handle, ctypes.byref(shape), 0,
                                                       ctypes.byref(text)))
        return json.loads(text.value.decode())

    def run_device(self, q, k, v, out, lam=0.0, stats=False, stream=None, lse=None,
                   block_table=None, seq_lens=None, mask=None, head_stats=None,
                   cu_seqlens_q=None, cu_seqlens_k=None, max_seqlen_q=0,
                   init_max=None, max_out=None):
        """Runs the bundle on torch CUDA tensors. With stats, waits for the
        stream and returns (tiles_total, tiles_skipped). lse: an f32 CUDA
        tensor [B, Hq, Sq] for a bundle compiled with --lse. A paged bundle
        takes k and v as page pools and int32 CUDA tensors block_table
        [B, max_pages] and seq_lens [B]. mask: a rank-4 CUDA tensor for a
        bundle that takes one (torch.bool for i1, else the bundle dtype).
        head_stats: an int64 CUDA tensor [B, Hq, 2] that receives the
        counters of each (batch, query head) on the stream. A varlen bundle
        takes q, k, v and out packed [tokens, H, D], int32 CUDA tensors
        cu_seqlens_q / cu_seqlens_k [B + 1] and the longest sequence's query
        count max_seqlen_q (0: every token, slower). init_max and max_out:
        f32 CUDA tensors [B, Hq, Sq] for a bundle compiled with --init-max
        (each row's running max starts at init_max, -inf for none; the final
        one is written to max_out)."""
        if stream is None:
            import torch
            stream = torch.cuda.current_stream().cuda_stream
        shape = self.shape_of(q, k, v, block_table, cu_seqlens_q)
        counters = (ctypes.c_int64 * 2)() if stats else None
        options = _Options(0, lse.data_ptr() if lse is not None else None)
        if block_table is not None:
            options.block_table = block_table.data_ptr()
            options.seq_lens = seq_lens.data_ptr()
            options.num_pages = k.shape[0]
            options.max_pages = block_table.shape[1]
        if head_stats is not None:
            options.head_stats = head_stats.data_ptr()
        if cu_seqlens_q is not None:
            options.cu_seqlens_q = cu_seqlens_q.data_ptr()
            options.cu_seqlens_k = cu_seqlens_k.data_ptr()
            options.max_seqlen_q = max_seqlen_q
        if init_max is not None:
            options.init_max = init_max.data_ptr()
        if max_out is not None:
            options.max = max_out.data_ptr()
        mask_ptr = mask_shape = None
        if mask is not None:
            mask_ptr = mask.data_ptr()
            mask_shape = (ctypes.c_int64 * 4)(*mask.shape)
        self.rt.check(self.rt.lib.skipattn_run_device_ex(
            self.handle, ctypes.byref(shape), q.data_ptr(), k.data_ptr(), v.data_ptr(),
            mask_ptr, mask_shape, out.data_ptr(), lam, counters, stream,
            ctypes.byref(options)))
        if stats:
            return counters[0], counters[1]
        return None
