#!/usr/bin/env python3
"""A serving process's first call of a layer: in a new process each time, the time of the
first linrec.Layer call (import excluded) with the kernel disk cache off, with an empty cache
(compile and store), and with the kernel cached; median of --runs processes each.

  PYTHONPATH=build/python python3 bench/cold_start.py [--models gated_delta,gla,...]
      [--runs 5] [--tokens 1] [--heads 8] [--dim 128]

Prints one markdown row per model (decode shape by default: one token, the token scan).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time
import numpy as np
import linrec
model, T, H, D = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
names = {"gla": ["q", "k", "v", "gk"], "simple_gla": ["q", "k", "v", "g"],
         "kda": ["q", "k", "v", "gk", "beta"], "gated_delta": ["q", "k", "v", "g", "beta"],
         "delta": ["q", "k", "v", "beta"], "linear": ["q", "k", "v"]}[model]
x = {}
for n in names:
    shape = (1, T, H) if n in ("g", "beta") else (1, T, H, D)
    a = rng.standard_normal(shape).astype(np.float32)
    if n in ("g", "gk"):
        a = -np.abs(a)
    if n == "beta":
        a = rng.uniform(0, 1, shape).astype(np.float32)
    x[n] = a
x["initial_state"] = np.zeros((1, H, D, D), np.float32)
params = {"scale": D ** -0.5}
if model == "linear":
    params.update(normalize=False, eps=0.0, feature_map="identity")
layer = linrec.Layer(model, sequential=T == 1, **params)
start = time.perf_counter()
layer(**x)
print(1e3 * (time.perf_counter() - start))
"""


def first_call_ms(model, args, env):
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(args.tokens), str(args.heads),
                          str(args.dim)], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="gated_delta,gla,kda,simple_gla,delta,linear")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=1)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    print(f"| model | T x H x d | no cache ms | empty cache (compile + store) ms | "
          f"cached ms | runs |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory() as directory:
            base = dict(os.environ, LINREC_KERNEL_CACHE_DIR=directory, LINREC_KERNEL_CACHE="1")
            off = first_call_ms(model, args, dict(base, LINREC_KERNEL_CACHE="0"))
            compiled = first_call_ms(model, args, base)  # fills the cache
            cached = [first_call_ms(model, args, base) for _ in range(args.runs)]
            none = [off] + [first_call_ms(model, args, dict(base, LINREC_KERNEL_CACHE="0"))
                            for _ in range(args.runs - 1)]
        print(f"| {model} | {args.tokens} x {args.heads} x {args.dim} | "
              f"{statistics.median(none):.0f} | {compiled:.0f} | "
              f"{statistics.median(cached):.1f} (min {min(cached):.1f}) | {args.runs} |",
              flush=True)


if __name__ == "__main__":
    main()
