"""A/B of decode kernel variants in one process (GPU machine).

Each --variant NAME=DIR names a folder of decode bundles made by
`bench/ab_decode.sh prepare` from one commit's skipattn-compile:
decode_gqa, decode_gqa_skip and decode_gqa_paged16 (GQA 32/8, D=128, bf16,
as bench/run.sh prepares them). On the same inputs, interleaved (every
variant in order and again in reverse order, keeping the faster time), it
times:

- dense decode at (B, L) in {(1, 8K), (1, 32K), (8, 8K), (8, 32K)}, and a
  torch copy of the same K/V bytes, in TB/s of the bytes the attention
  reads and writes (bench_decode.py's convention);
- paged decode (16-token pages, random page order) at B=8, L=32K;
- the skip bundle on bench_decode.py's structured inputs at about 0% and 70%
  unsplit sparsity, at (1, 8K) and (8, 32K), against each variant's own
  dense time; and, where a variant's folder has decode_gqa_skip_sharedmax
  (the opt-in shared-max decode), that bundle too, with its own count.

Every variant's output is compared with a float64 reference (dense rows)
and, among variants that split the kv range alike, with the first
variant's (skip rows, which must then also count the same skipped tiles:
skip counts and rounding depend on the split geometry, e.g.
skipattn-compile --decode-waves). Prints one line per case, exits non-zero on a mismatch and
writes --out/ab_decode.json. Timing as in bench.py: CUDA events, median
(triton.testing.do_bench, L2 flushed before every call)."""
import argparse, json, os, sys
import torch

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
import bench_decode as bd  # noqa: E402
from skipattn_runtime import Runtime  # noqa: E402

SHAPES = [(1, 8192), (1, 32768), (8, 8192), (8, 32768)]
SKIP_SHAPES = [(1, 8192), (8, 32768)]


def reference(q, k, v):
    """float64 attention of one query token per head, GQA 32/8."""
    g = bd.HQ // bd.HKV
    kk = k.double().repeat_interleave(g, dim=1)
    vv = v.double().repeat_interleave(g, dim=1)
    s = (q.double() @ kk.transpose(-1, -2)) / bd.D ** 0.5
    return torch.softmax(s, dim=-1) @ vv


def rel_err(out, ref):
    return ((out.double() - ref).norm() / ref.norm()).item()


def timed(variants, name, call):
    """{variant: ms}, in order and reversed, keeping the faster."""
    ms = {}
    order = list(variants)
    for vn in order + order[::-1]:
        t = bench.bench(lambda: call(variants[vn][name]))
        ms[vn] = min(t, ms.get(vn, t))
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rt = Runtime(a.runtime)
    variants = {}
    for spec in a.variant:
        vn, d = spec.split("=", 1)
        variants[vn] = {n: rt.load(os.path.join(d, n))
                        for n in ("decode_gqa", "decode_gqa_skip", "decode_gqa_paged16",
                                  "decode_gqa_skip_sharedmax")
                        if os.path.isfile(os.path.join(d, n, "manifest.json"))}
    first = next(iter(variants))
    gen = torch.Generator(device="cuda").manual_seed(int.from_bytes(os.urandom(4), "little"))
    print(torch.__version__, torch.cuda.get_device_name(), flush=True)
    bn = next(k["block_n"] for k in variants[first]["decode_gqa_skip"].manifest["kernels"]
              if k["name"] == "decode")
    rows, bad = [], []

    def check(label, err, limit=2e-2):
        if not err < limit:
            bad.append(f"{label}: relative error {err:.2e}")

    for (B, L) in SHAPES:
        q, k, v = bd.structured(B, L, bn, gen)
        byts = 2 * k.numel() * 2 + 2 * q.numel() * 2
        ref = reference(q, k, v)
        row = dict(case="dense", B=B, L=L)
        for vn, bundles in variants.items():
            out = torch.full_like(q, float("nan"))
            bundles["decode_gqa"].run_device(q, k, v, out)
            row[f"{vn}_err"] = rel_err(out, ref)
            check(f"dense B={B} L={L} {vn}", row[f"{vn}_err"])
            row[f"{vn}_splits"] = bundles["decode_gqa"].plan(q, k, v)["num_splits"]
        out = torch.empty_like(q)
        ms = timed(variants, "decode_gqa", lambda b: b.run_device(q, k, v, out))
        buf = torch.empty_like(k)
        copy_ms = bench.bench(lambda: buf.copy_(k))
        del buf
        row["copy_tbps"] = 2 * k.numel() * 2 / (copy_ms * 1e-3) / 1e12
        for vn in variants:
            row[f"{vn}_ms"] = ms[vn]
            row[f"{vn}_tbps"] = byts / (ms[vn] * 1e-3) / 1e12
        rows.append(row)
        print(f"dense B={B} L={L}: " + "  ".join(
            f"{vn}={row[vn + '_tbps']:.2f} TB/s ({row[vn + '_ms'] * 1e3:.1f} us, {row[vn + '_splits']} splits, "
            f"err {row[vn + '_err']:.1e})" for vn in variants)
            + f"  copy={row['copy_tbps']:.2f} TB/s", flush=True)

        if (B, L) == (8, 32768):
            kp, vp, table, lens = bd.paged(k, v, 16, gen)
            prow = dict(case="paged16", B=B, L=L)
            for vn, bundles in variants.items():
                out = torch.full_like(q, float("nan"))
                bundles["decode_gqa_paged16"].run_device(q, kp, vp, out, block_table=table, seq_lens=lens)
                prow[f"{vn}_err"] = rel_err(out, ref)
                check(f"paged16 B={B} L={L} {vn}", prow[f"{vn}_err"])
            ms = timed(variants, "decode_gqa_paged16", lambda b: b.run_device(
                q, kp, vp, out, block_table=table, seq_lens=lens))
            for vn in variants:
                prow[f"{vn}_ms"] = ms[vn]
                prow[f"{vn}_vs_contiguous"] = ms[vn] / row[f"{vn}_ms"]
            rows.append(prow)
            print(f"paged16 B={B} L={L}: " + "  ".join(
                f"{vn}={byts / (ms[vn] * 1e-3) / 1e12:.2f} TB/s (time / contiguous {prow[vn + '_vs_contiguous']:.3f}, "
                f"err {prow[vn + '_err']:.1e})" for vn in variants), flush=True)
            del kp, vp, table, lens

        if (B, L) in SKIP_SHAPES:
            margins, groups = bd.unsplit_votes(q, k, bn)
            for target in (0.0, 0.7):
                lam, unsplit = bd.threshold_for(margins, groups, target)
                srow = dict(case="skip", B=B, L=L, target=target, lam=lam, unsplit_sparsity=unsplit)
                outs, counts = {}, {}
                # Skip counts and rounding depend on the split geometry:
                # variants of one split count must agree.
                splits = {vn: bundles["decode_gqa_skip"].plan(q, k, v)["num_splits"]
                          for vn, bundles in variants.items()}
                for vn, bundles in variants.items():
                    out = torch.full_like(q, float("nan"))
                    counts[vn] = bundles["decode_gqa_skip"].run_device(q, k, v, out, lam, stats=True)
                    outs[vn] = out
                    srow[f"{vn}_err"] = rel_err(out, ref)
                    check(f"skip B={B} L={L} target={target} {vn} against float64", srow[f"{vn}_err"], 5e-2)
                    if splits[vn] == splits[first]:
                        check(f"skip B={B} L={L} target={target} {vn} against {first}",
                              rel_err(out, outs[first].double()), 1e-3)
                total, skipped = counts[first]
                srow.update(tiles_total=total, tiles_skipped=skipped, sparsity=skipped / max(total, 1),
                            counts_equal=all(counts[x] == counts[y] for x in variants for y in variants
                                             if splits[x] == splits[y]))
                if not srow["counts_equal"]:
                    bad.append(f"skip B={B} L={L} target={target}: counts differ {counts} "
                               f"at splits {splits}")
                ms = timed(variants, "decode_gqa_skip", lambda b: b.run_device(q, k, v, out, lam))
                for vn in variants:
                    srow[f"{vn}_ms"] = ms[vn]
                    srow[f"{vn}_speedup"] = row[f"{vn}_ms"] / ms[vn]
                    srow[f"{vn}_sparsity"] = counts[vn][1] / max(counts[vn][0], 1)
                    srow[f"{vn}_splits"] = splits[vn]
                rows.append(srow)
                print(f"skip B={B} L={L} lam={lam:.2e} unsplit={unsplit:.3f} kernel={srow['sparsity']:.3f} "
                      f"counts_equal={srow['counts_equal']}: " + "  ".join(
                          f"{vn}={ms[vn] * 1e3:.1f} us ({srow[vn + '_speedup']:.2f}x own dense, "
                          f"skipped {srow[vn + '_sparsity']:.3f}, {splits[vn]} splits)" for vn in variants),
                      flush=True)
                for vn, bundles in variants.items():
                    shared = bundles.get("decode_gqa_skip_sharedmax")
                    if shared is None:
                        continue
                    out = torch.full_like(q, float("nan"))
                    got = shared.run_device(q, k, v, out, lam, stats=True)
                    err = rel_err(out, ref)
                    check(f"shared-max B={B} L={L} target={target} {vn} against float64", err, 5e-2)
                    if got[0] != total or got[1] < skipped:
                        bad.append(f"shared-max B={B} L={L} target={target}: counts {got}, "
                                   f"deterministic {(total, skipped)}")
                    t = bench.bench(lambda: shared.run_device(q, k, v, out, lam))
                    rows.append(dict(case="skip-sharedmax", variant=vn, B=B, L=L, target=target,
                                     tiles_total=got[0], tiles_skipped=got[1],
                                     sparsity=got[1] / max(got[0], 1), ms=t,
                                     speedup=row[f"{vn}_ms"] / t))
                    print(f"  shared-max {vn}: kernel={got[1] / max(got[0], 1):.3f} (deterministic "
                          f"{srow['sparsity']:.3f}) {t * 1e3:.1f} us ({row[vn + '_ms'] / t:.2f}x own dense) "
                          f"err {err:.1e}", flush=True)
        del q, k, v, ref
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "ab_decode.json"), "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), rows=rows, failures=bad), f, indent=1)
    for line in bad:
        print("FAIL", line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
