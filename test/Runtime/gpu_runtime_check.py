#!/usr/bin/env python3
"""The runtime's GPU path on a real NVIDIA GPU (not run by lit).

For the lent GPU machine, which has PyTorch and CuPy but no MLIR. From the
repository root:

  python3 test/Runtime/gpu_runtime_check.py            # builds build-rt/
  python3 test/Runtime/gpu_runtime_check.py --no-build --build-dir DIR
  ... [--mgpu-object program.o]

It builds libskipattn_runtime and skipattn-run on their own
(cmake -DSKIPATTN_RUNTIME_ONLY=ON), then launches the hand-written PTX
fixture (Inputs/echo_kernel.ptx, TEST FIXTURE: not an attention kernel)
through skipattn_run_device with ctypes, on PyTorch tensors and a PyTorch
stream (so in PyTorch's context) and on memory from skipattn_device_alloc.
The kernel copies q to out and echoes what it received into out[0:16]
(extents, num_splits, lambda, k[0], v[0], its grid and block, whether it
got a workspace, a word of its 80 KiB of dynamic shared memory, and
what the second launch read back from the workspace), and counts CTAs into
the stats buffer, so each check compares the launch with what the manifest
says it must be. Also: both alternatives of the manifest, an asynchronous
run, a cubin, a scale-factor bundle, skipattn-run on .npy files, and the
failures: a chip the device cannot run (SKIPATTN_ERROR_TARGET), a
workspace of 10^15 bytes (SKIPATTN_ERROR_OUT_OF_MEMORY, after which runs
still work), PTX the JIT rejects (SKIPATTN_ERROR_DEVICE with its log) and
"params" that disagree with the kernel (SKIPATTN_ERROR_BUNDLE).

--mgpu-object takes the object that mgpu-abi.mlir's lowering wrote on a
machine with MLIR (build/test/Runtime/Output/mgpu-abi.mlir.tmp/program.o),
links it with Inputs/mgpu_host.c against the runtime built here and runs it
on the GPU: MLIR's own host code, through the runtime's mgpu* functions.

Prints one PASS or FAIL line per check and exits 1 if any failed.
"""

import argparse
import ctypes
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INPUTS = os.path.join(HERE, "Inputs")

OK, INVALID_ARGUMENT, BUNDLE, SHAPE, TARGET, NO_DRIVER, DEVICE, OOM = range(8)

failures = []


def check(name, condition, detail=""):
    print(("PASS" if condition else "FAIL") + ": " + name +
          ("" if condition or not detail else " (" + detail + ")"))
    sys.stdout.flush()
    if not condition:
        failures.append(name)
    return condition


def f32(x):
    """x rounded to float32, as the kernel sees it."""
    return struct.unpack("f", struct.pack("f", x))[0]


class Shape(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in
                ("batch", "q_heads", "kv_heads", "q_len", "kv_len",
                 "head_dim", "value_head_dim")]


class Runtime:
    def __init__(self, path):
        rt = ctypes.CDLL(path)
        vp, i64 = ctypes.c_void_p, ctypes.c_int64
        rt.skipattn_last_error.restype = ctypes.c_char_p
        rt.skipattn_status_name.restype = ctypes.c_char_p
        rt.skipattn_bundle_load.argtypes = [ctypes.c_char_p,
                                            ctypes.POINTER(vp)]
        rt.skipattn_bundle_free.argtypes = [vp]
        rt.skipattn_shape_from_tensors.argtypes = [vp, vp, vp, vp,
                                                   ctypes.POINTER(Shape)]
        rt.skipattn_check_device.argtypes = [vp]
        rt.skipattn_run_device.argtypes = [vp, ctypes.POINTER(Shape), vp, vp,
                                           vp, vp, vp, vp, ctypes.c_float,
                                           vp, vp]
        rt.skipattn_plan_device.argtypes = [vp, ctypes.POINTER(Shape), i64,
                                            ctypes.POINTER(ctypes.c_char_p)]
        rt.skipattn_device_alloc.argtypes = [ctypes.c_size_t,
                                             ctypes.POINTER(vp)]
        rt.skipattn_device_free.argtypes = [vp]
        rt.skipattn_device_upload.argtypes = [vp, vp, ctypes.c_size_t]
        rt.skipattn_device_download.argtypes = [vp, vp, ctypes.c_size_t]
        rt.skipattn_device_synchronize.argtypes = [vp]
        self.rt = rt

    def error(self):
        return self.rt.skipattn_last_error().decode()

    def load(self, directory):
        bundle = ctypes.c_void_p()
        status = self.rt.skipattn_bundle_load(directory.encode(),
                                              ctypes.byref(bundle))
        if status:
            raise RuntimeError("cannot load %s: %s" % (directory,
                                                       self.error()))
        return bundle

    def shape(self, bundle, q, k, v):
        dims = lambda s: (ctypes.c_int64 * 4)(*s)
        shape = Shape()
        status = self.rt.skipattn_shape_from_tensors(
            bundle, dims(q), dims(k), dims(v), ctypes.byref(shape))
        if status:
            raise RuntimeError(self.error())
        return shape

    def plan(self, bundle, shape):
        text = ctypes.c_char_p()
        status = self.rt.skipattn_plan_device(bundle, ctypes.byref(shape), 0,
                                              ctypes.byref(text))
        if status:
            raise RuntimeError(self.error())
        return json.loads(text.value.decode())

    def run(self, bundle, shape, q, k, v, out, lam, stats=True, stream=None):
        """Pointers are ints; returns (status, message, stats or None)."""
        counters = (ctypes.c_int64 * 2)(-1, -1)
        status = self.rt.skipattn_run_device(
            bundle, ctypes.byref(shape), q, k, v, None, None, out,
            ctypes.c_float(lam), counters if stats else None, stream)
        return status, self.error(), (list(counters) if stats else None)


def write_bundle(directory, manifest=None, ptx=None, cubin=None, **changes):
    """The echo bundle, with changes to top-level keys."""
    os.makedirs(directory, exist_ok=True)
    if manifest is None:
        with open(os.path.join(INPUTS, "echo_manifest.json")) as f:
            manifest = json.load(f)
    manifest.update(changes)
    if cubin:
        shutil.copyfile(cubin, os.path.join(directory, "kernel.cubin"))
        manifest["cubin"] = "kernel.cubin"
    # The runtime refuses PTX without the descriptor skipattn-compile puts
    # there (bundle version 2).
    sys.path.insert(0, INPUTS)
    from make_gpu_bundle import with_descriptor
    with open(ptx or os.path.join(INPUTS, "echo_kernel.ptx")) as f:
        text = f.read()
    with open(os.path.join(directory, "kernel.ptx"), "w") as f:
        f.write(with_descriptor(text, manifest))
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return directory


def expected_echo(torch, q, k, v, lam, grid, num_splits):
    b, hq, sq, _ = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    head = [b, hq, hkv, sq, skv, num_splits, f32(lam), k.flatten()[0].item(),
            v.flatten()[0].item(), grid[0], grid[1], grid[2], 128, 1, 3.0,
            7.0 + num_splits]
    return torch.tensor(head, dtype=torch.float32)


def check_echo(torch, name, out, q, k, v, lam, grid, num_splits):
    got = out.flatten().cpu()
    want_head = expected_echo(torch, q, k, v, lam, grid, num_splits)
    head_ok = torch.equal(got[:16], want_head)
    check(name + ": kernel received the manifest's parameters and grid",
          head_ok, "got %s, want %s" % (got[:16].tolist(),
                                        want_head.tolist()))
    check(name + ": out equals q past the echo",
          torch.equal(got[16:], q.flatten().cpu()[16:]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build-rt"))
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--mgpu-object")
    args = parser.parse_args()

    if not args.no_build:
        subprocess.run(["cmake", "-S", ROOT, "-B", args.build_dir,
                        "-DSKIPATTN_RUNTIME_ONLY=ON",
                        "-DCMAKE_BUILD_TYPE=Release"], check=True)
        subprocess.run(["cmake", "--build", args.build_dir, "-j"], check=True)
    rt = Runtime(os.path.join(args.build_dir, "lib", "libskipattn_runtime.so"))
    run_cli = os.path.join(args.build_dir, "bin", "skipattn-run")

    import torch
    torch.manual_seed(0)
    cuda = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    print("device: %s, compute capability %d.%d, %d SMs" %
          (props.name, props.major, props.minor,
           props.multi_processor_count))
    num_sms = props.multi_processor_count
    work = tempfile.mkdtemp(prefix="skipattn-gpu-check-")
    echo = rt.load(write_bundle(os.path.join(work, "echo")))

    check("check_device on the sm_%d%da bundle" % (9, 0),
          rt.rt.skipattn_check_device(echo) == OK, rt.error())

    # Prefill: q_len 70 takes the second alternative, two q-blocks.
    b, hq, hkv, sq, skv = 2, 4, 2, 70, 130
    q = torch.randn(b, hq, sq, 64, device=cuda)
    k = torch.randn(b, hkv, skv, 64, device=cuda)
    v = torch.randn(b, hkv, skv, 64, device=cuda)
    out = torch.zeros(b, hq, sq, 64, device=cuda)
    shape = rt.shape(echo, q.shape, k.shape, v.shape)
    plan = rt.plan(echo, shape)
    check("plan uses the device's SM count",
          plan["num_sms"] == num_sms and plan["kernel"] == "prefill", plan)
    # A stream of PyTorch's own: it must first wait for the work that filled
    # q, k and v on the current one.
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        status, message, stats = rt.run(
            echo, shape, q.data_ptr(), k.data_ptr(), v.data_ptr(),
            out.data_ptr(), 0.3, stream=stream.cuda_stream)
    check("prefill on a PyTorch stream with stats", status == OK, message)
    grid = [math.ceil(sq / 64), hq, b]
    check("prefill stats = {CTAs, CTAs of q-block 0}",
          stats == [grid[0] * hq * b, hq * b], stats)
    check_echo(torch, "prefill", out, q, k, v, 0.3, grid, 1)

    # Again: the counters are this call's.
    status, message, stats = rt.run(echo, shape, q.data_ptr(), k.data_ptr(),
                                    v.data_ptr(), out.data_ptr(), 0.3)
    check("a second run counts afresh",
          status == OK and stats == [grid[0] * hq * b, hq * b], stats)

    # Decode: q_len 1 takes the first alternative with split-KV.
    q1 = torch.randn(b, hq, 1, 64, device=cuda)
    out1 = torch.zeros(b, hq, 1, 64, device=cuda)
    shape1 = rt.shape(echo, q1.shape, k.shape, v.shape)
    splits = min(math.ceil(skv / 64), max(math.ceil(num_sms / (b * hkv)), 1))
    status, message, stats = rt.run(echo, shape1, q1.data_ptr(),
                                    k.data_ptr(), v.data_ptr(),
                                    out1.data_ptr(), 0.125, stats=False)
    check("decode, asynchronous (no stats)", status == OK, message)
    torch.cuda.synchronize()
    check_echo(torch, "decode (%d splits)" % splits, out1, q1, k, v, 0.125,
               [1, hq, b], splits)

    # Device memory of the runtime's own helpers, default stream.
    nbytes = lambda t: t.numel() * t.element_size()
    pointers = []
    for tensor in (q, k, v, out):
        p = ctypes.c_void_p()
        status = rt.rt.skipattn_device_alloc(nbytes(tensor), ctypes.byref(p))
        check("skipattn_device_alloc", status == OK, rt.error())
        pointers.append(p)
    host = [t.cpu().contiguous() for t in (q, k, v)]
    for p, t in zip(pointers, host):
        rt.rt.skipattn_device_upload(p, t.data_ptr(), nbytes(t))
    status, message, stats = rt.run(echo, shape, pointers[0].value,
                                    pointers[1].value, pointers[2].value,
                                    pointers[3].value, 0.5, stats=False)
    check("run on skipattn_device_alloc memory",
          status == OK and rt.rt.skipattn_device_synchronize(None) == OK,
          message)
    result = torch.empty(b, hq, sq, 64)
    rt.rt.skipattn_device_download(result.data_ptr(), pointers[3],
                                   nbytes(result))
    check_echo(torch, "device helpers", result, q.cpu(), k.cpu(), v.cpu(),
               0.5, grid, 1)
    for p in pointers:
        check("skipattn_device_free", rt.rt.skipattn_device_free(p) == OK,
              rt.error())

    # A scale-factor bundle: the kernel's float receives lambda * kv_len.
    manifest = json.load(open(os.path.join(INPUTS, "echo_manifest.json")))
    manifest["skip"] = {"kind": "scale_factor", "value": 8.0,
                        "vote_rows": 64}
    manifest["arguments"] = ["q", "k", "v", "out", "scale_factor", "stats"]
    for variant in manifest["kernels"]:
        params = variant["launches"][0]["params"]
        params[params.index("threshold")] = "scale_factor"
    sf = rt.load(write_bundle(os.path.join(work, "scale-factor"), manifest))
    lam = 8.0 / skv
    status, message, _ = rt.run(sf, rt.shape(sf, q.shape, k.shape, v.shape),
                                q.data_ptr(), k.data_ptr(), v.data_ptr(),
                                out.data_ptr(), lam)
    got = out.flatten()[6].item()
    check("scale_factor = lambda * kv_len",
          status == OK and got == f32(f32(lam) * skv), "%s, %r" % (message,
                                                                   got))

    # A cubin for this device, when ptxas is here.
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    if os.access(ptxas, os.X_OK) and (props.major, props.minor) == (9, 0):
        cubin = os.path.join(work, "echo.cubin")
        subprocess.run([ptxas, "-arch=sm_90a",
                        os.path.join(INPUTS, "echo_kernel.ptx"), "-o", cubin],
                       check=True)
        with_cubin = rt.load(write_bundle(os.path.join(work, "cubin"),
                                          cubin=cubin))
        out.zero_()
        status, message, stats = rt.run(with_cubin, shape, q.data_ptr(),
                                        k.data_ptr(), v.data_ptr(),
                                        out.data_ptr(), 0.3)
        check("cubin bundle runs", status == OK, message)
        check_echo(torch, "cubin", out, q, k, v, 0.3, grid, 1)
    else:
        print("SKIP: cubin (no ptxas, or not a 9.0 device)")

    # Failures. A chip this device cannot run.
    other = "sm_100a" if (props.major, props.minor) != (10, 0) else "sm_90a"
    wrong = rt.load(write_bundle(os.path.join(work, "wrong-chip"),
                                 chip=other))
    status = rt.rt.skipattn_check_device(wrong)
    message = rt.error()
    check("check_device: %s is SKIPATTN_ERROR_TARGET" % other,
          status == TARGET and other in message and props.name in message,
          message)
    status, message, _ = rt.run(wrong, shape, q.data_ptr(), k.data_ptr(),
                                v.data_ptr(), out.data_ptr(), 0.3)
    check("run_device: %s is SKIPATTN_ERROR_TARGET" % other,
          status == TARGET, message)

    # Out of memory, and the device still works after it.
    manifest = json.load(open(os.path.join(INPUTS, "echo_manifest.json")))
    for variant in manifest["kernels"]:
        variant["workspace_bytes"] = 1000000000000000
    oom = rt.load(write_bundle(os.path.join(work, "oom"), manifest))
    status, message, _ = rt.run(oom, shape, q.data_ptr(), k.data_ptr(),
                                v.data_ptr(), out.data_ptr(), 0.3)
    check("workspace of 1e15 bytes is SKIPATTN_ERROR_OUT_OF_MEMORY",
          status == OOM and "CUDA_ERROR_OUT_OF_MEMORY" in message, message)
    out.zero_()
    status, message, stats = rt.run(echo, shape, q.data_ptr(), k.data_ptr(),
                                    v.data_ptr(), out.data_ptr(), 0.3)
    check("runs still work after out of memory", status == OK, message)
    check_echo(torch, "after out of memory", out, q, k, v, 0.3, grid, 1)

    # PTX the JIT rejects.
    bad_ptx = os.path.join(work, "bad.ptx")
    with open(os.path.join(INPUTS, "echo_kernel.ptx")) as f:
        text = f.read()
    with open(bad_ptx, "w") as f:
        f.write(text.replace("%r16, %r16, %r11;",
                             "%r16, %r16, %undefined_register;"))
    bad = rt.load(write_bundle(os.path.join(work, "bad-ptx"), ptx=bad_ptx))
    status, message, _ = rt.run(bad, shape, q.data_ptr(), k.data_ptr(),
                                v.data_ptr(), out.data_ptr(), 0.3)
    check("bad PTX is SKIPATTN_ERROR_DEVICE with the JIT log",
          status == DEVICE and "JIT log:" in message and
          "undefined_register" in message, message)

    # "params" that disagree with the kernel, caught before the launch.
    manifest = json.load(open(os.path.join(INPUTS, "echo_manifest.json")))
    manifest["kernels"] = [{"launches": [{
        "function": "skipattn_prefill", "block": [128, 1, 1],
        "grid": [1, 1, 1], "params": ["q", "k", "v"]}]}]
    few = rt.load(write_bundle(os.path.join(work, "few-params"), manifest))
    status, message, _ = rt.run(few, shape, q.data_ptr(), k.data_ptr(),
                                v.data_ptr(), out.data_ptr(), 0.3)
    check("params the kernel does not take are SKIPATTN_ERROR_BUNDLE",
          status == BUNDLE and "takes 13" in message, message)
    torch.cuda.synchronize()
    check("the context is healthy at the end",
          torch.cuda.is_available() and (out.sum() == out.sum()).item())

    # skipattn-run on .npy files.
    try:
        import numpy as np
    except ImportError:
        np = None
        print("SKIP: skipattn-run (no numpy)")
    if np is not None:
        files = {}
        for name, tensor in (("q", q), ("k", k), ("v", v)):
            files[name] = os.path.join(work, name + ".npy")
            np.save(files[name], tensor.cpu().numpy())
        out_file = os.path.join(work, "o.npy")
        proc = subprocess.run(
            [run_cli, os.path.join(work, "echo"), "--q", files["q"], "--k",
             files["k"], "--v", files["v"], "--out", out_file, "--stats"],
            capture_output=True, text=True)
        check("skipattn-run on the gpu bundle", proc.returncode == 0,
              proc.stderr.strip())
        if proc.returncode == 0:
            line = json.loads(proc.stdout)
            check("skipattn-run JSON: target gpu, stats",
                  line["target"] == "gpu" and
                  line["tiles_total"] == grid[0] * hq * b and
                  line["tiles_skipped"] == hq * b and line["wall_ms"] > 0,
                  proc.stdout.strip())
            check_echo(torch, "skipattn-run", torch.from_numpy(
                np.load(out_file)), q.cpu(), k.cpu(), v.cpu(), 0.25, grid, 1)
        proc = subprocess.run(
            [run_cli, os.path.join(work, "wrong-chip"), "--q", files["q"],
             "--k", files["k"], "--v", files["v"], "--out", out_file],
            capture_output=True, text=True)
        check("skipattn-run on a wrong-chip bundle: exit 1, one line",
              proc.returncode == 1 and proc.stdout == "" and
              proc.stderr.count("\n") == 1 and
              "skipattn-run: error: this bundle is compiled for" in
              proc.stderr, proc.stderr.strip())

    if args.mgpu_object:
        lib = os.path.join(args.build_dir, "lib")
        program = os.path.join(work, "mgpu-program")
        subprocess.run(["cc", os.path.join(INPUTS, "mgpu_host.c"),
                        args.mgpu_object, "-o", program, "-L" + lib,
                        "-lskipattn_runtime", "-Wl,-rpath," + lib,
                        "-Wl,--no-undefined"], check=True)
        proc = subprocess.run([program], capture_output=True, text=True)
        check("an MLIR-lowered host program runs through the mgpu* ABI",
              proc.returncode == 0 and
              proc.stdout.strip() == "host: 4 60 32 62",
              (proc.stdout + proc.stderr).strip())

    for bundle in (echo, sf, wrong, oom, bad, few):
        rt.rt.skipattn_bundle_free(bundle)
    shutil.rmtree(work, ignore_errors=True)
    print("%d check(s) failed" % len(failures) if failures else
          "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
