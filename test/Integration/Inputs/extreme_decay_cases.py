"""Conformance cases with extreme log-decays (README §3: −∞ is a full reset).

Copies the cases named (or every case with a log-decay input) from --cases into --out, sets
--fraction (5%) of every log-decay input's entries and one whole token to --log-decay, and makes the
float64 reference's outputs the expected ones (its gradients are the backward's reference:
linrec-run checks a compiled backward against the reference adjoint).

With --weak, every log-decay is --weak instead, except runs of 1 to 8 tokens at random positions
(one run per 40 tokens) set to --log-decay in every head and channel: strong decays anywhere in a
chunk, followed by weak ones, whose cumulative sums lose their digits in a single f32.
"""
import argparse
import json
import os
import shutil
import subprocess

import numpy as np

LOG_DECAYS = ("g", "gk", "gv", "g_shared")

parser = argparse.ArgumentParser()
parser.add_argument("--cases", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--log-decay", type=float, required=True)
parser.add_argument("--fraction", type=float, default=0.05)
parser.add_argument("--weak", type=float)
parser.add_argument("--linrec-run", default="linrec-run")
parser.add_argument("names", nargs="*")
args = parser.parse_args()

rng = np.random.default_rng(7)
os.makedirs(args.out, exist_ok=True)
names = args.names or sorted(os.listdir(args.cases))
for name in names:
    source = os.path.join(args.cases, name)
    spec_path = os.path.join(source, "spec.json")
    if not os.path.isfile(spec_path):
        continue
    spec = json.load(open(spec_path))
    decays = [n for n in spec["inputs"] if n in LOG_DECAYS]
    if not decays:
        continue
    case = os.path.join(args.out, name)
    shutil.copytree(source, case)
    for n in decays:
        path = os.path.join(case, spec["inputs"][n])
        g = np.load(path)
        if args.weak is not None:
            g[...] = args.weak
            tokens = g.shape[1]
            for start in rng.integers(0, tokens, size=max(1, tokens // 40)):
                g[:, start:start + int(rng.integers(1, 9))] = args.log_decay
        else:
            g[rng.random(g.shape) < args.fraction] = args.log_decay
            if g.shape[1] > 3:  # [B, T, ...]: one token resets in every head and channel
                g[:, g.shape[1] // 2] = args.log_decay
        np.save(path, g.astype(np.float32))
    expected = case + ".reference"
    # The stale expected outputs make the reference run report FAIL; its outputs are right.
    subprocess.run([args.linrec_run, "--case", case, "--target=reference", "--out", expected],
                   stdout=subprocess.DEVNULL, check=False)
    for output in spec["outputs"].values():
        result = np.load(os.path.join(expected, output))
        assert np.isfinite(result).all(), f"{name}: the reference's {output} is not finite"
        shutil.move(os.path.join(expected, output), os.path.join(case, output))
    shutil.rmtree(expected)
