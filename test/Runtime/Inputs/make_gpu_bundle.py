#!/usr/bin/env python3
"""TEST FIXTURE: writes a gpu bundle directory for the runtime tests.

By default DIR/manifest.json is echo_manifest.json and DIR/kernel.ptx is
echo_kernel.ptx (beside this script); the options change what a test is
about, so that each case states only its difference from a good bundle.

  make_gpu_bundle.py DIR [--manifest FILE] [--kernels JSON] [--set KEY=JSON]... [--drop KEY]...
                     [--ptx FILE | --no-ptx] [--cubin FILE]
                     [--descriptor-set KEY=JSON]... [--no-descriptor]

  --manifest FILE  start from FILE instead of echo_manifest.json
  --kernels JSON   replace "kernels"
  --set KEY=JSON   set a top-level key ("chip", "dtype", "mask", ...)
  --drop KEY       remove a top-level key
  --ptx FILE       use FILE as kernel.ptx;  --no-ptx: write none
  --cubin FILE     copy FILE to kernel.cubin and name it in the manifest

kernel.ptx gets the descriptor skipattn-compile puts there (the manifest's
keys but the file names, as `.global .b8 skipattn_bundle_descriptor[]`);
--descriptor-set makes one key of it differ, --no-descriptor leaves it out.
"""

import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def with_descriptor(ptx, manifest, overrides=None):
    """ptx with the descriptor skipattn-compile puts there: the manifest's
    keys but the file names (with overrides), as a byte-array global."""
    descriptor = {k: v for k, v in manifest.items()
                  if k not in ("library", "entry", "ptx", "cubin")}
    descriptor.update(overrides or {})
    data = json.dumps(descriptor, separators=(",", ":")).encode() + b"\0"
    # As LLVM's NVPTX printer writes it: the array's size counts the NUL,
    # the initializer leaves it out (PTX zero-fills the rest).
    return ptx + ("\n.visible .global .align 1 .b8 skipattn_bundle_descriptor"
                  "[%d] = {%s};\n" % (len(data),
                                       ", ".join(map(str, data[:-1]))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--manifest",
                   default=os.path.join(HERE, "echo_manifest.json"))
    p.add_argument("--kernels")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--drop", action="append", default=[])
    ptx = p.add_mutually_exclusive_group()
    ptx.add_argument("--ptx", default=os.path.join(HERE, "echo_kernel.ptx"))
    ptx.add_argument("--no-ptx", action="store_true")
    p.add_argument("--cubin")
    p.add_argument("--descriptor-set", action="append", default=[])
    p.add_argument("--no-descriptor", action="store_true")
    args = p.parse_args()

    with open(args.manifest) as f:
        manifest = json.load(f)
    if args.kernels is not None:
        manifest["kernels"] = json.loads(args.kernels)
    for item in args.set:
        key, _, value = item.partition("=")
        manifest[key] = json.loads(value)
    for key in args.drop:
        manifest.pop(key, None)

    os.makedirs(args.dir, exist_ok=True)
    if args.cubin:
        shutil.copyfile(args.cubin, os.path.join(args.dir, "kernel.cubin"))
        manifest["cubin"] = "kernel.cubin"
    if not args.no_ptx:
        with open(args.ptx) as f:
            ptx = f.read()
        if not args.no_descriptor:
            overrides = {}
            for item in args.descriptor_set:
                key, _, value = item.partition("=")
                overrides[key] = json.loads(value)
            ptx = with_descriptor(ptx, manifest, overrides)
        with open(os.path.join(args.dir, "kernel.ptx"), "w") as f:
            f.write(ptx)
    with open(os.path.join(args.dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
