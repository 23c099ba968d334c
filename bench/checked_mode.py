#!/usr/bin/env python3
"""The checked mode's cost: a model's forward through linrec.Layer with check=True and
check=False, alternating calls, fastest of each (the machine's noise hits both alike).

  PYTHONPATH=build/python python3 bench/checked_mode.py [--models gla,kda,...] [--tokens 4096]
      [--heads 8] [--dim 128] [--threads 1,2] [--calls 15]

Prints one markdown row per model and thread count: checked ms, unchecked ms, cost.
"""
import argparse
import time

import numpy as np

import linrec

# Inputs of each model (shape suffix after [B, T, H]) and its log-decays.
MODELS = {
    "gla": {"q": "d", "k": "d", "v": "d", "gk": "d"},
    "simple_gla": {"q": "d", "k": "d", "v": "d", "g": ""},
    "kda": {"q": "d", "k": "d", "v": "d", "gk": "d", "beta": ""},
    "gated_delta": {"q": "d", "k": "d", "v": "d", "g": "", "beta": ""},
    "delta": {"q": "d", "k": "d", "v": "d", "beta": ""},
}
LOG_DECAYS = {"gk", "g"}


def make_inputs(model, tokens, heads, dim, rng):
    inputs = {}
    for name, suffix in MODELS[model].items():
        shape = (1, tokens, heads) + ((dim,) if suffix else ())
        if name in LOG_DECAYS:
            inputs[name] = (-0.05 * rng.random(shape)).astype(np.float32)
        elif name == "beta":
            inputs[name] = rng.random(shape).astype(np.float32)
        else:
            x = rng.standard_normal(shape).astype(np.float32)
            if name == "k" and ("delta" in model or model == "kda"):
                x /= np.linalg.norm(x, axis=-1, keepdims=True)
            inputs[name] = x
    return inputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gla,simple_gla,kda,gated_delta")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| model | threads | checked ms | unchecked ms | cost |")
    print("|---|---|---|---|---|")
    for model in args.models.split(","):
        if model not in MODELS:
            raise SystemExit(f"unknown model '{model}' (this benchmark knows: {', '.join(MODELS)})")
        inputs = make_inputs(model, args.tokens, args.heads, args.dim, rng)
        for threads in [int(t) for t in args.threads.split(",")]:
            layers = [linrec.Layer(model, check=check, threads=threads, scale=args.dim ** -0.5)
                      for check in (True, False)]
            best = [float("inf"), float("inf")]
            for layer in layers:  # compile, warm up
                layer(**inputs)
            for _ in range(args.calls):
                for i, layer in enumerate(layers):
                    start = time.perf_counter()
                    layer(**inputs)
                    best[i] = min(best[i], time.perf_counter() - start)
            checked, unchecked = best[0] * 1e3, best[1] * 1e3
            print(f"| {model} | {threads} | {checked:.2f} | {unchecked:.2f} | "
                  f"{100 * (checked / unchecked - 1):+.1f}% |", flush=True)


if __name__ == "__main__":
    main()
