#!/usr/bin/env python3
"""The runtime on a real GPU when things go wrong (not run by lit).

For the lent GPU machine (PyTorch, no MLIR), after
`scripts/gpu-tests.sh prepare` here and with build-gpu/ copied there. From
the repository root, one command:

  python3 test/Runtime/gpu_robustness.py         # builds build-rt/ first
  python3 test/Runtime/gpu_robustness.py --no-build --build-dir DIR

Each case must end in a defined result, an error code with a message or a
correct output, never a crash or a hang:
- out of memory: a 2^50-byte skipattn_device_alloc is
  SKIPATTN_ERROR_OUT_OF_MEMORY, and runs work afterwards;
- a bundle for another architecture (the echo fixture for sm_100a) is
  SKIPATTN_ERROR_TARGET from check and run;
- PTX the driver's JIT cannot take (".version 99.0": a driver too old for
  the PTX) is SKIPATTN_ERROR_DEVICE with the JIT's log;
- a manifest edited away from its kernel (descriptor mismatch) is
  SKIPATTN_ERROR_BUNDLE at load, on the GPU as here;
- four threads on four streams run two real bundles (build-gpu/tests) at
  once, 20 calls each, and every output matches a float64 reference;
- an invalid device pointer for q: the kernel faults; the run (with stats,
  so it synchronizes) returns SKIPATTN_ERROR_DEVICE. A fault poisons the
  CUDA context, so this case runs last, in a child process.
Prints PASS/FAIL per case and exits 1 if any failed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "kernels_runtime", "python"))
sys.path.insert(0, os.path.join(HERE, "Inputs"))
sys.path.insert(0, os.path.join(ROOT, "test", "GPU"))

OK, INVALID_ARGUMENT, BUNDLE, SHAPE, TARGET, NO_DRIVER, DEVICE, OOM = range(8)
failures = []


def check(name, condition, detail=""):
    print(("PASS" if condition else "FAIL") + ": " + name +
          ("" if condition or not detail else " (" + str(detail)[:300] + ")"))
    sys.stdout.flush()
    if not condition:
        failures.append(name)


def echo_bundle(directory, ptx_edit=None, descriptor=None, **changes):
    """The echo fixture (test/Runtime/Inputs), with manifest changes."""
    from make_gpu_bundle import with_descriptor
    with open(os.path.join(HERE, "Inputs", "echo_manifest.json")) as f:
        manifest = json.load(f)
    manifest.update(changes)
    with open(os.path.join(HERE, "Inputs", "echo_kernel.ptx")) as f:
        ptx = f.read()
    if ptx_edit:
        ptx = ptx_edit(ptx)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "kernel.ptx"), "w") as f:
        f.write(with_descriptor(ptx, manifest, descriptor))
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return directory


def status_of(rt, call):
    status = call()
    return status, rt.lib.skipattn_last_error().decode()


def attention_inputs(torch, bundle, b, sq, skv, seed):
    m = bundle.manifest
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16}[m["dtype"]]
    g = torch.Generator(device="cuda").manual_seed(seed)
    s = m["shapes"]
    hq, hkv, d = s["q_heads"], s["kv_heads"], s["head_dim"]
    q = torch.randn(b, hq, sq, d, device="cuda", generator=g).to(dtype)
    k = torch.randn(b, hkv, skv, d, device="cuda", generator=g).to(dtype)
    v = torch.randn(b, hkv, skv, d, device="cuda", generator=g).to(dtype)
    return q, k, v


def threads_and_streams(torch, rt, bundles):
    from check_gpu import reference
    errors = []

    def worker(index):
        try:
            bundle = bundles[index % len(bundles)]
            stream = torch.cuda.Stream()
            for call in range(20):
                sq = 1 if call % 3 == 0 else 97 + call
                q, k, v = attention_inputs(torch, bundle, 2, sq, 300 + call,
                                           seed=index * 100 + call)
                out = torch.full(q.shape[:3] + v.shape[3:], float("nan"),
                                 device="cuda", dtype=q.dtype)
                torch.cuda.current_stream().synchronize()
                with torch.cuda.stream(stream):
                    bundle.run_device(q, k, v, out, lam=0.0,
                                      stream=stream.cuda_stream)
                stream.synchronize()
                m = bundle.manifest
                ref = reference(q, k, v, m["causal"], m["scale"])
                err = (out.double() - ref).abs().max().item()
                if not err < 2e-2:
                    errors.append("thread %d call %d: max error %g" %
                                  (index, call, err))
        except Exception as e:  # reported, not raised: threads
            errors.append("thread %d: %s" % (index, e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("4 threads on 4 streams, 2 bundles, 80 runs against float64",
          not errors, "; ".join(errors[:3]))


def invalid_pointer_child(lib_path, bundle_dir):
    """Runs in a child: a run with q pointing nowhere."""
    import torch
    from skipattn_runtime import Runtime
    rt = Runtime(lib_path)
    bundle = rt.load(bundle_dir)
    q, k, v = attention_inputs(torch, bundle, 1, 128, 128, seed=1)
    out = torch.empty_like(q)
    shape = bundle.shape_of(q, k, v)
    import ctypes
    counters = (ctypes.c_int64 * 2)()
    has_stats = bundle.manifest["stats"]
    status = rt.lib.skipattn_run_device(
        bundle.handle, ctypes.byref(shape), 0x1000, k.data_ptr(), v.data_ptr(),
        None, None, out.data_ptr(), 0.0, counters if has_stats else None,
        torch.cuda.current_stream().cuda_stream)
    if status == OK and not has_stats:
        status = rt.lib.skipattn_device_synchronize(
            ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    print("STATUS %d %s" % (status, rt.lib.skipattn_last_error().decode()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build-rt"))
    parser.add_argument("--bundles",
                        default=os.path.join(ROOT, "build-gpu", "tests"))
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    lib_path = os.path.join(args.build_dir, "lib", "libskipattn_runtime.so")
    if args.child:
        invalid_pointer_child(*args.child)
        return 0
    if not args.no_build:
        subprocess.run(["cmake", "-S", ROOT, "-B", args.build_dir, "-G", "Ninja",
                        "-DSKIPATTN_RUNTIME_ONLY=ON"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", args.build_dir], check=True,
                       stdout=subprocess.DEVNULL)

    import ctypes
    import torch
    from skipattn_runtime import Runtime
    rt = Runtime(lib_path)
    lib = rt.lib
    lib.skipattn_device_alloc.argtypes = [ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_void_p)]
    work = tempfile.mkdtemp(prefix="skipattn-robustness-")
    torch.cuda.init()

    # Out of memory, then business as usual.
    pointer = ctypes.c_void_p()
    status, message = status_of(rt, lambda: lib.skipattn_device_alloc(
        1 << 50, ctypes.byref(pointer)))
    check("2^50-byte alloc is SKIPATTN_ERROR_OUT_OF_MEMORY",
          status == OOM and not pointer.value, "%d %s" % (status, message))

    # Another architecture.
    handle = ctypes.c_void_p()
    lib.skipattn_bundle_load(
        echo_bundle(os.path.join(work, "sm100"), chip="sm_100a").encode(),
        ctypes.byref(handle))
    status, message = status_of(rt, lambda: lib.skipattn_check_device(handle))
    check("sm_100a bundle is SKIPATTN_ERROR_TARGET", status == TARGET,
          "%d %s" % (status, message))
    lib.skipattn_bundle_free(handle)

    # PTX newer than the driver.
    newer = echo_bundle(os.path.join(work, "ptx99"), chip="sm_80",
                        ptx_edit=lambda p: p.replace(".version 8.0",
                                                     ".version 99.0"))
    bundle = rt.load(newer)
    x = torch.zeros(1, 1, 70, 64, device="cuda")
    out = torch.zeros_like(x)
    try:
        bundle.run_device(x, x, x, out, lam=0.25, stats=True)
        check("PTX .version 99.0 is SKIPATTN_ERROR_DEVICE", False, "it ran")
    except RuntimeError as e:
        check("PTX .version 99.0 is SKIPATTN_ERROR_DEVICE with the JIT log",
              "SKIPATTN_ERROR_DEVICE" in str(e), e)

    # A manifest that does not describe its kernel.
    edited = echo_bundle(os.path.join(work, "edited"),
                         descriptor={"shapes": {"batch": -1, "q_heads": -1,
                                                "kv_heads": -1, "q_len": -1,
                                                "kv_len": -1, "head_dim": 128,
                                                "value_head_dim": 64}})
    status, message = status_of(rt, lambda: lib.skipattn_bundle_load(
        edited.encode(), ctypes.byref(handle)))
    check("manifest edited away from its kernel is SKIPATTN_ERROR_BUNDLE",
          status == BUNDLE and "shapes.head_dim" in message,
          "%d %s" % (status, message))

    # Real bundles, several threads and streams.
    names = ["f16_d64_causal", "bf16_d128_gqa_causal_skip"]
    dirs = [os.path.join(args.bundles, n) for n in names]
    missing = [d for d in dirs if not os.path.isdir(d)]
    if missing:
        check("test bundles present (run scripts/gpu-tests.sh prepare)",
              False, ", ".join(missing))
    else:
        bundles = [rt.load(d) for d in dirs]
        threads_and_streams(torch, rt, bundles)
        # An invalid device pointer, last and in a child process.
        child = subprocess.run(
            [sys.executable, __file__, "--build-dir", args.build_dir,
             "--child", lib_path, dirs[0]],
            capture_output=True, text=True, timeout=300)
        line = [l for l in child.stdout.splitlines() if l.startswith("STATUS")]
        check("invalid device pointer is SKIPATTN_ERROR_DEVICE, no crash",
              child.returncode == 0 and line and
              line[0].startswith("STATUS %d " % DEVICE),
              "rc %d: %s %s" % (child.returncode, child.stdout[-300:],
                                child.stderr[-300:]))

    print("%d failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
