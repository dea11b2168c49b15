#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the repository's test inputs.

  make_corpus.py --root REPO --out DIR

DIR/attn:     every function of the .mlir tests and examples (split at
              `// -----`), each once per pass pipeline (the first byte picks
              the pipeline in AttnFuzzer.cpp), plus fuzz/seeds/*.mlir
DIR/manifest: the manifests written in the tests (split-file blocks and
              fixtures), a gpu PTX with its descriptor, and the manifests of
              fuzz/seeds/*.json
DIR/npy:      small .npy files of each dtype, header version and rank
"""

import argparse
import glob
import io
import os
import re
import struct

import numpy as np

PIPELINES = 10  # len(pipelines) in AttnFuzzer.cpp


def mlir_seeds(root):
    files = sorted(glob.glob(os.path.join(root, "test", "**", "*.mlir"),
                             recursive=True))
    files += sorted(glob.glob(os.path.join(root, "examples", "**", "*.mlir"),
                              recursive=True))
    files += sorted(glob.glob(os.path.join(root, "fuzz", "seeds", "*.mlir")))
    for path in files:
        with open(path) as f:
            text = f.read()
        for chunk in re.split(r"^// -----\s*$", text, flags=re.M):
            # RUN and CHECK lines are comments to the parser; keep the IR.
            body = "\n".join(l for l in chunk.splitlines()
                             if not l.lstrip().startswith("//"))
            if "func.func" in body or "attn." in body:
                yield body


def manifest_seeds(root):
    for path in sorted(glob.glob(os.path.join(root, "test", "**", "*.test"),
                                 recursive=True)):
        with open(path) as f:
            text = f.read()
        parts = re.split(r"^#--- (\S+)\n", text, flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            if name.endswith("manifest.json"):
                yield body
    for path in sorted(glob.glob(os.path.join(root, "test", "**", "*.json"),
                                 recursive=True)):
        with open(path) as f:
            yield f.read()
    for path in sorted(glob.glob(os.path.join(root, "fuzz", "seeds", "*.json"))):
        with open(path) as f:
            yield f.read()


def npy_seeds():
    arrays = [np.zeros((1, 2, 3, 4), np.float32),
              np.ones((2, 1, 1, 8), np.float16),
              np.array([[True, False]]),
              np.arange(6, dtype=np.float32).reshape(2, 3),
              np.zeros((0, 4), np.float32),
              np.float32(1.5)]
    for a in arrays:
        for version in [(1, 0), (2, 0)]:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, a, version=version)
            yield buffer.getvalue()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    count = {}
    for name in ("attn", "manifest", "npy"):
        os.makedirs(os.path.join(a.out, name), exist_ok=True)
        count[name] = 0

    def write(name, data):
        path = os.path.join(a.out, name, "seed-%05d" % count[name])
        with open(path, "wb") as f:
            f.write(data)
        count[name] += 1

    for i, body in enumerate(mlir_seeds(a.root)):
        for pipeline in range(PIPELINES):
            write("attn", bytes([pipeline]) + body.encode())
    for body in manifest_seeds(a.root):
        write("manifest", body.encode())
    for data in npy_seeds():
        write("npy", data)
    print("seed corpus: " +
          ", ".join("%s %d" % (k, v) for k, v in sorted(count.items())))


if __name__ == "__main__":
    main()
