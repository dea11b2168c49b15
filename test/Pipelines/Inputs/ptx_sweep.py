"""Compiles GPU bundles over a sweep of head dim, dtype, causal, skip form,
GQA, vote group and chip, and assembles every kernel.ptx with ptxas for its
chip (sm_90a, and sm_80 for the sm_80 builds). Prints one line per bundle
and a summary; exits non-zero when a compile or an assembly fails, or when
ptxas serializes the wgmma of a Hopper kernel (its C7520 "Potential
Performance Loss": a branch it cannot prove warp-uniform around wgmma)."""
import argparse, itertools, json, os, re, subprocess, sys

p = argparse.ArgumentParser()
p.add_argument("--compile", required=True)
p.add_argument("--ptxas", required=True)
p.add_argument("--workdir", required=True)
a = p.parse_args()
os.makedirs(a.workdir, exist_ok=True)

configs = []
for d, dtype, causal, skip, chip in itertools.product(
        (64, 128), ("bf16", "f16"), (False, True),
        ("off", "threshold", "scale_factor"), ("sm_90a", "sm_80")):
    gqa = (8, 2) if (d + causal) % 2 == 0 else (8, 8)
    configs.append((d, dtype, causal, skip, chip, gqa, 0, 64, ()))
# Warp-sized vote groups and 128-row q-blocks.
configs.append((128, "bf16", True, "threshold", "sm_90a", (32, 8), 16, 64, ()))
configs.append((128, "bf16", False, "threshold", "sm_90a", (32, 8), 0, 128, ()))
configs.append((64, "f16", True, "off", "sm_80", (4, 1), 0, 128, ()))
# Serving (docs/serving.md): the log-sum-exp output of the prefill and
# decode kernels.
configs.append((128, "bf16", False, "threshold", "sm_90a", (32, 8), 0, 64,
                ("--lse",)))
configs.append((64, "f16", True, "off", "sm_80", (8, 2), 0, 64, ("--lse",)))
# The opt-in shared-max decode (published row maxima, atomic max).
configs.append((128, "bf16", False, "threshold", "sm_90a", (32, 8), 0, 64,
                ("--decode-shared-max",)))
configs.append((64, "f16", True, "scale_factor", "sm_80", (8, 2), 0, 64,
                ("--decode-shared-max", "--lse")))
# Paged K/V: the decode kernels read through the block table.
configs.append((128, "bf16", False, "threshold", "sm_90a", (32, 8), 0, 64,
                ("--page-size", "16")))
configs.append((128, "bf16", True, "scale_factor", "sm_90a", (8, 8), 0, 64,
                ("--page-size", "64")))
configs.append((64, "f16", True, "off", "sm_80", (8, 2), 0, 64,
                ("--page-size", "256", "--lse")))
# Masks (bool and additive) in the prefill and decode kernels.
configs.append((128, "bf16", True, "threshold", "sm_90a", (32, 8), 0, 64,
                ("--mask", "bool:?,1,1,?")))
configs.append((64, "f16", False, "off", "sm_80", (8, 2), 0, 64,
                ("--mask", "additive:?,8,?,?")))
# Varlen prefill (packed rows, cu_seqlens), on both chips; on sm_90a the
# Hopper kernel, causal and not, with both skip forms.
configs.append((128, "bf16", True, "threshold", "sm_90a", (32, 8), 0, 64,
                ("--varlen",)))
configs.append((64, "f16", False, "scale_factor", "sm_90a", (8, 2), 0, 64,
                ("--varlen",)))
configs.append((64, "f16", False, "off", "sm_80", (4, 4), 0, 128,
                ("--varlen",)))
# The carry of a ring (docs/distributed.md): init_max and max in the
# mma.sync prefill kernel, on both chips (a warp vote and a mask on sm_80).
configs.append((128, "bf16", True, "threshold", "sm_90a", (8, 2), 0, 64,
                ("--lse", "--init-max")))
configs.append((64, "f16", False, "scale_factor", "sm_80", (8, 2), 16, 128,
                ("--lse", "--init-max", "--mask", "additive:?,8,?,?")))

ok = 0
for (d, dtype, causal, skip, chip, (hq, hkv), vote, bm, extra) in configs:
    name = f"d{d}_{dtype}_{'causal' if causal else 'full'}_{skip}_{chip}_h{hq}x{hkv}_v{vote}_m{bm}"
    name += "".join("_" + re.sub(r"[^A-Za-z0-9]+", "", flag) for flag in extra)
    out = os.path.join(a.workdir, name)
    cmd = [a.compile, "--target", "gpu", "--chip", chip, "-o", out,
           "--batch", "?", "--q-heads", str(hq), "--kv-heads", str(hkv),
           "--q-len", "?", "--kv-len", "?", "--head-dim", str(d),
           "--dtype", dtype, "--block-m", str(bm), "--vote", str(vote)]
    cmd += list(extra)
    if causal:
        cmd.append("--causal")
    if skip == "threshold":
        cmd.append("--skip-threshold=0.001")
    if skip == "scale_factor":
        cmd.append("--skip-scale-factor=8")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL compile {name}: {r.stderr.strip()}")
        continue
    ptx = os.path.join(out, "kernel.ptx")
    r = subprocess.run([a.ptxas, f"-arch={chip}", ptx, "-o", os.devnull],
                       capture_output=True, text=True)
    kernels = [l["function"] for k in json.load(open(os.path.join(out, "manifest.json")))["kernels"]
               for l in k["launches"]]
    if r.returncode != 0:
        print(f"FAIL ptxas -arch={chip} {name}: {r.stderr.strip()}")
        continue
    if "C7520" in r.stderr:
        print(f"FAIL ptxas -arch={chip} {name}: wgmma serialized: "
              f"{r.stderr.strip()}")
        continue
    ok += 1
    print(f"ok {name}: {len(kernels)} kernels assembled for {chip}")
print(f"ptx sweep: {len(configs)} bundles, {ok} assembled")
sys.exit(0 if ok == len(configs) else 1)
