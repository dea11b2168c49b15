"""Compiling, caching and loading kernel bundles for skipattn.attention.

A bundle is compiled on first use with the build's skipattn-compile and kept
in a cache directory keyed by everything the bundle depends on: the static
shape parameters (query heads, key/value heads, head dims), the dtype, the
target (and GPU chip), causal, whether it skips, the block sizes and vote
group, and the identity of the compiler binary (its real path, size, mtime
and a hash of its contents), and for a mask its dtype and which dims
broadcast. Batch, query length and kv length are dynamic in every bundle,
so one bundle serves any of them.

On a machine without the compiler (a GPU machine has no MLIR), a bundle is
taken from the cache when one with the same fields is there (its
cache_key.json says which; the newest wins), so a cache filled elsewhere
can be copied along; nothing there is an error that says what is missing.

Where things are found:
  SKIPATTN_BIN       directory holding skipattn-compile (else the build
                     tree next to this package, else PATH)
  SKIPATTN_RUNTIME   path of libskipattn_runtime.so (else ../lib next to the
                     compiler, else the build tree)
  SKIPATTN_CACHE     cache directory (else $XDG_CACHE_HOME/skipattn or
                     ~/.cache/skipattn)
"""
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE_BUILD = os.path.normpath(os.path.join(_HERE, "..", "..", "build"))


class SkipattnError(RuntimeError):
    """A missing compiler, runtime or driver, or a failed compile or run."""


def compiler_path():
    """The skipattn-compile to use, or SkipattnError saying where it looked."""
    tried = []
    env = os.environ.get("SKIPATTN_BIN")
    candidates = []
    if env:
        candidates.append(os.path.join(env, "skipattn-compile"))
    else:
        candidates.append(os.path.join(_SOURCE_BUILD, "bin", "skipattn-compile"))
        found = shutil.which("skipattn-compile")
        if found:
            candidates.append(found)
    for c in candidates:
        tried.append(c)
        if os.access(c, os.X_OK):
            return os.path.realpath(c)
    raise SkipattnError(
        "skipattn-compile not found (looked at " + ", ".join(tried) +
        "); build skipattn (scripts/build.sh) and set SKIPATTN_BIN to its "
        "bin/ directory")


def runtime_path():
    env = os.environ.get("SKIPATTN_RUNTIME")
    candidates = [env] if env else []
    if not env:
        try:
            bin_dir = os.path.dirname(compiler_path())
            candidates.append(os.path.join(bin_dir, "..", "lib",
                                           "libskipattn_runtime.so"))
        except SkipattnError:
            pass
        candidates.append(os.path.join(_SOURCE_BUILD, "lib",
                                       "libskipattn_runtime.so"))
    for c in candidates:
        if c and os.path.isfile(c):
            return os.path.realpath(c)
    raise SkipattnError(
        "libskipattn_runtime.so not found (looked at " +
        ", ".join(c for c in candidates if c) +
        "); set SKIPATTN_RUNTIME to its path")


def cache_dir():
    env = os.environ.get("SKIPATTN_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "skipattn")


_identity_memo = {}


def compiler_identity(path):
    """Real path, size, mtime and content hash of the compiler binary."""
    st = os.stat(path)
    memo_key = (path, st.st_size, st.st_mtime_ns)
    if memo_key not in _identity_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _identity_memo[memo_key] = {"path": path, "size": st.st_size,
                                    "mtime_ns": st.st_mtime_ns,
                                    "sha256": h.hexdigest()}
    return _identity_memo[memo_key]


class BundleKey:
    """Everything a bundle depends on (the cache key). mask is None or
    {"dtype": "i1" | dtype, "shape": 4 entries, 1 (broadcast), "?" or a
    fixed extent}."""

    def __init__(self, target, dtype, q_heads, kv_heads, head_dim,
                 value_head_dim, causal, skip, block_m, block_n, vote=0,
                 chip="", mask=None, lse=False, init_max=False):
        self.fields = {
            "target": target, "chip": chip, "dtype": dtype,
            "q_heads": int(q_heads), "kv_heads": int(kv_heads),
            "head_dim": int(head_dim), "value_head_dim": int(value_head_dim),
            "causal": bool(causal), "skip": "threshold" if skip else "dense",
            "block_m": int(block_m), "block_n": int(block_n),
            "vote": int(vote), "mask": mask}
        # Only a bundle with the log-sum-exp output names it, so that the
        # keys of caches filled before it existed still match.
        if lse:
            self.fields["lse"] = True
        # The carry of a ring (init_max in, max out), named the same way.
        if init_max:
            self.fields["init_max"] = True

    def digest(self, compiler):
        text = json.dumps({"bundle": self.fields,
                           "compiler": compiler_identity(compiler)},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def mlir(self):
        """The attention as an .mlir input for skipattn-compile, which takes
        a mask operand only that way."""
        f = self.fields
        elt = f["dtype"]

        def tensor(dims, e=elt):
            return "tensor<%sx%s>" % ("x".join(str(x) for x in dims), e)
        q = tensor(["?", f["q_heads"], "?", f["head_dim"]])
        k = tensor(["?", f["kv_heads"], "?", f["head_dim"]])
        v = tensor(["?", f["kv_heads"], "?", f["value_head_dim"]])
        o = tensor(["?", f["q_heads"], "?", f["value_head_dim"]])
        m = tensor(f["mask"]["shape"], f["mask"]["dtype"])
        # The destination (outs) has the dynamic batch and length of q.
        return ("func.func @attention(%%q: %s, %%k: %s, %%v: %s, %%m: %s) -> "
                "%s {\n  %%c0 = arith.constant 0 : index\n"
                "  %%c2 = arith.constant 2 : index\n"
                "  %%b = tensor.dim %%q, %%c0 : %s\n"
                "  %%s = tensor.dim %%q, %%c2 : %s\n"
                "  %%e = tensor.empty(%%b, %%s) : %s\n"
                "  %%o = attn.attention %%q, %%k, %%v mask %%m : %s, %s, "
                "%s, %s -> %s outs(%%e)\n  return %%o : %s\n}\n" %
                (q, k, v, m, o, q, q, o, q, k, v, m, o, o))

    def compile_args(self, compiler, out, mlir_path=None):
        """skipattn-compile's command line; mlir_path holds self.mlir() for
        a key with a mask."""
        f = self.fields
        cmd = [compiler, "--target", f["target"], "-o", out]
        if mlir_path:
            cmd.insert(1, mlir_path)
        else:
            cmd += ["--batch", "?", "--q-len", "?", "--kv-len", "?",
                    "--q-heads", str(f["q_heads"]),
                    "--kv-heads", str(f["kv_heads"]),
                    "--head-dim", str(f["head_dim"]),
                    "--value-head-dim", str(f["value_head_dim"]),
                    "--dtype", f["dtype"]]
        cmd += ["--block-m", str(f["block_m"]), "--block-n", str(f["block_n"]),
                "--vote", str(f["vote"])]
        if f["chip"]:
            cmd += ["--chip", f["chip"]]
        if f["causal"]:
            cmd.append("--causal")
        if f["skip"] != "dense":
            cmd.append("--skip")
        if f.get("lse"):
            cmd.append("--lse")
        if f.get("init_max"):
            cmd.append("--init-max")
        return cmd


_lock = threading.Lock()
_loaded = {}


def _prebuilt(key):
    """A cached bundle with key's fields, whatever compiler built it (the
    newest), or None."""
    root = cache_dir()
    best, best_time = None, None
    try:
        names = os.listdir(root)
    except OSError:
        return None
    for name in names:
        path = os.path.join(root, name, "cache_key.json")
        try:
            with open(path) as f:
                fields = json.load(f).get("bundle")
            when = os.stat(path).st_mtime
        except (OSError, ValueError, AttributeError):
            continue
        if fields == key.fields and (best_time is None or when > best_time):
            best, best_time = os.path.join(root, name), when
    return best


def bundle_dir(key):
    """The cached bundle directory for key, compiled now if it is missing."""
    try:
        compiler = compiler_path()
    except SkipattnError as e:
        found = _prebuilt(key)
        if found:
            return found
        raise SkipattnError("%s; nor does %s hold a bundle for %s" %
                            (e, cache_dir(), json.dumps(key.fields,
                                                        sort_keys=True)))
    digest = key.digest(compiler)
    root = cache_dir()
    final = os.path.join(root, digest)
    if os.path.isfile(os.path.join(final, "manifest.json")):
        return final
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=digest + ".tmp", dir=root)
    out = os.path.join(tmp, "bundle")
    mlir_path = None
    if key.fields["mask"] is not None:
        mlir_path = os.path.join(tmp, "attention.mlir")
        with open(mlir_path, "w") as f:
            f.write(key.mlir())
    cmd = key.compile_args(compiler, out, mlir_path)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SkipattnError("skipattn-compile failed (exit %d): %s\n%s" % (
            proc.returncode, " ".join(cmd), (proc.stderr or proc.stdout)[-2000:]))
    with open(os.path.join(out, "cache_key.json"), "w") as f:
        json.dump({"bundle": key.fields,
                   "compiler": compiler_identity(compiler)}, f, indent=1)
    try:
        os.rename(out, final)  # atomic; another process may have won
    except OSError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    return final


class _Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in (
        "batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim",
        "value_head_dim")]


class _Options(ctypes.Structure):
    """skipattn_run_options (every field, in runtime.h's order)."""
    _fields_ = [("num_splits", ctypes.c_int64), ("lse", ctypes.c_void_p),
                ("block_table", ctypes.c_void_p), ("seq_lens", ctypes.c_void_p),
                ("num_pages", ctypes.c_int64), ("max_pages", ctypes.c_int64),
                ("head_stats", ctypes.c_void_p),
                ("cu_seqlens_q", ctypes.c_void_p),
                ("cu_seqlens_k", ctypes.c_void_p),
                ("max_seqlen_q", ctypes.c_int64),
                ("init_max", ctypes.c_void_p), ("max", ctypes.c_void_p)]


_runtime = None


def runtime():
    global _runtime
    if _runtime is None:
        lib = ctypes.CDLL(runtime_path())
        lib.skipattn_last_error.restype = ctypes.c_char_p
        lib.skipattn_status_name.restype = ctypes.c_char_p
        lib.skipattn_status_name.argtypes = [ctypes.c_int]
        lib.skipattn_bundle_load.argtypes = [ctypes.c_char_p,
                                             ctypes.POINTER(ctypes.c_void_p)]
        lib.skipattn_bundle_free.argtypes = [ctypes.c_void_p]
        lib.skipattn_check_host.argtypes = [ctypes.c_void_p]
        lib.skipattn_check_device.argtypes = [ctypes.c_void_p]
        run_args = [ctypes.c_void_p, ctypes.POINTER(_Shape), ctypes.c_void_p,
                    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float,
                    ctypes.POINTER(ctypes.c_int64)]
        lib.skipattn_run_host.argtypes = run_args
        lib.skipattn_run_device.argtypes = run_args + [ctypes.c_void_p]
        # The per-head variants: int64 [B, Hq, 2] in host or device memory.
        head_args = run_args[:-1] + [ctypes.c_void_p]
        lib.skipattn_run_host_head_stats.argtypes = head_args
        lib.skipattn_run_device_head_stats.argtypes = head_args + [
            ctypes.c_void_p]
        # With options (the lse output of a bundle compiled with --lse).
        options = ctypes.POINTER(_Options)
        lib.skipattn_run_host_ex.argtypes = run_args + [options]
        lib.skipattn_run_device_ex.argtypes = run_args + [ctypes.c_void_p,
                                                          options]
        _runtime = lib
    return _runtime


def check(status):
    if status != 0:
        lib = runtime()
        raise SkipattnError("%s: %s" % (lib.skipattn_status_name(status).decode(),
                                        lib.skipattn_last_error().decode()))


def load(key):
    """A loaded bundle handle for key (compiled and cached on first use)."""
    with _lock:
        k = json.dumps(key.fields, sort_keys=True)
        if k not in _loaded:
            directory = bundle_dir(key)
            lib = runtime()
            handle = ctypes.c_void_p()
            check(lib.skipattn_bundle_load(directory.encode(), ctypes.byref(handle)))
            if key.fields["target"] == "cpu":
                check(lib.skipattn_check_host(handle))
            else:
                check(lib.skipattn_check_device(handle))
            _loaded[k] = handle
        return _loaded[k]
