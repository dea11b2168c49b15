"""A few kernel launches for compute-sanitizer (memcheck, racecheck): a
causal skip prefill with ragged lengths (within one lap of the K/V ring,
over several, and with more tiles than SMs, so that CTAs take several) and a
GQA decode with several splits. The output is checked
against float64 so a sanitizer run also proves the launch did its work."""
import argparse, os, sys
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "kernels_runtime", "python"))
from check_gpu import reference  # noqa: E402
from skipattn_runtime import Runtime  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--runtime", required=True)
ap.add_argument("bundles", nargs="+")
a = ap.parse_args()
rt = Runtime(a.runtime)
bad = 0
for d in a.bundles:
    b = rt.load(d)
    man = b.manifest
    sh = man["shapes"]
    dt = {"bf16": torch.bfloat16, "f16": torch.float16}[man["dtype"]]
    for (B, Sq, Skv) in [(1, 70, 130), (1, 200, 700), (3, 700, 700), (2, 1, 700)]:
        q = torch.randn(B, sh["q_heads"], Sq, sh["head_dim"], device="cuda").to(dt)
        k = torch.randn(B, sh["kv_heads"], Skv, sh["head_dim"], device="cuda").to(dt)
        v = torch.randn(B, sh["kv_heads"], Skv, sh["head_dim"], device="cuda").to(dt)
        out = torch.full_like(q, float("nan"))
        b.run_device(q, k, v, out, 1e-3 if man["skip"] else 0.0, stats=bool(man["stats"]))
        torch.cuda.synchronize()
        ref = reference(q, k, v, man["causal"], man["scale"])
        err = ((out.double() - ref).norm() / ref.norm()).item()
        ok = not torch.isnan(out).any() and err < 5e-2
        bad += not ok
        print(f"{'PASS' if ok else 'FAIL'} sanitize {os.path.basename(d)} B={B} Sq={Sq} Skv={Skv} err={err:.1e}")
sys.exit(1 if bad else 0)
