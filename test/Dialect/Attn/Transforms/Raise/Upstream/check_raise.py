#!/usr/bin/env python3
"""Raised and unraised attention give the same numbers on the CPU.

Lowers an attention written in TOSA or linalg named ops with upstream MLIR's
passes (mlir-opt), raises the result with skipattn-opt --attn-raise, and runs
both modules on the same random inputs: each gets a `main` that calls the
function on constant inputs and prints its result, both go through the
project's CPU path (attn-tile, attn-lower-to-cpu: upstream bufferization and
loops for the unraised linalg, the tiled flash loop for attn.attention) and
mlir-runner. The outputs must agree to the tolerance of the narrowest float
type in the function's signature; the raised module must hold exactly one
attn.attention and the unraised one none.

Inputs: floats from a normal distribution (fixed seed); i1 arguments are
boolean masks that keep position 0 of their last dim. Where a row has every
key masked, the unraised softmax gives NaN (0/0) and attn.attention zeros:
those entries must be 0 in the raised module and are left out of the error.
Dynamic dims take their sizes from --shapes. One line per run, then PASS or FAIL; the
exit status is 1 on FAIL.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np

TOLERANCE = {"f32": 2e-4, "f16": 1e-2, "bf16": 4e-2}


def run(cmd, stdin=None):
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stdout.write(f"FAIL: exit {proc.returncode}: {' '.join(cmd)}\n"
                         f"{proc.stderr[-3000:]}\n")
        sys.exit(1)
    return proc.stdout


def parse_signature(module, name):
    """(argument types, result type) of func.func @name, as text."""
    m = re.search(r"func\.func @" + re.escape(name) + r"\((.*?)\)\s*->\s*"
                  r"\(?(tensor<[^>]*>)", module, re.S)
    if not m:
        sys.stdout.write(f"FAIL: no func.func @{name} in the lowered module\n")
        sys.exit(1)
    args = re.findall(r"%[\w]+\s*:\s*(tensor<[^>]*>)", m.group(1))
    return args, m.group(2)


def split_type(t):
    """tensor<2x?x4xf32> -> ([2, None, 4], 'f32')."""
    body = t[len("tensor<"):-1].split("x")
    dims = [None if d == "?" else int(d) for d in body[:-1]]
    return dims, body[-1]


def nested(array, elt):
    if array.ndim == 0:
        if elt == "i1":
            return "true" if array else "false"
        return repr(float(array))
    return "[" + ", ".join(nested(a, elt) for a in array) + "]"


def literal(array, elt):
    shape = "x".join(str(d) for d in array.shape)
    return f"dense<{nested(array, elt)}> : tensor<{shape}x{elt}>"


def harness(module, name, shapes, seed):
    """`module` with a main that calls @name on fixed random inputs."""
    args, result = parse_signature(module, name)
    rng = np.random.default_rng(seed)
    lines = ["  func.func private @printMemrefF32(memref<*xf32>)",
             "  func.func @main() {"]
    operands = []
    for n, t in enumerate(args):
        dims, elt = split_type(t)
        concrete = shapes[n] if shapes else dims
        if any(d is None for d in concrete):
            sys.stdout.write(f"FAIL: argument {n} ({t}) is dynamic; give "
                             f"--shapes\n")
            sys.exit(1)
        if elt == "i1":
            value = rng.random(concrete) < 0.7
            value[..., 0] = True
        else:
            value = rng.standard_normal(concrete).astype(np.float32)
        static = f"tensor<{'x'.join(map(str, concrete))}x{elt}>"
        lines.append(f"    %in{n} = arith.constant {literal(value, elt)}")
        if static != t:
            lines.append(f"    %arg{n}_c = tensor.cast %in{n} : {static} to {t}")
            operands.append(f"%arg{n}_c")
        else:
            operands.append(f"%in{n}")
    lines.append(f"    %r = call @{name}({', '.join(operands)}) : "
                 f"({', '.join(args)}) -> {result}")
    dims, elt = split_type(result)
    value = "%r"
    if elt != "f32":
        rank = len(dims)
        ids = ", ".join(f"d{i}" for i in range(rank))
        idmap = f"affine_map<({ids}) -> ({ids})>"
        dyn = []
        for i, d in enumerate(dims):
            if d is None:
                lines.append(f"    %c{i} = arith.constant {i} : index")
                lines.append(f"    %dim{i} = tensor.dim %r, %c{i} : {result}")
                dyn.append(f"%dim{i}")
        iterators = ", ".join(['"parallel"'] * rank)
        f32 = f"tensor<{'x'.join('?' if d is None else str(d) for d in dims)}xf32>"
        lines.append(f"    %e = tensor.empty({', '.join(dyn)}) : {f32}")
        lines.append(
            f"    %rf = linalg.generic {{indexing_maps = [{idmap}, {idmap}], "
            f"iterator_types = [{iterators}]}} "
            f"ins(%r : {result}) outs(%e : {f32}) {{\n"
            f"    ^bb0(%x: {elt}, %o: f32):\n"
            f"      %y = arith.extf %x : {elt} to f32\n"
            f"      linalg.yield %y : f32\n"
            f"    }} -> {f32}")
        value, result = "%rf", f32
    memref = result.replace("tensor<", "memref<", 1)
    lines.append(f"    %m = bufferization.to_buffer {value} : {result} to {memref}")
    lines.append(f"    %u = memref.cast %m : {memref} to memref<*xf32>")
    lines.append("    call @printMemrefF32(%u) : (memref<*xf32>) -> ()")
    lines.append("    return")
    lines.append("  }")
    body = module.rstrip()
    if not body.endswith("}"):
        sys.stdout.write("FAIL: cannot find the end of the module\n")
        sys.exit(1)
    return body[:-1] + "\n".join(lines) + "\n}\n", args


# linalg.softmax has no lowering pass of its own: upstream decomposes it
# through its AggregatedOpInterface, from the transform dialect.
DECOMPOSE_SOFTMAX = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "decompose-softmax.transform")


def decompose_softmax(module, tools):
    return run([tools.mlir_opt, "-", "--transform-preload-library="
                f"transform-library-paths={DECOMPOSE_SOFTMAX}",
                "--transform-interpreter"], stdin=module)


def execute(module, tools):
    lowered = run([tools.skipattn_opt, "-", "--tosa-to-tensor", "--tosa-to-arith",
                   "--attn-tile",
                   "--attn-lower-to-cpu"], stdin=module)
    out = run([tools.runner, "-e", "main", "-entry-point-result=void",
               "-shared-libs=" + ",".join(tools.libs)], stdin=lowered)
    data = out.split("data =", 1)
    if len(data) != 2:
        sys.stdout.write(f"FAIL: no data printed:\n{out[-2000:]}\n")
        sys.exit(1)
    numbers = re.findall(r"-?(?:nan|inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?)",
                         data[1], re.I)
    return np.array([float(x) for x in numbers])


class Tools:
    def __init__(self, args):
        self.mlir_opt = os.path.join(args.llvm_bin, "mlir-opt")
        self.runner = os.path.join(args.llvm_bin, "mlir-runner")
        self.skipattn_opt = os.path.join(args.bin, "skipattn-opt")
        libdir = os.path.join(os.path.dirname(args.llvm_bin), "lib")
        self.libs = [os.path.join(libdir, "libmlir_c_runner_utils.so"),
                     os.path.join(libdir, "libmlir_runner_utils.so")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True, help="skipattn tools directory")
    p.add_argument("--llvm-bin", default=None,
                   help="LLVM/MLIR tools (default: where mlir-opt is on PATH)")
    p.add_argument("--func", default="attention")
    p.add_argument("--shapes", default="",
                   help="concrete argument shapes, e.g. 2x8x4,2x8x4 (for "
                        "dynamic dims)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tolerance", type=float, default=None,
                   help="relative tolerance (default: from the narrowest "
                        "float type of the signature)")
    p.add_argument("input")
    p.add_argument("passes", nargs="*",
                   help="upstream mlir-opt passes, e.g. --tosa-to-linalg-pipeline")
    args = p.parse_args()
    if not args.llvm_bin:
        found = shutil.which("mlir-opt")
        if not found:
            sys.stdout.write("FAIL: mlir-opt is not on PATH; give --llvm-bin\n")
            return 1
        args.llvm_bin = os.path.dirname(found)
    tools = Tools(args)
    shapes = [[int(d) for d in s.split("x")] for s in args.shapes.split(",")
              ] if args.shapes else None

    lowered = run([tools.mlir_opt, args.input] + args.passes)
    raised = run([tools.skipattn_opt, "-", "--attn-raise"], stdin=lowered)
    count = raised.count("attn.attention")
    if count != 1 or lowered.count("attn.attention"):
        sys.stdout.write(f"FAIL: {count} attn.attention after attn-raise "
                         f"(want 1)\n")
        return 1
    plain, types = harness(lowered, args.func, shapes, args.seed)
    fused, _ = harness(raised, args.func, shapes, args.seed)
    want = execute(decompose_softmax(plain, tools), tools)
    got = execute(fused, tools)
    elts = {split_type(t)[1] for t in types} - {"i1"}
    tol = max(TOLERANCE.get(e, 1e-3) for e in elts) if elts else 1e-4
    if args.tolerance is not None:
        tol = args.tolerance
    if want.shape != got.shape or want.size == 0:
        sys.stdout.write(f"FAIL: {want.size} values unraised, {got.size} "
                         f"raised\n")
        return 1
    # A row whose every key is masked is 0/0 = NaN in the unraised module
    # and zeros in attn.attention (its documented semantics).
    undefined = ~np.isfinite(want)
    if np.any(got[undefined] != 0.0):
        sys.stdout.write("FAIL: where the unraised module gives NaN (fully "
                         "masked rows) the raised one is not 0\n")
        return 1
    defined = ~undefined
    if not np.any(defined):
        sys.stdout.write("FAIL: no defined values to compare\n")
        return 1
    err = float(np.max(np.abs(got[defined] - want[defined])) /
                max(np.max(np.abs(want[defined])), 1e-30))
    verdict = "PASS" if err <= tol else "FAIL"
    masked = f", {int(undefined.sum())} in fully masked rows" \
        if np.any(undefined) else ""
    sys.stdout.write(f"{verdict}: {want.size} values{masked}, relative "
                     f"error {err:.2e} (tolerance {tol:.0e})\n")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
