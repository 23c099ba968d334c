"""The plots of a peers.py run, from its --json file, as PNGs:

  time_vs_T_d{d}_t{threads}.png   per (d, threads): one log-log panel per family, ms against T
                                  for linrec (default and tuned), the PyTorch chunked peer, the
                                  C token scan and causal SDPA (the same curve in every panel)
  roofline.png                    per thread count: linrec's rows at their arithmetic intensity
                                  (chunked FLOPs / bytes of q, k, v, o and gates) against GFLOP/s,
                                  under the run's own torch.mm peak and copy-bandwidth slope

    ~/.cache/linrec/torch-venv/bin/python bench/peers/plot.py bench/results/peers.json \\
        [--out bench/results/]

(scripts/install-torch.sh puts matplotlib into that environment.)
"""
import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 0.5, 20, 1000: not 5×10⁻¹


def _two_and_five(value, _):
    """Minor log ticks labelled at 2 and 5 × 10^k only: enough to read, not crowded."""
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 5) else ""


SPARSE = FuncFormatter(_two_and_five)

STYLES = {  # implementation → (label, colour, marker, line style)
    "linrec": ("linrec (default)", "tab:blue", "o", "-"),
    "linrec_tuned": ("linrec (tuned)", "tab:cyan", "D", "-"),
    "torch_chunked": ("PyTorch chunked", "tab:orange", "s", "--"),
    "c_scan": ("C token scan", "tab:green", "^", "--"),
    "sdpa": ("causal SDPA", "tab:red", "v", ":"),
}
FAMILY_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
                  "tab:pink", "tab:gray"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="peers.py --json output")
    parser.add_argument("--out", default="bench/results/", help="directory for the PNGs")
    return parser.parse_args()


def series(rows, family, impl, d, threads):
    """(T, median ms) sorted by T for one line of a panel."""
    points = sorted((r["T"], r["median_ms"]) for r in rows
                    if r["family"] == family and r["impl"] == impl and r["d"] == d
                    and r["threads"] == threads)
    return [p[0] for p in points], [p[1] for p in points]


def time_vs_tokens(report, d, threads, path):
    """One PNG: a panel per family, log-log ms vs T, one line per implementation."""
    rows, families = report["measurements"], report["config"]["models"]
    cols = min(4, len(families))
    nrows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False,
                             sharex=True)
    for ax, family in zip(axes.flat, families):
        for impl, (label, colour, marker, line) in STYLES.items():
            xs, ys = series(rows, "sdpa" if impl == "sdpa" else family, impl, d, threads)
            if xs:
                ax.plot(xs, ys, line, color=colour, marker=marker, label=label, markersize=4)
        ax.set(xscale="log", yscale="log", title=family, xlabel="T (tokens)", ylabel="ms")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(report["config"]["tokens"], [str(t) for t in report["config"]["tokens"]])
        ax.yaxis.set_major_formatter(PLAIN)
        ax.yaxis.set_minor_formatter(SPARSE)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(families):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize="small")
    host = report["host"]
    fig.suptitle(f"Forward time vs T, B = {report['config']['B']}, H = {report['config']['H']}, "
                 f"d = {d}, {threads} thread{'s' if threads > 1 else ''} — {host['cpu']}, "
                 f"PyTorch {host['torch']}", fontsize="medium")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def roofline(report, path):
    """One PNG, a panel per thread count: linrec's rows (filled: default, hollow: tuned;
    circles d = 64, squares d = 128, bigger for longer T) under the measured ceilings."""
    rows = [r for r in report["measurements"] if r["impl"] in ("linrec", "linrec_tuned")]
    threads_list = report["config"]["threads"]
    families = report["config"]["models"]
    colour = {f: FAMILY_COLOURS[i % len(FAMILY_COLOURS)] for i, f in enumerate(families)}
    markers = {d: "os^Dv"[i % 5] for i, d in enumerate(sorted({r["d"] for r in rows}))}
    tokens = sorted(report["config"]["tokens"])
    fig, axes = plt.subplots(1, len(threads_list), figsize=(6.5 * len(threads_list), 5),
                             squeeze=False)
    for ax, threads in zip(axes.flat, threads_list):
        mine = [r for r in rows if r["threads"] == threads]
        for r in mine:
            filled = r["impl"] == "linrec"
            ax.scatter(r["flops"] / r["bytes"], r["gflops"], marker=markers[r["d"]],
                       s=18 + 14 * tokens.index(r["T"]), edgecolors=colour[r["family"]],
                       facecolors=colour[r["family"]] if filled else "none")
        draw_ceilings(ax, report, threads, mine)
        for f in families:
            ax.scatter([], [], color=colour[f], label=f)
        for d, m in markers.items():
            ax.scatter([], [], color="black", marker=m, label=f"d = {d}")
        ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP / byte)",
               ylabel="GFLOP/s (chunked FLOP count)",
               title=f"{threads} thread{'s' if threads > 1 else ''}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(PLAIN)
            axis.set_minor_formatter(SPARSE)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small", loc="lower right")
    fig.suptitle(f"linrec roofline, {report['host']['cpu']}\n"
                 "filled: default schedule, hollow: tuned; bigger: longer T", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_ceilings(ax, report, threads, rows):
    """The torch.mm peak as the roof and, when the run measured it, the copy bandwidth's
    slope, over the intensities of the points."""
    peak = report["gemm_peak_gflops"][str(threads)]
    intensities = [r["flops"] / r["bytes"] for r in rows] or [1.0]
    lo, hi = min(intensities) / 4, max(intensities) * 4
    ax.plot([lo, hi], [peak, peak], color="black", label=f"torch.mm peak {peak:.0f} GFLOP/s")
    bandwidth = report.get("copy_bandwidth_gbs", {}).get(str(threads))
    if bandwidth:
        knee = peak / bandwidth
        xs = [lo, min(knee, hi)]
        ax.plot(xs, [bandwidth * x for x in xs], color="gray", linestyle="--",
                label=f"copy {bandwidth:.1f} GB/s")


def main():
    args = parse_args()
    with open(args.json) as f:
        report = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    written = []
    for d in report["config"]["dims"]:
        for threads in report["config"]["threads"]:
            path = os.path.join(args.out, f"time_vs_T_d{d}_t{threads}.png")
            time_vs_tokens(report, d, threads, path)
            written.append(path)
    path = os.path.join(args.out, "roofline.png")
    roofline(report, path)
    written.append(path)
    print("\n".join(written))


if __name__ == "__main__":
    main()
