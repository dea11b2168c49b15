"""Speedup against measured tile sparsity, from bench.py's bench.json.

  python3 bench/plot.py bench.json speedup.png"""
import json, sys


def plot(json_path, png_path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print("plot: no matplotlib:", e)
        return
    with open(json_path) as f:
        data = json.load(f)
    skips = [r for r in data["rows"] if r["kind"].startswith("skip")]
    curves = sorted({(r["kind"], r["B"], r["Skv"], r["causal"]) for r in skips})
    # Left: over our own dense kernel; right: over cuDNN's dense time on the
    # same inputs (prefill rows; decode has no cuDNN row that takes GQA).
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, key, label in ((axes[0], "speedup", "speedup over skipattn dense"),
                           (axes[1], "speedup_vs_cudnn", "speedup over cuDNN dense")):
        for (kind, B, Skv, causal) in curves:
            pts = [(r["sparsity"], r[key]) for r in skips
                   if (r["kind"], r["B"], r["Skv"], r["causal"]) == (kind, B, Skv, causal)
                   and r.get(key)]
            if pts:
                ax.plot(*zip(*pts), marker="o",
                        label=f"{kind[5:]} B={B} L={Skv // 1024}K{' causal' if causal else ''}")
        ax.axhline(1.0, color="gray", lw=0.5)
        ax.set_xlabel("measured tile sparsity")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(f"skipattn Skip-Softmax, {data['device']}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    print("wrote", png_path)


if __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
