"""Causality: outputs before token t never depend on inputs at or after t.

For every case under --cases with at least 3 tokens, sets every float input that has a token
axis ([B, T, ...]) to NaN from token t = T/2 + 1 on, runs linrec-run (input checks off, the
arguments after "--") on the case as given and on the poisoned copy, and compares the outputs
with a token axis before t: they must be finite, and equal up to --rounding relative RMS (a
chunk chooses its form from all its tokens, so the poisoned run may round differently; the
token scan and the GPU schedule must match exactly: --rounding 0). Prints one line per case
that fails and a summary line.
"""
import argparse
import json
import os
import shutil
import subprocess

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--cases", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--rounding", type=float, default=0.0)
parser.add_argument("--linrec-run", default="linrec-run")
parser.add_argument("run_args", nargs="*")
args = parser.parse_args()


cases = []  # (name, spec, t)
for name in sorted(os.listdir(args.cases)):
    spec_path = os.path.join(args.cases, name, "spec.json")
    if not os.path.isfile(spec_path):
        continue
    spec = json.load(open(spec_path))
    batch, tokens = spec["dims"]["B"], spec["dims"].get("T", 0)
    if tokens < 3:
        continue
    t = tokens // 2 + 1
    poisoned = os.path.join(args.out, name + ".poisoned")
    shutil.copytree(os.path.join(args.cases, name), poisoned)
    for file in spec["inputs"].values():
        path = os.path.join(poisoned, file)
        x = np.load(path)
        if x.dtype.kind == "f" and x.ndim >= 2 and x.shape[:2] == (batch, tokens):
            x[:, t:] = np.nan
            np.save(path, x)
    cases.append((name, spec, t))

# One process for both runs of every case: the poisoned copy reuses the clean run's kernels.
directories = [os.path.join(args.cases, name) for name, _, _ in cases]
directories += [os.path.join(args.out, name + ".poisoned") for name, _, _ in cases]
outputs = os.path.join(args.out, "outputs")
# (The poisoned runs report their NaN outputs as failures: the exit status says nothing.)
subprocess.run([args.linrec_run, "--out", outputs, "--no-check", "--check-inputs=false"] +
               [f"--case={d}" for d in directories] + args.run_args,
               stdout=subprocess.DEVNULL, check=False)

failures = 0
for name, spec, t in cases:
    tokens = spec["dims"]["T"]
    for output, file in spec["outputs"].items():
        clean = np.load(os.path.join(outputs, name, file)).astype(np.float64)
        dirty = np.load(os.path.join(outputs, name + ".poisoned", file)).astype(np.float64)
        if clean.ndim < 2 or clean.shape[1] != tokens:
            continue  # final states see every token
        clean, dirty = clean[:, :t], dirty[:, :t]
        bad = int((~np.isfinite(dirty)).sum())
        scale = np.sqrt(np.mean(clean ** 2)) or 1.0
        diff = float(np.sqrt(np.mean((clean - dirty) ** 2)) / scale) if not bad else np.inf
        if bad or diff > args.rounding:
            failures += 1
            print(f"NON-CAUSAL {name} {output}: {bad} non-finite before token {t}, "
                  f"relative RMS difference {diff:.2e}")
print(f"causality: {len(cases)} cases, {failures} non-causal")
