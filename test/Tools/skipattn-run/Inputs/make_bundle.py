#!/usr/bin/env python3
"""TEST FIXTURE: writes a fake cpu bundle for the skipattn-run tests.

It writes DIR/manifest.json as skipattn-compile would and compiles
naive_attention.c (a naive attention with the bundle entry ABI, not
skipattn's kernel) into DIR/kernel.so with `cc -shared`, passing -D flags
that match the manifest so that the library's signature is the one the
manifest's "arguments" names, and exporting skipattn_bundle_descriptor
(the manifest's kernel keys) as skipattn-compile does.

  make_bundle.py DIR [--dtype f32|f16|bf16] [--shapes b,hq,hkv,sq,skv,d,dv]
                 [--causal] [--scale S] [--mask DTYPE:b,h,sq,skv]
                 [--skip threshold:X | --skip scale_factor:F] [--stats]
                 [--block-m M] [--block-n N] [--no-library] [--entry NAME]
                 [--cpu-features F,G] [--descriptor-set KEY=JSON]...
                 [--no-descriptor]

--descriptor-set and --no-descriptor make a library whose descriptor
disagrees with the manifest, or has none (the runtime must refuse both).

Extents are integers or '?' (dynamic, -1 in the manifest).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

DTYPES = {"f32": 0, "f16": 1, "bf16": 2, "i1": 3}


def extents(text):
    """'1,4,?,64' -> [1, 4, -1, 64]: '?' is dynamic, as in MLIR types."""
    return [-1 if x == "?" else int(x) for x in text.split(",")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    p.add_argument("--shapes", default="1,4,1,?,?,64,64",
                   help="batch,q_heads,kv_heads,q_len,kv_len,head_dim,"
                        "value_head_dim ('?' = dynamic)")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--scale", type=float, default=None,
                   help="default 1/sqrt(head_dim)")
    p.add_argument("--mask", default=None, help="DTYPE:b,h,sq,skv")
    p.add_argument("--skip", default=None, help="KIND:VALUE")
    p.add_argument("--vote-rows", type=int, default=None)
    p.add_argument("--stats", action="store_true")
    p.add_argument("--block-m", type=int, default=64)
    p.add_argument("--block-n", type=int, default=64)
    p.add_argument("--no-library", action="store_true",
                   help="write the manifest only")
    p.add_argument("--entry", default="_mlir_ciface_skipattn_attention",
                   help="the manifest's entry (the library always defines "
                        "_mlir_ciface_skipattn_attention)")
    p.add_argument("--cpu-features", default="",
                   help="the manifest's cpu.features, comma-separated")
    p.add_argument("--descriptor-set", action="append", default=[],
                   help="KEY=JSON: a descriptor key that differs")
    p.add_argument("--no-descriptor", action="store_true")
    a = p.parse_args()

    dims = extents(a.shapes)
    keys = ["batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim",
            "value_head_dim"]
    shapes = dict(zip(keys, dims))
    scale = a.scale if a.scale is not None else 1.0 / shapes["head_dim"] ** 0.5

    mask = None
    if a.mask:
        dtype, dims = a.mask.split(":")
        mask = {"dtype": dtype, "shape": extents(dims)}
    skip = None
    if a.skip:
        kind, value = a.skip.split(":")
        skip = {"kind": kind, "value": float(value),
                "vote_rows": a.vote_rows or a.block_m}
    arguments = ["q", "k", "v"] + (["mask"] if mask else []) + ["out"]
    # The run-time skip argument is the threshold itself, or the scale
    # factor F with lambda = F / kv_len computed in the kernel.
    arguments += ([skip["kind"]] if skip else []) + (["stats"] if a.stats else [])

    manifest = {
        "format": "skipattn-bundle", "version": 2,
        "target": "cpu", "chip": None,
        "cpu": {"name": "x86-64", "tune": "generic",
                "features": [f for f in a.cpu_features.split(",") if f]},
        "library": "kernel.so",
        "entry": a.entry,
        "dtype": a.dtype,
        "shapes": shapes,
        "causal": a.causal, "scale": scale,
        "mask": mask, "skip": skip, "stats": a.stats,
        "stats_layout": "per_head" if a.stats else None,
        "block_m": a.block_m, "block_n": a.block_n,
        "arguments": arguments,
    }
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    if a.no_library:
        return 0

    if skip and skip["vote_rows"] != a.block_m:
        sys.exit("make_bundle.py: the fixture votes over whole q-blocks only")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("make_bundle.py: no C compiler (cc) on PATH")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "naive_attention.c")
    defines = {
        "FIXTURE_DTYPE": DTYPES[a.dtype],
        "FIXTURE_MASK_DTYPE": DTYPES[mask["dtype"]] if mask else -1,
        "FIXTURE_SKIP": 0 if not skip else 1 if skip["kind"] == "threshold" else 2,
        "FIXTURE_STATS": int(a.stats),
        "FIXTURE_CAUSAL": int(a.causal),
        "FIXTURE_SCALE": repr(float(scale)),
        "FIXTURE_BLOCK_M": a.block_m,
        "FIXTURE_BLOCK_N": a.block_n,
    }
    # The descriptor: every manifest key but the file names.
    descriptor = {k: v for k, v in manifest.items()
                  if k not in ("library", "entry", "ptx", "cubin")}
    for item in a.descriptor_set:
        key, _, value = item.partition("=")
        descriptor[key] = json.loads(value)
    sources = [src]
    if not a.no_descriptor:
        text = json.dumps(descriptor, separators=(",", ":"))
        c_file = os.path.join(a.dir, "descriptor.c")
        with open(c_file, "w") as f:
            f.write("const char skipattn_bundle_descriptor[] = %s;\n" %
                    json.dumps(text))
        sources.append(c_file)
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-Werror",
           "-o", os.path.join(a.dir, "kernel.so")] + sources + ["-lm"]
    cmd += [f"-D{k}={v}" for k, v in defines.items()]
    subprocess.run(cmd, check=True)
    if not a.no_descriptor:
        os.remove(c_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
