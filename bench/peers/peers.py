"""linrec's chunked forward against its peers on the CPU, side by side in one process and one
run (issue 17): for every family (bench/peers/families.py) and shape B = 1, H = 8,
T ∈ {1024, 4096, 16384, 65536}, d = dk = dv ∈ {64, 128}, on 1 and 2 threads:

  linrec          linrec.ops' chunk_* op, its default schedule (every tunable option given
                  explicitly, so no tuning database can change it)
  linrec_tuned    the same op with the tuned schedule from --tuning-db (only with that option)
  torch_chunked   the same chunked algorithm in PyTorch (torch_chunked.py), torch.set_num_threads
  c_scan          the token-by-token recurrence in C (token_scan.c), OpenMP over (batch, head)
  sdpa            causal softmax attention, F.scaled_dot_product_attention(is_causal=True) on
                  [B, H, T, d]: where linear attention starts to win (skipped, and said so, when
                  a call would need more than 8 GiB or is predicted to take > --sdpa-max-seconds)

Every implementation is checked against linrec first by test_torch_chunked.py (run it). Timing:
one warm-up call each (it compiles linrec's kernels), then --rounds rounds in which every
implementation of a (T, d, threads) cell runs in turn (round-robin, the order rotated each
round, so machine drift hits all alike), each for at least --min-seconds; reported: the median
of the rounds' per-call ms and the spread (max − min) / median. In the same run: PyTorch's own
GEMM peak (torch.mm 2048³ f32, per thread count) and a copy bandwidth over 2 GiB; GFLOP/s use
the chunked algorithm's FLOP count (linrec-bench's flopsPerToken, C = 64) for every recurrence
implementation, the C scan included (its effective rate), and 2·T²·d per head for SDPA.

Full run (on an otherwise idle machine; on the 2-core VM roughly 20–30 minutes, estimated
from smoke runs: T = 65536, d = 128 dominates, where the C scan takes seconds a call):

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/peers/peers.py \\
        --json bench/results/peers.json | tee bench/results/peers.md

With the tuned column (first tunes each of the 7 × 4 × 2 × 2 = 112 shapes for up to 60 s
into the database, so budget up to two hours more, then times default and tuned side by side):

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/peers/peers.py \\
        --tuning-db bench/results/peers-tuning.json --tune 60 \\
        --json bench/results/peers.json | tee bench/results/peers.md

A smoke test (under a minute):

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/peers/peers.py \\
        --models gla gated_delta --tokens 1024 --dims 64 --threads 1 --rounds 2 --min-seconds 0.05

Plots from the JSON: bench/peers/plot.py.
"""
import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import linrec
import linrec.ops
import token_scan
from families import FAMILIES, make_inputs, run_linrec, run_scan, run_torch, tune_params

B, H, CHUNK = 1, 8, 64
# linrec's CPU options a tuning database sets (KernelCompiler's forEachTunableCpuOption).
TUNABLE = ("sequential", "chunk-size", "matmul-rows", "matmul-columns", "value-tiles",
           "heads-per-item")
SDPA_MEMORY_LIMIT = 8 << 30


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--tokens", nargs="+", type=int, default=[1024, 4096, 16384, 65536])
    parser.add_argument("--dims", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.2,
                        help="per implementation and round: calls repeat until this much time")
    parser.add_argument("--tuning-db", metavar="PATH",
                        help="adds the linrec_tuned column: linrec with this tuning database")
    parser.add_argument("--tune", type=float, metavar="SECONDS",
                        help="first tune every (family, T, d, threads) into --tuning-db with "
                             "this budget per shape (linrec.tune)")
    parser.add_argument("--sdpa-max-seconds", type=float, default=10.0,
                        help="skip SDPA where one call is predicted to take longer")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    args = parser.parse_args()
    if args.tune is not None and not args.tuning_db:
        parser.error("--tune needs --tuning-db (where the tuned schedules go)")
    return args


# --- the host and its ceilings ----------------------------------------------------------------

def host_info():
    """What the numbers depend on: CPU model and ISA, core count, PyTorch and its BLAS."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    cpu = fields.get("model name") or platform.processor() or "unknown"
    flags = set(fields.get("flags", "").split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    mkl = [line.strip(" -") for line in torch.__config__.show().splitlines()
           if "Math Kernel Library Version" in line]
    return {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "torch": torch.__version__,
            "mkl": torch.backends.mkl.is_available(), "mkl_version": mkl[0] if mkl else None,
            "numpy": np.__version__, "linrec": linrec.__version__,
            "python": platform.python_version(),
            "c_scan_compile": " ".join(token_scan.COMPILE)}


def best_seconds(call, repeats):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peak(threads, n=2048, repeats=5):
    """PyTorch's own sgemm rate (GFLOP/s), torch.mm of n³ f32 on `threads` threads: the ceiling
    its chunked peer's matmuls can reach, and the yardstick for everyone's % column."""
    torch.set_num_threads(threads)
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    return 2 * n ** 3 / best_seconds(lambda: torch.mm(a, b, out=c), repeats) / 1e9


def copy_bandwidth(threads, gib=1, repeats=3):
    """GB/s of a torch copy of `gib` GiB into another (2·gib GiB in play, beyond any cache),
    bytes read plus written: the roofline's memory slope."""
    torch.set_num_threads(threads)
    n = (gib << 30) // 4
    src, dst = torch.ones(n), torch.empty(n)
    return 2 * n * 4 / best_seconds(lambda: dst.copy_(src), repeats) / 1e9


# --- work counts -----------------------------------------------------------------------------

def chunked_flops(family, T, d):
    """linrec-bench's flopsPerToken (C = 64) for the whole layer."""
    per_chunk = 2 * CHUNK ** 2 * (2 * d) + 4 * CHUNK * d * d
    if family.delta:
        per_chunk += 2 * CHUNK ** 2 * d + 2 * CHUNK * d * d + CHUNK ** 2 * d
    return per_chunk / CHUNK * T * B * H


def sdpa_flops(T, d):
    """QKᵀ and PV, 2·T²·d each, halved by the causal mask."""
    return 2 * T * T * d * 2 / 2 * B * H


def bytes_moved(family, T, d):
    """The layer's compulsory traffic: q, k, v, o and the gates (f32), for the roofline."""
    gate = {None: 0, "head": 0, "token": 1, "key": d}[family.gate]
    per_token = 4 * d + gate + (1 if family.delta else 0)
    return 4 * per_token * T * B * H


# --- implementations and timing ---------------------------------------------------------------

@dataclasses.dataclass
class Implementation:
    """One timed column of one cell: `prepare` (untimed: thread counts, linrec's schedule)
    runs before each batch of calls of `call`."""
    family: str
    name: str
    prepare: object
    call: object
    flops: float
    bytes: float


def default_schedule():
    """linrec's default for every option a tuning database could set, as explicit options:
    explicit options win over the database, so this column is the default with or without one."""
    known = linrec.schedule_options("cpu")
    return {name.replace("-", "_"): known[name][0] for name in TUNABLE}


def recurrence_implementations(family, x, T, d, threads, tuned):
    """linrec (default, and tuned when a database is given), torch_chunked and the C scan for
    one family on inputs x."""
    flops, moved = chunked_flops(family, T, d), bytes_moved(family, T, d)
    defaults = default_schedule()

    def schedule(**options):
        def prepare():
            torch.set_num_threads(threads)
            linrec.ops.set_schedule(threads=threads, **options)
        return prepare

    def torch_threads():
        torch.set_num_threads(threads)

    impls = [Implementation(family.name, "linrec", schedule(**defaults),
                            lambda: run_linrec(family, x), flops, moved)]
    if tuned:
        impls.append(Implementation(family.name, "linrec_tuned", schedule(),
                                    lambda: run_linrec(family, x), flops, moved))
    impls.append(Implementation(family.name, "torch_chunked", torch_threads,
                                lambda: run_torch(family, x), flops, moved))
    impls.append(Implementation(family.name, "c_scan", torch_threads,
                                lambda: run_scan(family, x, threads), flops, moved))
    return impls


def sdpa_uses_math(d):
    """Whether SDPA would take the math backend (materializing T × T scores) on the CPU."""
    probe = torch.zeros(B, H, 128, d)
    try:
        return torch._fused_sdp_choice(probe, probe, probe, is_causal=True) == 0
    except (AttributeError, RuntimeError):
        return True


def sdpa_skip_reason(T, d, threads, history, peaks, max_seconds):
    """Why SDPA is not timed at this shape (None: it is). The prediction scales the last
    measured T quadratically, or assumes the GEMM peak when nothing is measured yet."""
    if sdpa_uses_math(d) and B * H * T * T * 4 * 2 > SDPA_MEMORY_LIMIT:
        return (f"the math backend would need {B * H * T * T * 8 / 2**30:.0f} GiB "
                f"(> {SDPA_MEMORY_LIMIT >> 30} GiB)")
    if (d, threads) in history:
        last_T, last_ms = history[(d, threads)]
        predicted = last_ms / 1e3 * (T / last_T) ** 2
    else:
        predicted = sdpa_flops(T, d) / (peaks[threads] * 1e9)
    if predicted > max_seconds:
        return f"predicted {predicted:.3g} s a call (> --sdpa-max-seconds {max_seconds:g})"
    return None


def sdpa_implementation(x, T, d, threads):
    """SDPA on [B, H, T, d] copies of the recurrences' q, k, v (made once, untimed)."""
    k = x["k"] if "k" in x else x["unit_k"]
    q, k, v = (t.transpose(1, 2).contiguous() for t in (x["q"], k, x["v"]))

    def prepare():
        torch.set_num_threads(threads)
    return Implementation("sdpa", "sdpa", prepare,
                          lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                          sdpa_flops(T, d), 4 * 4 * d * T * B * H)


def time_calls(call, min_seconds):
    """ms per call, calls repeated until min_seconds have passed (at least one)."""
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls * 1e3


def measure(impls, rounds, min_seconds):
    """Per implementation the per-call ms of each round: one warm-up call each, then rounds in
    which each runs in turn, the starting point rotated every round."""
    for impl in impls:
        impl.prepare()
        impl.call()
    samples = [[] for _ in impls]
    for r in range(rounds):
        for i in [(r + j) % len(impls) for j in range(len(impls))]:
            impls[i].prepare()
            samples[i].append(time_calls(impls[i].call, min_seconds))
    return samples


def summarize(impl, T, d, threads, ms, peaks):
    median = statistics.median(ms)
    gflops = impl.flops / (median / 1e3) / 1e9
    return {"family": impl.family, "impl": impl.name, "T": T, "d": d, "threads": threads,
            "ms": ms, "median_ms": median, "spread": (max(ms) - min(ms)) / median,
            "flops": impl.flops, "bytes": impl.bytes, "gflops": gflops,
            "pct_gemm_peak": 100 * gflops / peaks[threads]}


# --- output -----------------------------------------------------------------------------------

COLUMNS = ("linrec", "linrec_tuned", "torch_chunked", "c_scan", "sdpa")


def table_header(tuned):
    columns = [c for c in COLUMNS if tuned or c != "linrec_tuned"]
    best = "linrec_tuned" if tuned else "linrec"
    head = (["family", "T", "d", "thr"] + [f"{c} ms" for c in columns]
            + [f"{c} % GEMM" for c in columns]
            + [f"{best} vs {c}" for c in ("torch_chunked", "c_scan", "sdpa")])
    return columns, best, "| " + " | ".join(head) + " |\n|" + "---|" * len(head)


def table_row(family, T, d, threads, rows, columns, best, skipped):
    """One Markdown row: ms (± spread), % of the GEMM peak, and the speed-ups of linrec (tuned
    when timed) over each peer (> 1: linrec is faster)."""
    def cell(name, fmt):
        row = rows.get(name)
        if row is None:
            return "skipped" if name == "sdpa" and skipped else "—"
        return fmt(row)
    ms = [cell(c, lambda r: f"{r['median_ms']:.3g} ±{100 * r['spread']:.0f}%") for c in columns]
    pct = [cell(c, lambda r: f"{r['pct_gemm_peak']:.0f}%") for c in columns]
    ours = rows[best]["median_ms"]
    ratio = [cell(c, lambda r: f"{r['median_ms'] / ours:.2f}×")
             for c in ("torch_chunked", "c_scan", "sdpa")]
    return "| " + " | ".join([family, str(T), str(d), str(threads)] + ms + pct + ratio) + " |"


def write_json(path, report):
    """Written after every cell (atomically), so a long run that stops keeps what it measured."""
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, path)


def print_header(report):
    host = report["host"]
    print(f"# linrec vs peers, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print(f"- CPU: {host['cpu']} ({host['cores']} logical cores; {', '.join(host['isa'])})")
    print(f"- PyTorch {host['torch']}, MKL {'available' if host['mkl'] else 'NOT available'}"
          f"{' (' + host['mkl_version'] + ')' if host['mkl_version'] else ''}; "
          f"NumPy {host['numpy']}; linrec {host['linrec']}; Python {host['python']}")
    print(f"- C scan: `{host['c_scan_compile']}`")
    config = report["config"]
    print(f"- B = {B}, H = {H}; {config['rounds']} interleaved rounds, ≥ "
          f"{config['min_seconds']} s per implementation and round; ms = median, ± = "
          f"(max − min) / median; % GEMM = GFLOP/s (chunked FLOP count, C = {CHUNK}) / "
          "torch.mm 2048³'s")
    for t in config["threads"]:
        print(f"- {t} thread{'s' if t > 1 else ''}: torch.mm peak "
              f"{report['gemm_peak_gflops'][str(t)]:.1f} GFLOP/s, copy "
              f"{report['copy_bandwidth_gbs'][str(t)]:.1f} GB/s (read + write, 2 GiB)")
    print(flush=True)


def tune_all(args, report):
    """linrec.tune for every (family, T, d, threads) into --tuning-db, before any timing."""
    print("## Tuning (linrec.tune, before timing)\n")
    print("| family | T | d | thr | default ms | tuned ms | schedule |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        family = FAMILIES[name]
        for T in args.tokens:
            for d in args.dims:
                for t in args.threads:
                    result = linrec.tune(name, dict(B=B, T=T, H=H, dk=d),
                                         schedule={"threads": t}, budget=args.tune,
                                         db=args.tuning_db, **tune_params(family, H, d))[0]
                    report["tuning"].append({"family": name, "T": T, "d": d, "threads": t,
                                             "default_ms": result["default_ms"],
                                             "tuned_ms": result["tuned_ms"],
                                             "schedule": result["schedule"]})
                    print(f"| {name} | {T} | {d} | {t} | {result['default_ms']:.3g} | "
                          f"{result['tuned_ms']:.3g} | {result['schedule'] or '(default)'} |",
                          flush=True)
    print()


# --- the run ----------------------------------------------------------------------------------

def run_cell(families, x, T, d, threads, args, peaks, report, sdpa_history):
    """Times every implementation of one (T, d, threads) together; returns rows by
    (family, implementation) and whether SDPA was skipped."""
    impls = []
    for family in families:
        impls += recurrence_implementations(family, x, T, d, threads, bool(args.tuning_db))
    reason = sdpa_skip_reason(T, d, threads, sdpa_history, peaks, args.sdpa_max_seconds)
    if reason:
        report["skipped"].append({"impl": "sdpa", "T": T, "d": d, "threads": threads,
                                  "reason": reason})
    else:
        impls.append(sdpa_implementation(x, T, d, threads))
    samples = measure(impls, args.rounds, args.min_seconds)
    rows = {}
    for impl, ms in zip(impls, samples):
        row = summarize(impl, T, d, threads, ms, peaks)
        report["measurements"].append(row)
        rows[(impl.family, impl.name)] = row
    if not reason:
        sdpa_history[(d, threads)] = (T, rows[("sdpa", "sdpa")]["median_ms"])
    return rows, reason


def main():
    args = parse_args()
    # Before linrec's first kernel: its process-wide compiler reads the database path once.
    # Without --tuning-db no database at all (not the user's ~/.cache/linrec/tuning.json).
    os.environ["LINREC_TUNING_DB"] = os.path.abspath(args.tuning_db) if args.tuning_db else "off"
    families = [FAMILIES[name] for name in args.models]
    token_scan.library()  # compiled before anything is timed
    peaks = {t: gemm_peak(t) for t in args.threads}
    report = {"host": host_info(),
              "config": {"B": B, "H": H, "chunk": CHUNK, "models": args.models,
                         "tokens": args.tokens, "dims": args.dims, "threads": args.threads,
                         "rounds": args.rounds, "min_seconds": args.min_seconds,
                         "tuning_db": args.tuning_db, "input_checks": "linrec.ops default (on)"},
              "gemm_peak_gflops": {str(t): p for t, p in peaks.items()},
              "copy_bandwidth_gbs": {str(t): copy_bandwidth(t) for t in args.threads},
              "tuning": [], "measurements": [], "skipped": []}
    gc.collect()
    print_header(report)
    if args.tune is not None:
        tune_all(args, report)
    columns, best, header = table_header(bool(args.tuning_db))
    print(f"## Forward, ms and % of the torch.mm peak; speed-ups of {best} (> 1: linrec faster)\n")
    print(header, flush=True)
    sdpa_history = {}
    with torch.inference_mode():
        for T in args.tokens:
            for d in args.dims:
                x = make_inputs(families, B, T, H, d)
                for threads in args.threads:
                    print(f"timing T={T} d={d} threads={threads} ...", file=sys.stderr,
                          flush=True)
                    rows, reason = run_cell(families, x, T, d, threads, args, peaks, report,
                                            sdpa_history)
                    for family in families:
                        by_name = {name: row for (f, name), row in rows.items()
                                   if f == family.name}
                        if ("sdpa", "sdpa") in rows:
                            by_name["sdpa"] = rows[("sdpa", "sdpa")]
                        print(table_row(family.name, T, d, threads, by_name, columns, best,
                                        reason), flush=True)
                    write_json(args.json, report)
                del x
                gc.collect()
    if report["skipped"]:
        print("\nSkipped:")
        for s in report["skipped"]:
            print(f"- {s['impl']} at T = {s['T']}, d = {s['d']}, {s['threads']} thread(s): "
                  f"{s['reason']}")


if __name__ == "__main__":
    main()
