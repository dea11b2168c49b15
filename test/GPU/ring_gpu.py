#!/usr/bin/env python3
"""Device check of skipattn.distributed.ring_attention with nccl (issue 13),
in two halves because the GPU machine has no MLIR:

    python3 test/GPU/ring_gpu.py prepare   # here: fills build-gpu/ring/cache
                                           # with the sm_90a bundles it runs
    python3 test/GPU/ring_gpu.py run       # there, with build-gpu/ copied:
                                           # builds libskipattn_runtime
                                           # (build-rt/) and checks on one
                                           # rank per visible GPU (nccl)

With one GPU the ring has one rank: the check covers the CUDA path of the
code (bundles with --lse through skipattn_run_device_ex, the merge, the
seed's mask and the lse correction on the device), not the transfers. With
W GPUs every rank holds one. Each case prints PASS or FAIL with its error
against float64 attention of the whole sequence and its skip counts; the
last line is `ring_gpu W=<ranks>: N cases, P passed, F failed`.

  dense causal     bf16 GQA 8/2, D=128, zig-zag shards of S=4096 + 37
  dense full       bf16 GQA 8/2, D=128, ragged shards
  skip causal      lambda 1e-3 at S=8192 with a sink, seed None and
                   "sinks": error within the bf16 tolerance, counts
                   reported (not compared with a simulation: the GPU's
                   block sizes are not the CPU's)
  skip carry       seed "carry" (the --init-max bundles' init_max and max on
                   the device), causal at S=8192 with a sink and ragged
                   non-causal: error within the bf16 tolerance, and against
                   seed None on the same inputs: with one rank (one call,
                   from init_max -inf) the same output and counts, with
                   W >= 2 at least as many tiles skipped (both printed)
"""
import argparse
import math
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
WORK = os.path.join(ROOT, "build-gpu", "ring")
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "kernels_runtime", "python"))
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import skipattn  # noqa: E402
from skipattn_runtime import build_from_source  # noqa: E402
import skipattn.distributed as sd  # noqa: E402

HQ, HKV, D = 8, 2, 128
DTYPE = torch.bfloat16
TOL = 3e-2
CASES = [
    # name, total, causal, skip, seed
    ("dense causal", 4096 + 37, True, None, None),
    ("dense full", 4096 + 37, False, None, None),
    ("skip causal", 8192, True, 1e-3, None),
    ("skip full", 8192 + 37, False, 1e-3, None),
    ("skip causal sinks", 8192, True, 1e-3, "sinks"),
    ("skip causal carry", 8192, True, 1e-3, "carry"),
    ("skip full carry", 8192 + 37, False, 1e-3, "carry"),
]
# Each carry case is compared with the case of the same inputs and seed None.
BASELINE = {"skip causal carry": "skip causal", "skip full carry": "skip full"}


def bundle_keys(chip):
    keys = []
    for causal in (False, True):
        for skip in (False, True):
            keys.append(skipattn.bundle_key(chip, DTYPE, HQ, HKV, D, D,
                                            causal, skip, lse=True))
        # seed="carry": init_max in, max out.
        keys.append(skipattn.bundle_key(chip, DTYPE, HQ, HKV, D, D, causal,
                                        True, lse=True, init_max=True))
        # The seed's additive mask [1, Hq, Sq, Skv + 1] (batch 1).
        mask = torch.zeros(1, HQ, 2, 2, dtype=DTYPE)
        keys.append(skipattn.bundle_key(chip, DTYPE, HQ, HKV, D, D, causal,
                                        True, mask, lse=True))
    return keys


def prepare(args):
    from skipattn import _bundles
    os.environ["SKIPATTN_CACHE"] = args.cache
    os.environ.setdefault("SKIPATTN_BIN", os.path.join(ROOT, "build", "bin"))
    for key in bundle_keys("sm_90a"):
        print(_bundles.bundle_dir(key), flush=True)
    print("prepared the bundles of test/GPU/ring_gpu.py in", args.cache)
    return 0


def reference(q, k, v, causal):
    """float64 attention on the device, GQA by repeating K/V heads."""
    g = q.shape[1] // k.shape[1]
    k = k.double().repeat_interleave(g, 1)
    v = v.double().repeat_interleave(g, 1)
    s = torch.matmul(q.double(), k.transpose(-1, -2)) / math.sqrt(D)
    if causal:
        n = q.shape[2]
        s.masked_fill_(torch.ones(n, n, dtype=torch.bool, device=q.device)
                       .triu(1), -math.inf)
    return torch.matmul(torch.softmax(s, -1), v)


def inputs(total, sink):
    """Gaussian; with sink, a sink at key 0 that every query scores about
    17 above the rest, so that lambda 1e-3 skips every other tile it is
    voted against."""
    g = torch.Generator().manual_seed(total)
    scale = 0.3 if sink else 1.0
    q = torch.randn(1, HQ, total, D, generator=g) * scale
    k = torch.randn(1, HKV, total, D, generator=g) * scale
    v = torch.randn(1, HKV, total, D, generator=g)
    if sink:
        q[..., 0] += 14.0
        k[:, :, 0, 0] += 14.0
    return q.to(DTYPE), k.to(DTYPE), v.to(DTYPE)


def worker(rank, world, port, out):
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % port,
                            rank=rank, world_size=world)
    dev = torch.device("cuda", rank)
    results = []
    for name, total, causal, lam, seed in CASES:
        q, k, v = inputs(total, lam is not None)
        if causal:
            mine = [sd.zigzag_shard(x, rank, world).to(dev) for x in (q, k, v)]
        else:
            # Ragged: rank r gets a share growing with r.
            w = [r + 1 for r in range(world)]
            cuts = [total * sum(w[:r]) // sum(w) for r in range(world + 1)]
            mine = [x[:, :, cuts[rank]:cuts[rank + 1]].to(dev)
                    for x in (q, k, v)]
        skip = None if lam is None else {"lambda": lam, "min_kv_len": 0}
        try:
            o, stats = sd.ring_attention(*mine, causal=causal, skip=skip,
                                         seed=seed, return_stats=True)
            # Shards differ in length without causal: gather on the CPU.
            every = [None] * world
            dist.all_gather_object(every, o.cpu())
            err = None
            if rank == 0:
                full = sd.zigzag_unshard(every) if causal else \
                    torch.cat(every, 2)
                ref = reference(q.to(dev), k.to(dev), v.to(dev), causal)
                err = float((full.to(dev).double() - ref).abs().max())
            results.append((name, err, stats["tiles_skipped"],
                            stats["tiles_total"], None, full if rank == 0
                            else None))
        except Exception as e:  # one broken case must not hide the others
            results.append((name, None, 0, 0, "%s: %s" % (type(e).__name__,
                                                          e), None))
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def run(args):
    if not torch.cuda.is_available():
        print("ring_gpu: no CUDA device")
        return 1
    os.environ["SKIPATTN_CACHE"] = args.cache
    os.environ["SKIPATTN_RUNTIME"] = args.runtime or build_from_source(ROOT)
    os.environ["SKIPATTN_BIN"] = os.path.join(WORK, "no-compiler")
    world = args.ranks or torch.cuda.device_count()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = os.path.join(WORK, "results.pt")
    os.makedirs(WORK, exist_ok=True)
    torch.multiprocessing.spawn(worker, args=(world, port, out),
                                nprocs=world)
    passed = failed = 0
    results = torch.load(out)
    by_name = {r[0]: r for r in results}
    for name, err, skipped, total, error, full in results:
        ok = error is None and err is not None and err <= TOL
        note = ""
        base = by_name.get(BASELINE.get(name))
        if ok and base is not None and base[4] is None:
            # The carry against seed None on the same inputs: one rank
            # makes one call from init_max -inf, the same decisions; more
            # ranks start later steps from the carried max.
            if world == 1:
                same = torch.equal(full, base[5]) and skipped == base[2]
                ok = same
                note = ", seed None: %d skipped, output %s" % (
                    base[2], "identical" if same else "DIFFERENT")
            else:
                ok = skipped >= base[2]
                note = ", seed None: %d skipped" % base[2]
        passed += ok
        failed += not ok
        print("%s %s: err %s, tiles %d/%d skipped%s%s" % (
            "PASS" if ok else "FAIL", name,
            "-" if err is None else "%.3g" % err, skipped, total, note,
            "" if error is None else " (%s)" % error), flush=True)
    print("ring_gpu W=%d on %s: %d cases, %d passed, %d failed" % (
        world, torch.cuda.get_device_name(), passed + failed, passed, failed))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("prepare", "run"))
    p.add_argument("--cache", default=os.path.join(WORK, "cache"))
    p.add_argument("--runtime", help="libskipattn_runtime.so (run; default: "
                   "build it into build-rt/)")
    p.add_argument("--ranks", type=int, default=0,
                   help="ranks (run; default: one per visible GPU)")
    args = p.parse_args()
    return prepare(args) if args.mode == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
