"""Inputs and the float64 check for the main job (scripts/run-example.sh).

  attention_io.py inputs DIR B H S D   writes DIR/{q,k,v}.npy (float32)
  attention_io.py check DIR CAUSAL     compares DIR/out.npy with float64

The inputs have the structure that makes Skip-Softmax pay: every query
scores about 16 logits higher on a sink (the first 64 keys) than on the
other keys, so with the default threshold (1e-3) every q-block skips each
kv-block after the first. The check recomputes dense attention in float64:
the skipped keys carry ~e^-16 of the weight, far below the tolerance."""
import sys
import numpy as np


def inputs(d, b, h, s, dim):
    rng = np.random.default_rng()
    u = rng.standard_normal(dim)
    u /= np.linalg.norm(u)
    a = np.sqrt(16.0 * np.sqrt(dim))
    q = 0.1 * rng.standard_normal((b, h, s, dim)) + a * u
    k = 0.1 * rng.standard_normal((b, h, s, dim))
    k[:, :, :64] += a * u
    v = rng.standard_normal((b, h, s, dim))
    for name, x in (("q", q), ("k", k), ("v", v)):
        np.save(f"{d}/{name}.npy", x.astype(np.float32))


def check(d, causal, tol):
    q, k, v = (np.load(f"{d}/{n}.npy").astype(np.float64) for n in "qkv")
    out = np.load(f"{d}/out.npy").astype(np.float64)
    s = np.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(q.shape[-1])
    if causal:
        sq, skv = s.shape[-2:]
        s = np.where(np.arange(skv)[None, :] > np.arange(sq)[:, None] + skv - sq, -np.inf, s)
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = np.einsum("bhij,bhjd->bhid", p / p.sum(-1, keepdims=True), v)
    err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
    ok = np.isfinite(out).all() and err <= tol
    print(f"{'PASS' if ok else 'FAIL'}: relative error against float64 {err:.1e} (tolerance {tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "inputs":
        inputs(sys.argv[2], *map(int, sys.argv[3:7]))
    else:
        sys.exit(check(sys.argv[2], sys.argv[3] == "causal", float(sys.argv[4])))
