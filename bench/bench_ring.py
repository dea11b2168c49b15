#!/usr/bin/env python3
"""Benchmark of skipattn.distributed.ring_attention on one host's GPUs
(issue 13's acceptance: 8 x H200, causal prefill of 512K tokens, GQA 32/8,
D=128; dense scaling from 1 to 8 GPUs and skip at 70% sparsity against
dense on 8), in two halves because the GPU machine has no MLIR:

    python3 bench/bench_ring.py prepare          # here: sm_90a bundles
    python3 bench/bench_ring.py run --ranks 1,2,4,8 [--seq 524288]
                                                  # there, build-gpu/ copied

For each rank count W (one process per GPU, nccl) it times the ring on
the inputs of bench/accuracy.py's `structured` (a sink, two retrieved
spans, every other kv-block a uniform logit gap below them, so lambda
chooses the sparsity), dense and for each --lambdas value (seed None: the
kernels take no initial max yet, docs/distributed.md), and prints one JSON
line per row: ranks, seq, mode, lambda, ms (the slowest rank, median of
--iters after a warm-up), measured sparsity, and for dense the scaling
against the W=1 row (t1 / (W * tW)). The W=1 row runs the same code: one
rank, one kernel call with the lse output (the mma.sync prefill on
sm_90a); skipattn.attention's Hopper prefill is faster on one GPU, which
bench/bench.py measures.

Not run yet: no multi-GPU machine was lent when it was written.
"""
import argparse
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
WORK = os.path.join(ROOT, "build-gpu", "bench-ring")
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "kernels_runtime", "python"))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import skipattn  # noqa: E402
from skipattn_runtime import build_from_source  # noqa: E402
import skipattn.distributed as sd  # noqa: E402

HQ, HKV, D = 32, 8, 128
DTYPE = torch.bfloat16


def prepare(args):
    from skipattn import _bundles
    os.environ["SKIPATTN_CACHE"] = args.cache
    os.environ.setdefault("SKIPATTN_BIN", os.path.join(ROOT, "build", "bin"))
    for causal in (False, True):
        for skip in (False, True):
            key = skipattn.bundle_key("sm_90a", DTYPE, HQ, HKV, D, D, causal,
                                      skip, lse=True)
            print(_bundles.bundle_dir(key), flush=True)
    print("prepared the bundles of bench/bench_ring.py in", args.cache)
    return 0


def worker(rank, world, port, args, out):
    from accuracy import structured  # bench/accuracy.py
    torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % port,
                            rank=rank, world_size=world)
    # Every rank draws the same sequence and keeps its zig-zag shard.
    g = torch.Generator(device=dev).manual_seed(args.seed)
    q, k, v = structured(1, HQ, HKV, args.seq, args.seq, D, 128, dev, g)
    q, k, v = (sd.zigzag_shard(x, rank, world).to(DTYPE).contiguous()
               for x in (q, k, v))
    torch.cuda.empty_cache()
    rows = []
    for lam in [None] + args.lambdas:
        skip = None if lam is None else {"lambda": lam, "min_kv_len": 0}
        times, stats = [], None
        for it in range(args.iters + 1):
            dist.barrier()
            torch.cuda.synchronize()
            start = time.perf_counter()
            o, stats = sd.ring_attention(q, k, v, causal=True, skip=skip,
                                         return_stats=True)
            torch.cuda.synchronize()
            elapsed = torch.tensor([time.perf_counter() - start], device=dev)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            if it:
                times.append(float(elapsed))
            del o
        times.sort()
        rows.append({"ranks": world, "seq": args.seq,
                     "mode": "dense" if lam is None else "skip",
                     "lambda": lam, "ms": 1e3 * times[len(times) // 2],
                     "sparsity": stats["sparsity"],
                     "tiles_total": stats["tiles_total"]})
    if rank == 0:
        torch.save(rows, out)
    dist.destroy_process_group()


def run(args):
    os.environ["SKIPATTN_CACHE"] = args.cache
    os.environ["SKIPATTN_RUNTIME"] = args.runtime or build_from_source(ROOT)
    os.environ["SKIPATTN_BIN"] = os.path.join(WORK, "no-compiler")
    os.makedirs(WORK, exist_ok=True)
    dense_1 = None
    for world in args.ranks:
        if world > torch.cuda.device_count():
            print(json.dumps({"ranks": world, "skipped": "only %d GPUs" %
                              torch.cuda.device_count()}))
            continue
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = os.path.join(WORK, "rows_%d.pt" % world)
        torch.multiprocessing.spawn(worker, args=(world, port, args, out),
                                    nprocs=world)
        for row in torch.load(out):
            if row["mode"] == "dense":
                if world == 1:
                    dense_1 = row["ms"]
                if dense_1 is not None:
                    row["scaling"] = dense_1 / (world * row["ms"])
            row["device"] = torch.cuda.get_device_name()
            print(json.dumps(row), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("prepare", "run"))
    p.add_argument("--cache", default=os.path.join(WORK, "cache"))
    p.add_argument("--runtime", help="libskipattn_runtime.so (run; default: "
                   "build it into build-rt/)")
    p.add_argument("--ranks", default="1,2,4,8",
                   type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--seq", type=int, default=524288)
    p.add_argument("--lambdas", default="1e-5,1e-4,1e-3,1e-2",
                   type=lambda s: [float(x) for x in s.split(",") if x])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    return prepare(args) if args.mode == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
