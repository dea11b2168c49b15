"""skipattn benchmark (run on the GPU machine by bench/run.sh).

In one process and on the same inputs, times skipattn's dense and skip
kernels, PyTorch SDPA with the cuDNN and FlashAttention-2 back ends, and
FlexAttention (torch.compile), with CUDA events (triton.testing.do_bench,
median). Prefill: B=1, H=32, D=128, S in {4K, 16K, 64K}, causal and not,
plus D=64 and f16 at D=128. Every prefill row reports our time as a ratio
to cuDNN's in the same run. Skip: on
structured inputs (a sink and two retrieved spans per kv head score high;
every other key block sits below them by a logit gap spread uniformly), with
thresholds picked per run to give about 0, 25, 50, 75 and 90% measured
tile sparsity (and lambda 0, skipping turned off at run time), reported next to every speedup over our dense kernel and,
for prefill, over cuDNN's dense time on the same inputs: prefill S=16K and
64K causal and not. Decode rows (contiguous and paged, dense and skip,
against SDPA and a copy of the same bytes) are bench_decode.py's; --only
decode runs just those.

Writes a table to stdout and bench.json and speedup.png to --out."""
import argparse, json, math, os, sys, time
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
import triton.testing as tt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "kernels_runtime", "python"))
from skipattn_runtime import Runtime  # noqa: E402
import plot  # noqa: E402 (bench/plot.py: this script's folder is on sys.path)
import bench_decode  # noqa: E402 (the decode rows)
import bench_varlen  # noqa: E402 (the varlen prefill rows)

dev = "cuda"
dt = torch.bfloat16
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def bench(fn):
    fn()
    torch.cuda.synchronize()
    return tt.do_bench(fn, warmup=25, rep=200, return_mode="median")


def paired(f, g, rounds=3):
    """Times f and g interleaved, f g g f, keeping each one's faster time: a
    clock that drifts through the pair (the card warming up) favours
    neither. Repeated `rounds` times; returns the median round's times and
    the lowest and highest per-round ratio g/f, so that a difference inside
    that spread reads as noise (METHOD.md: time the same version twice)."""
    tf, tg = [], []
    for _ in range(rounds):
        f1, g1 = bench(f), bench(g)
        g2, f2 = bench(g), bench(f)
        tf.append(min(f1, f2))
        tg.append(min(g1, g2))
    ratios = sorted(b / a for a, b in zip(tf, tg))
    mid = sorted(range(rounds), key=lambda i: tg[i] / tf[i])[rounds // 2]
    return tf[mid], tg[mid], (ratios[0], ratios[-1])


def flops(B, H, Sq, Skv, D, causal):
    f = 4.0 * B * H * Sq * Skv * D
    return f / 2 if causal and Sq == Skv else f


def structured(B, Hq, Hkv, Sq, Skv, D, bn, causal, gen, gap=40.0):
    """Long-context structure: every query attends to a sink (key block 0)
    and two retrieved spans of its kv head; every other key block sits below
    those by a logit gap drawn uniformly from [0, gap] per block, so the
    threshold chooses the sparsity (a tile is skippable when its gap exceeds
    -ln(lambda))."""
    u = torch.randn(D, device=dev, generator=gen)
    u /= u.norm()
    scale = 1.0 / math.sqrt(D)
    nkv = -(-Skv // bn)
    # key block strength (logit units after scaling): 0 for the strong ones,
    # -gap * U for the rest
    strength = -gap * torch.rand(B, Hkv, nkv, device=dev, generator=gen)
    strength[:, :, 0] = 0.0
    spans = torch.randint(0, nkv, (B, Hkv, 2), device=dev, generator=gen)
    strength.scatter_(2, spans, 0.0)
    base = 8.0  # logit of the strong blocks
    a = math.sqrt((base + gap) / scale)
    q = torch.randn(B, Hq, Sq, D, device=dev, generator=gen) * 0.05 + a * u
    kb = (base + strength) / (a * scale)  # [B, Hkv, nkv]
    kpos = kb.repeat_interleave(bn, dim=2)[:, :, :Skv]
    k = torch.randn(B, Hkv, Skv, D, device=dev, generator=gen) * 0.05 + kpos[..., None] * u
    v = torch.randn(B, Hkv, Skv, D, device=dev, generator=gen)
    return q.to(dt), k.to(dt), v.to(dt)


def sdpa(q, k, v, causal, backend):
    g = q.shape[1] // k.shape[1]
    if g > 1:
        k = k.repeat_interleave(g, 1)
        v = v.repeat_interleave(g, 1)
    with sdpa_kernel([backend]):
        try:
            return bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        except Exception as e:  # a back end that does not take the shape
            print(f"  sdpa {backend}: {str(e).splitlines()[0][:80]}")
            return None


_flex = None


def flex(q, k, v, causal):
    global _flex
    try:
        from torch.nn.attention.flex_attention import flex_attention, create_block_mask
        if _flex is None:
            _flex = torch.compile(flex_attention)
        g = q.shape[1] // k.shape[1]
        bm = None
        if causal:
            bm = create_block_mask(lambda b, h, qi, ki: qi >= ki, 1, 1, q.shape[2], k.shape[2], device=dev)
        return bench(lambda: _flex(q, k, v, block_mask=bm, enable_gqa=g > 1))
    except Exception as e:
        print(f"  flex: {str(e).splitlines()[0][:80]}")
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--bundles", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("all", "prefill", "decode", "varlen"),
                    default="all",
                    help="run only the prefill, decode or varlen prefill rows")
    a = ap.parse_args()
    rt = Runtime(a.runtime)
    bundles = {n: rt.load(os.path.join(a.bundles, n)) for n in sorted(os.listdir(a.bundles))
               if os.path.isfile(os.path.join(a.bundles, n, "manifest.json"))}
    gen = torch.Generator(device=dev).manual_seed(int.from_bytes(os.urandom(4), "little"))
    rows = []
    print(torch.__version__, torch.cuda.get_device_name(), "cudnn", torch.backends.cudnn.version(), flush=True)

    # Prefill, dense: (head dim, length, causal, dtype).
    prefill = [(128, S, c, "bf16") for S in (4096, 16384, 65536) for c in (False, True)]
    prefill += [(64, 16384, False, "bf16"), (64, 16384, True, "bf16"),
                (128, 16384, False, "f16"), (128, 16384, True, "f16")]
    if a.quick:
        prefill = [(128, 4096, False, "bf16"), (128, 16384, False, "bf16")]
    if a.only in ("decode", "varlen"):
        prefill = []
    for (D, S, causal, dtype) in prefill:
        B, H = 1, 32
        t = DTYPES[dtype]
        q = torch.randn(B, H, S, D, device=dev, generator=gen).to(t)
        k = torch.randn(B, H, S, D, device=dev, generator=gen).to(t)
        v = torch.randn(B, H, S, D, device=dev, generator=gen).to(t)
        out = torch.empty_like(q)
        ours = bundles[f"prefill_d{D}{'_causal' if causal else ''}{'_f16' if dtype == 'f16' else ''}"]
        row = dict(kind="prefill", B=B, H=H, S=S, D=D, causal=causal, dtype=dtype)
        row["skipattn_ms"] = bench(lambda: ours.run_device(q, k, v, out))
        row["cudnn_ms"] = sdpa(q, k, v, causal, SDPBackend.CUDNN_ATTENTION)
        row["flash_ms"] = sdpa(q, k, v, causal, SDPBackend.FLASH_ATTENTION)
        row["flex_ms"] = flex(q, k, v, causal) if S <= 16384 and dtype == "bf16" else None
        fl = flops(B, H, S, S, D, causal)
        for sys_ in ("skipattn", "cudnn", "flash", "flex"):
            ms = row[f"{sys_}_ms"]
            row[f"{sys_}_tflops"] = fl / (ms * 1e-3) / 1e12 if ms else None
        row["vs_cudnn"] = row["cudnn_ms"] / row["skipattn_ms"] if row["cudnn_ms"] else None
        if dtype == "f16":
            # f16 against bf16 (within 5%), timed interleaved on the same
            # values.
            bf16 = bundles[f"prefill_d{D}{'_causal' if causal else ''}"]
            qb, kb, vb = (x.to(torch.bfloat16) for x in (q, k, v))
            outb = torch.empty_like(qb)
            t_b, t_f, spread = paired(lambda: bf16.run_device(qb, kb, vb, outb),
                                      lambda: ours.run_device(q, k, v, out))
            row["f16_over_bf16_time"] = t_f / t_b
            row["f16_over_bf16_spread"] = spread
            del qb, kb, vb, outb
        rows.append(row)
        print("prefill {dtype} D={D} S={S} causal={causal}: ".format(**row) + "  ".join(
            f"{s}={row[s + '_tflops']:.0f}" if row[s + '_tflops'] else f"{s}=-" for s in ("skipattn", "cudnn", "flash", "flex"))
            + " TFLOP/s" + (f"  ours/cuDNN={row['vs_cudnn']:.3f}x" if row["vs_cudnn"] else "")
            + (f"  f16/bf16 time (interleaved, median of 3 rounds)={row['f16_over_bf16_time']:.3f}"
               f" [{row['f16_over_bf16_spread'][0]:.3f}, {row['f16_over_bf16_spread'][1]:.3f}]"
               if dtype == "f16" else ""), flush=True)
        del q, k, v, out

    # Decode: contiguous and paged, dense and skip (bench/bench_decode.py).
    if a.only in ("all", "decode"):
        bench_decode.run(a, bundles, gen, rows, bench)
    # Varlen prefill: mixed lengths against one sequence of the same work.
    if a.only in ("all", "varlen"):
        bench_varlen.run(a, bundles, gen, rows, bench)

    # Skip: sparsity sweep on structured inputs, against our own dense kernel.
    # (kind, batch, length, causal, skip bundle).
    skipcases = [("prefill", 1, S, c, f"prefill_d128{'_causal' if c else ''}_skip")
                 for S in (16384, 65536) for c in (False, True)]
    if a.only in ("decode", "varlen"):
        skipcases = []
    if a.quick:
        skipcases = skipcases[:1]
    gap = 40.0
    for (kind, B, S, causal, skipname) in skipcases:
        skip = bundles[skipname]
        if kind.startswith("prefill"):
            Hq, Hkv, Sq, Skv = 32, 32, S, S
            dense = bundles[f"prefill_d128{'_causal' if causal else ''}"]
        else:
            Hq, Hkv, Sq, Skv = 32, 8, 1, S
            dense = bundles["decode_gqa"]
        q, k, v = structured(B, Hq, Hkv, Sq, Skv, 128, skip.manifest["block_n"], causal, gen, gap)
        out_d = torch.empty_like(q)
        out_s = torch.empty_like(q)
        t_dense = bench(lambda: dense.run_device(q, k, v, out_d))
        t_cudnn = sdpa(q, k, v, causal, SDPBackend.CUDNN_ATTENTION) if kind == "prefill" else None
        torch.cuda.synchronize()
        ref = out_d.double()
        # lambda 0: skipping off at run time (the same kernel); 1e-30: on, but
        # nothing to skip; then about 25, 50, 75 and 90% skipped (the logit
        # gaps are uniform in [0, gap]: skipping needs gap > -ln(lam)).
        for target in (None, 0.0, 0.25, 0.5, 0.75, 0.9):
            lam = 0.0 if target is None else math.exp(-gap * (1 - target)) if target > 0 else 1e-30
            total, skipped = skip.run_device(q, k, v, out_s, lam, stats=True)
            t_dense_row, spread = t_dense, None
            if target is None:
                # Lambda 0 against dense is an acceptance pair (within 2%):
                # timed interleaved rather than minutes apart.
                t_dense_row, t_skip, spread = paired(lambda: dense.run_device(q, k, v, out_d),
                                                     lambda: skip.run_device(q, k, v, out_s, lam))
            else:
                t_skip = bench(lambda: skip.run_device(q, k, v, out_s, lam))
            err = ((out_s.double() - ref).norm() / ref.norm()).item()
            row = dict(kind=f"skip-{kind}", bundle=skipname, B=B, Hq=Hq, Hkv=Hkv, Sq=Sq, Skv=Skv, D=128, causal=causal,
                       target=target, lam=lam, tiles_total=total, tiles_skipped=skipped,
                       sparsity=skipped / max(total, 1), dense_ms=t_dense_row, skip_ms=t_skip,
                       speedup=t_dense_row / t_skip, cudnn_ms=t_cudnn,
                       speedup_vs_cudnn=t_cudnn / t_skip if t_cudnn else None,
                       rel_err_vs_dense=err, skip_over_dense_spread=spread)
            rows.append(row)
            print(f"skip {kind} B={B} S={S} causal={causal} lam={lam:.2e}: sparsity={row['sparsity']:.3f} "
                  f"dense={t_dense_row:.3f} ms skip={t_skip:.3f} ms speedup={row['speedup']:.2f}x"
                  + (f" skip/dense time per round in [{spread[0]:.3f}, {spread[1]:.3f}]" if spread else "")
                  + (f" cudnn={t_cudnn:.3f} ms vs_cudnn={row['speedup_vs_cudnn']:.2f}x" if t_cudnn else "")
                  + f" err={err:.1e}", flush=True)
        del q, k, v, out_d, out_s

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), f, indent=1)
    plot.plot(os.path.join(a.out, "bench.json"), os.path.join(a.out, "speedup.png"))


if __name__ == "__main__":
    main()
