"""The GPU check and benchmark, in one call on a lent GPU (bench/gpu/run.sh runs it).

Needs PyTorch and the kernel libraries bench/gpu/prepare.sh built (no LLVM/MLIR here):
  1. conformance: every chunked conformance case on the GPU in f32, rel. RMS <= 1e-5;
  2. sweep: random shapes (T = 1, T not a multiple of the chunk, dk = 64/128, strong and weak
     decays) against a float64 token loop, f32 <= 1e-5 and bf16 inputs/outputs <= 5e-3;
  3. timing: each family's forward in bf16 at fla's benchmark shapes, median of CUDA-event
     timings, TFLOP/s of the chunked algorithm; flash-linear-attention's chunk kernels on the
     same inputs when `fla` imports (a carried wheel).
Prints the tables last and writes them to $OUT/gpu-results.md.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "linrec-compile"))
from linrec_aot import AotKernel  # noqa: E402

DEVICE = "cuda"
DELTA = ("delta", "gated_delta", "kda")
SHAPES = [(1, 8192, 96, 128), (2, 16384, 16, 128), (4, 2048, 16, 128), (8, 1024, 8, 64)]


def rel_rms(got, want):
    got, want = got.double(), want.double()
    return float(torch.linalg.norm(got - want) / torch.linalg.norm(want))


# --- 1. conformance ------------------------------------------------------------------------

def conformance(lib_dir, case_dir, log):
    rows, worst = [], 0.0
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]
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
        try:
            kernel(**arrays)
            torch.cuda.synchronize()
            errors = {k: rel_rms(arrays[k].cpu(), torch.from_numpy(
                np.load(os.path.join(case, f)))) for k, f in spec["outputs"].items()}
            err = max(errors.values())
            ok = err <= 1e-5 and all(torch.isfinite(arrays[k]).all() for k in spec["outputs"])
        except Exception as e:  # a failure is a row, not the end of the run
            err, ok = float("inf"), False
            log(f"{name}: {e}")
        worst = max(worst, err)
        rows.append((name, spec["model"], err, "PASS" if ok else "FAIL"))
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
    """The token-by-token recurrence in float64 (DESIGN.md §1)."""
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
    rows, worst = [], {}
    shapes = [(2, 1, 3), (1, 77, 2), (3, 129, 4), (1, 300, 2)]
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]  # family_d64_f32
        family, dim, dt = name.rsplit("_", 2)
        d = int(dim[1:])
        dtype = torch.float32 if dt == "f32" else torch.bfloat16
        tol = 1e-5 if dt == "f32" else 5e-3
        kernel = AotKernel(manifest)
        err_max = 0.0
        for i, (B, T, H) in enumerate(shapes):
            for strong in (False, True):
                x = inputs(family, B, T, H, d, dtype, strong, seed=i)
                o = torch.full((B, T, H, d), float("nan"), dtype=dtype, device=DEVICE)
                s = torch.full((B, H, d, d), float("nan"), device=DEVICE)
                try:
                    kernel(**x, o=o, final_state=s)
                    want_o, want_s = reference(family, x, d ** -0.5)
                    err = max(rel_rms(o, want_o), rel_rms(s, want_s))
                except Exception as e:
                    log(f"{name} {B}x{T}x{H}: {e}")
                    err = float("inf")
                err_max = max(err_max, err)
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


def fla_forward(family, x, scale):
    """flash-linear-attention's chunk kernel for `family`, or None when fla is not there."""
    try:
        import fla.ops as ops  # noqa: F401
    except Exception:
        return None
    q, k, v = x["q"], x["k"], x["v"]
    try:
        if family == "simple_gla":
            from fla.ops.simple_gla import chunk_simple_gla
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
    except Exception:
        return None
    return None


def timing(lib_dir, log):
    rows = []
    for manifest in sorted(glob.glob(os.path.join(lib_dir, "*_bf16.json"))):
        name = os.path.splitext(os.path.basename(manifest))[0]
        family, dim, _ = name.rsplit("_", 2)
        d = int(dim[1:])
        kernel = AotKernel(manifest)
        for B, T, H, D in SHAPES:
            if D != d:
                continue
            x = inputs(family, B, T, H, d, torch.bfloat16)
            o = torch.empty(B, T, H, d, dtype=torch.bfloat16, device=DEVICE)
            s = torch.empty(B, H, d, d, device=DEVICE)
            try:
                ms = median_ms(lambda: kernel(**x, o=o, final_state=s))
            except Exception as e:
                log(f"{name} {B}x{T}x{H}x{D}: {e}")
                ms = float("nan")
            fla = fla_forward(family, x, d ** -0.5)
            fla_ms = float("nan")
            if fla:
                try:
                    fla_ms = median_ms(fla)
                except Exception as e:
                    log(f"fla {family}: {e}")
            tflops = flops(family, B, T, H, d) / (ms * 1e-3) / 1e12
            rows.append((family, f"({B},{T},{H},{D})", ms, tflops, fla_ms,
                         fla_ms / ms if fla_ms == fla_ms else float("nan")))
            torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.path.join(HERE, "..", "..", ".gpu"))
    parser.add_argument("--skip", default="", help="comma list of: conformance,sweep,timing")
    args = parser.parse_args()
    out = os.environ.get("OUT", ".")
    lines = []
    def log(message):
        print(message, flush=True)
        lines.append(message)
    skip = set(args.skip.split(","))
    props = torch.cuda.get_device_properties(0)
    log(f"# linrec GPU check, {time.strftime('%Y-%m-%d')}, {props.name}, "
        f"{props.multi_processor_count} SMs, torch {torch.__version__}")
    report = []
    if "conformance" not in skip:
        rows, worst = conformance(os.path.join(args.root, "lib", "cases"),
                                  os.path.join(args.root, "conformance"), log)
        report.append("\n## Conformance (f32, rel. RMS <= 1e-5)\n\n| case | model | rel. RMS | |\n"
                      "|---|---|---|---|")
        report += [f"| {n} | {m} | {e:.2e} | {s} |" for n, m, e, s in rows]
        report.append(f"\n{sum(r[3] == 'PASS' for r in rows)}/{len(rows)} cases pass, "
                      f"worst {worst:.2e}")
    if "sweep" not in skip:
        rows = sweep(os.path.join(args.root, "lib", "sweep"), log)
        report.append("\n## Random sweep vs float64 token loop (f32 <= 1e-5, bf16 <= 5e-3)\n\n"
                      "| kernel | worst rel. RMS | |\n|---|---|---|")
        report += [f"| {n} | {e:.2e} | {s} |" for n, e, s in rows]
    if "timing" not in skip:
        rows = timing(os.path.join(args.root, "lib", "sweep"), log)
        report.append("\n## Forward, bf16 (median of 10, CUDA events)\n\n"
                      "| family | (B,T,H,D) | linrec ms | TFLOP/s | fla ms | fla / linrec |\n"
                      "|---|---|---|---|---|---|")
        report += [f"| {f} | {s} | {ms:.3f} | {tf:.1f} | {fm:.3f} | {r:.2f} |"
                   for f, s, ms, tf, fm, r in rows]
    text = "\n".join(lines + report) + "\n"
    print("\n".join(report))
    with open(os.path.join(out, "gpu-results.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
