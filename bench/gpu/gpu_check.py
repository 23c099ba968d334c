"""The GPU check and benchmark, in one call on a lent GPU (bench/gpu/run.sh runs it).

Needs PyTorch and the kernel libraries bench/gpu/prepare.sh built (no LLVM/MLIR here):
  1. conformance: every chunked conformance case on the GPU in f32, rel. RMS <= 1e-5;
  2. sweep: random shapes (T = 1, T not a multiple of the chunk, dk = 64/128, strong and weak
     decays) against a float64 token loop, f32 <= 1e-5 and bf16 inputs/outputs <= 5e-3;
  3. timing: each family's forward in bf16 at fla's benchmark shapes, median of CUDA-event
     timings, TFLOP/s of the chunked algorithm; flash-linear-attention's chunk kernels on the
     same inputs when `fla` imports (a carried wheel);
  4. tuning: linrec.tune(target="cuda") of GLA and Gated DeltaNet at B=1, T=4096, H=8, d=128
     when the linrec wheel was carried (it holds LLVM and MLIR; ptxas from the image's CUDA
     toolkit): each candidate assembled by ptxas, checked against the reference and timed.
Prints the tables last and writes them to $OUT/gpu-results.md.
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# The package's AOT loader, by path: it needs no linrec build (python/linrec/aot.py).
sys.path.insert(0, os.path.join(HERE, "..", "..", "python", "linrec"))
from aot import AotKernel  # noqa: E402

DEVICE = "cuda"
DELTA = ("delta", "gated_delta", "kda")
SHAPES = [(1, 8192, 96, 128), (2, 16384, 16, 128), (4, 2048, 16, 128), (8, 1024, 8, 64)]


def rel_rms(got, want):
    """||got - want|| / ||want|| (||got|| when want is 0); inf for NaN or Inf anywhere."""
    got, want = got.double().cpu(), want.double().cpu()
    norm = float(torch.linalg.norm(want))
    err = float(torch.linalg.norm(got - want)) / (norm if norm > 0 else 1.0)
    return err if math.isfinite(err) else float("inf")


class Stop(Exception):
    """The GPU is unusable (a kernel fault leaves the context broken) or time is up."""


def guard(log, what, fn):
    """fn(); a failure is logged and returned as None, except a broken CUDA context."""
    try:
        return fn()
    except Exception as e:  # one failure is a row, not the end of the run
        message = f"{what}: {e!r}"
        log(message)
        if "CUDA error" in message or "illegal" in message:
            raise Stop(message)
        return None


# --- 1. conformance ------------------------------------------------------------------------

def conformance(lib_dir, case_dir, log):
    rows, worst = [], 0.0
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]

        def run_case():
            case = os.path.join(case_dir, name)
            spec = json.load(open(os.path.join(case, "spec.json")))
            kernel = AotKernel(manifest)
            arrays = {}
            for key, file in spec["inputs"].items():
                a = np.load(os.path.join(case, file))
                a = a.astype(np.int32 if a.dtype.kind in "iu" else np.float32)
                arrays[key] = torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE)
            for key, file in spec["outputs"].items():
                shape = np.load(os.path.join(case, file), mmap_mode="r").shape
                arrays[key] = torch.full(shape, float("nan"), device=DEVICE)  # poisoned
            kernel(**arrays)
            torch.cuda.synchronize()
            err = max(rel_rms(arrays[k], torch.from_numpy(np.load(os.path.join(case, f))))
                      for k, f in spec["outputs"].items())
            return spec["model"], err, err <= spec.get("tolerance", {}).get("f32", 1e-5)

        result = guard(log, name, run_case)
        model, err, ok = result if result else ("?", float("inf"), False)
        worst = max(worst, err)
        rows.append((name, model, err, "PASS" if ok else "FAIL"))
    return rows, worst


# --- 2. random sweep against a float64 token loop -------------------------------------------

def inputs(family, B, T, H, d, dtype, strong=False, seed=0):
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    def randn(*s):
        return torch.randn(*s, generator=g, device=DEVICE)
    def rand(*s):
        return torch.rand(*s, generator=g, device=DEVICE)
    x = {"q": randn(B, T, H, d), "k": randn(B, T, H, d), "v": randn(B, T, H, d)}
    if family in DELTA:
        x["k"] = x["k"] / x["k"].norm(dim=-1, keepdim=True)
        x["beta"] = rand(B, T, H)
    lo = -10.0 if strong else -1.0
    if family in ("simple_gla", "gated_delta"):
        x["g"] = lo + (0.0 - lo) * rand(B, T, H)
    if family in ("gla", "kda"):
        x["gk"] = lo + (0.0 - lo) * rand(B, T, H, d)
    if family == "lightning":
        x["decay"] = -torch.exp2(-8.0 * torch.arange(1, H + 1, device=DEVICE) / H).double()
    return {k: (v.to(dtype) if v.dtype == torch.float32 else v).contiguous() for k, v in x.items()}


def reference(family, x, scale):
    """The token-by-token recurrence in float64 (docs/Models.md)."""
    q, k, v = (x[n].double() for n in ("q", "k", "v"))
    B, T, H, dk = q.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=torch.float64, device=DEVICE)
    out = torch.empty(B, T, H, v.shape[-1], dtype=torch.float64, device=DEVICE)
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        if family == "lightning":
            S = S * torch.exp(x["decay"].double())[None, :, None, None]
        if "g" in x:
            S = S * torch.exp(x["g"][:, t].double())[..., None, None]
        if "gk" in x:
            S = S * torch.exp(x["gk"][:, t].double())[..., None]
        if family in DELTA:
            beta = x["beta"][:, t].double()[..., None]
            vt = beta * (vt - torch.einsum("bhkv,bhk->bhv", S, kt))
        S = S + torch.einsum("bhk,bhv->bhkv", kt, vt)
        out[:, t] = torch.einsum("bhkv,bhk->bhv", S, q[:, t] * scale)
    return out, S


def sweep(lib_dir, log):
    rows = []
    shapes = [(2, 1, 3), (1, 77, 2), (3, 129, 4), (1, 300, 2)]
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]  # family_d64_{f32,bf16,bf16tc}
        family, dim, dt = name.rsplit("_", 2)
        d = int(dim[1:])
        dtype = torch.float32 if dt == "f32" else torch.bfloat16
        tol = 1e-5 if dt == "f32" else 5e-3
        kernel = guard(log, name, lambda: AotKernel(manifest))
        if kernel is None:
            rows.append((name, float("inf"), "FAIL"))
            continue
        err_max = 0.0
        for i, (B, T, H) in enumerate(shapes):
            for strong in (False, True):
                def run_shape():
                    x = inputs(family, B, T, H, d, dtype, strong, seed=i)
                    o = torch.full((B, T, H, d), float("nan"), dtype=dtype, device=DEVICE)
                    s = torch.full((B, H, d, d), float("nan"), device=DEVICE)
                    kernel(**x, o=o, final_state=s)
                    want_o, want_s = reference(family, x, d ** -0.5)
                    return max(rel_rms(o, want_o), rel_rms(s, want_s))
                err = guard(log, f"{name} {B}x{T}x{H}", run_shape)
                err_max = max(err_max, float("inf") if err is None else err)
        rows.append((name, err_max, "PASS" if err_max <= tol else "FAIL"))
    return rows


# --- 3. timing at fla's shapes ----------------------------------------------------------------

def flops(family, B, T, H, d, C=32):
    """The chunked algorithm's multiply-adds x 2: intra-chunk QK^T and AV, inter-chunk QS and
    the state update; the delta rule adds KK^T, KS and the triangular solve."""
    per_token = 2 * C * (d + d) + 4 * d * d
    if family in DELTA:
        per_token += 2 * C * d + C * d + 2 * d * d
    return B * T * H * per_token


def median_ms(fn, warmup=2, reps=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def fla_forward(family, x, scale, log):
    """flash-linear-attention's chunk kernel for `family` on the same inputs, or None."""
    try:
        import fla.ops  # noqa: F401
    except Exception as e:
        log(f"fla: {e!r}")
        return None
    q, k, v = x["q"], x["k"], x["v"]
    try:
        if family in ("simple_gla", "lightning"):
            from fla.ops.simple_gla import chunk_simple_gla
            if family == "lightning":  # fla's lightning attention is this call
                gamma = x["decay"].float()
                return lambda: chunk_simple_gla(q, k, v, g_gamma=gamma, scale=scale,
                                                output_final_state=True)
            return lambda: chunk_simple_gla(q, k, v, g=x["g"], scale=scale, output_final_state=True)
        if family == "gla":
            from fla.ops.gla import chunk_gla
            return lambda: chunk_gla(q, k, v, g=x["gk"], scale=scale, output_final_state=True)
        if family == "delta":
            from fla.ops.delta_rule import chunk_delta_rule
            return lambda: chunk_delta_rule(q, k, v, beta=x["beta"], scale=scale,
                                            output_final_state=True)
        if family == "gated_delta":
            from fla.ops.gated_delta_rule import chunk_gated_delta_rule
            return lambda: chunk_gated_delta_rule(q, k, v, g=x["g"], beta=x["beta"], scale=scale,
                                                  output_final_state=True)
        if family == "kda":
            from fla.ops.kda import chunk_kda
            return lambda: chunk_kda(q, k, v, g=x["gk"], beta=x["beta"], scale=scale,
                                     output_final_state=True)
        if family == "linear":
            from fla.ops.linear_attn import chunk_linear_attn
            return lambda: chunk_linear_attn(q, k, v, scale=scale, normalize=False,
                                             output_final_state=True)
    except Exception as e:
        log(f"fla {family}: {e!r}")
    return None


def timing(lib_dir, log, deadline):
    rows = []
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*_bf16*.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]
        family, dim, variant = name.rsplit("_", 2)  # variant bf16 (FMA) or bf16tc (tensor cores)
        d = int(dim[1:])
        kernel = guard(log, name, lambda: AotKernel(manifest))
        for B, T, H, D in SHAPES:
            if D != d or kernel is None:
                continue
            if time.monotonic() > deadline:
                log(f"time budget spent: {name} {B}x{T}x{H}x{D} not timed")
                continue

            def run_shape():
                x = inputs(family, B, T, H, d, torch.bfloat16)
                o = torch.empty(B, T, H, d, dtype=torch.bfloat16, device=DEVICE)
                s = torch.empty(B, H, d, d, device=DEVICE)
                ms = median_ms(lambda: kernel(**x, o=o, final_state=s))
                fla_ms = float("nan")
                fla = fla_forward(family, x, d ** -0.5, log)
                if fla and time.monotonic() < deadline:
                    with torch.inference_mode():
                        fla_ms = guard(log, f"fla {family}", lambda: median_ms(fla)) or float("nan")
                return ms, fla_ms

            result = guard(log, f"{name} {B}x{T}x{H}x{D}", run_shape)
            ms, fla_ms = result if result else (float("nan"), float("nan"))
            tflops = flops(family, B, T, H, d) / (ms * 1e-3) / 1e12
            label = family + (" (tensor cores)" if variant.endswith("tc") else "")
            rows.append((label, f"({B},{T},{H},{D})", ms, tflops, fla_ms, fla_ms / ms))
            torch.cuda.empty_cache()
    return rows


def tuning(log, deadline):
    """linrec.tune on the GPU: (model, schedule, default ms, tuned ms, timed / pruned) rows, or
    none when the linrec package is not here."""
    try:
        import linrec
    except ImportError:
        log("tuning: no linrec wheel carried (prepare.sh copies it when it fits)")
        return []
    rows = []
    for model, params in (("gla", {"scale": 128 ** -0.5}),
                          ("gated_delta", {"scale": 128 ** -0.5})):
        left = deadline - time.monotonic()
        if left < 30:
            log(f"tuning {model}: skipped, {left:.0f} s left")
            continue
        try:
            [result] = linrec.tune(model, dict(B=1, T=4096, H=8, dk=128), target="cuda",
                                   budget=min(60.0, left / 2), save=False, **params)
        except ValueError as e:
            log(f"tuning {model}: {e}")
            continue
        timed = sum(c["ms"] > 0 for c in result["candidates"])
        pruned = sum(c["outcome"].startswith("pruned") for c in result["candidates"])
        rows.append((model, result["schedule"] or "(default)", result["default_ms"],
                     result["tuned_ms"], f"{timed} / {pruned}"))
        log(f"tuning {model}: {rows[-1]}")
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.path.join(HERE, "..", "..", ".gpu"))
    parser.add_argument("--skip", default="",
                        help="comma list of: conformance,sweep,timing,tuning")
    parser.add_argument("--budget", type=float, default=360.0,
                        help="seconds after which no more timings start")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget
    out = os.environ.get("OUT", ".")
    lines, report = [], []

    def log(message):
        print(message, flush=True)
        lines.append(message)

    def write():  # after every section: a timeout keeps what was measured
        with open(os.path.join(out, "gpu-results.md"), "w") as f:
            f.write("\n".join(lines + report) + "\n")

    def section(rows_text):
        report.extend(rows_text)
        print("\n".join(rows_text), flush=True)
        write()

    skip = set(args.skip.split(","))
    props = torch.cuda.get_device_properties(0)
    log(f"# linrec GPU check, {time.strftime('%Y-%m-%d')}, {props.name}, "
        f"{props.multi_processor_count} SMs, torch {torch.__version__}")
    try:
        if "conformance" not in skip:
            rows, worst = conformance(os.path.join(args.root, "lib", "cases"),
                                      os.path.join(args.root, "conformance"), log)
            section(["\n## Conformance (f32, rel. RMS <= the case's tolerance, 1e-5)\n",
                     "| case | model | rel. RMS | |", "|---|---|---|---|"]
                    + [f"| {n} | {m} | {e:.2e} | {st} |" for n, m, e, st in rows]
                    + [f"\n{sum(r[3] == 'PASS' for r in rows)}/{len(rows)} cases pass, "
                       f"worst {worst:.2e}"])
        if "sweep" not in skip:
            rows = sweep(os.path.join(args.root, "lib", "sweep"), log)
            section(["\n## Random sweep vs float64 token loop (f32 <= 1e-5, bf16 <= 5e-3)\n",
                     "| kernel | worst rel. RMS | |", "|---|---|---|"]
                    + [f"| {n} | {e:.2e} | {st} |" for n, e, st in rows])
        if "timing" not in skip:
            rows = timing(os.path.join(args.root, "lib", "sweep"), log, deadline)
            section(["\n## Forward, bf16 (median of 10, CUDA events; fla/linrec > 1: linrec faster)\n",
                     "| family | (B,T,H,D) | linrec ms | TFLOP/s | fla ms | fla/linrec |",
                     "|---|---|---|---|---|---|"]
                    + [f"| {f} | {sh} | {ms:.3f} | {tf:.1f} | {fm:.3f} | {r:.2f} |"
                       for f, sh, ms, tf, fm, r in rows])
        if "tuning" not in skip:
            rows = tuning(log, deadline)
            section(["\n## linrec.tune on the GPU (B=1, T=4096, H=8, d=128, f32; ms include "
                     "the host-device copies of Kernel::run, equal for every candidate)\n",
                     "| model | tuned schedule | default ms | tuned ms | timed / pruned |",
                     "|---|---|---|---|---|"]
                    + [f"| {m} | {sch} | {d:.3f} | {t:.3f} | {n} |" for m, sch, d, t, n in rows])
    except Stop as e:
        log(f"stopped: {e}")
    write()


if __name__ == "__main__":
    main()
