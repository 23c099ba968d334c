"""The token scan's accuracy over long sequences, against the float64 reference and a plain
float32 token loop (docs/CPU-codegen.md, "The token scan").

Builds simple_gla cases (B = H = 1, d = 16) of --tokens tokens with scalar log-decays of about
--decay per token, takes the reference's outputs as the expected ones, runs linrec-run with the
arguments after "--" and prints, per output, linrec's relative RMS error, the float32 token
loop's, and whether linrec meets the bound: within 1e-5, or within 2x the loop where the loop
itself is worse (a decay that rounds e^g to 1 in float32 is lost token by token).
"""
import argparse
import json
import os
import re
import shutil
import subprocess

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--tokens", type=int, required=True)
parser.add_argument("--decay", type=float, required=True)
parser.add_argument("--linrec-run", default="linrec-run")
parser.add_argument("run_args", nargs="*")
args = parser.parse_args()

T, d, scale = args.tokens, 16, 0.25
rng = np.random.default_rng(5)
inputs = {name: rng.standard_normal((1, T, 1, d)).astype(np.float32) for name in ("q", "k", "v")}
inputs["g"] = (-args.decay * rng.uniform(0.5, 1.5, (1, T, 1))).astype(np.float32)
case = args.out
os.makedirs(case, exist_ok=True)
for name, array in inputs.items():
    np.save(os.path.join(case, name + ".npy"), array)
outputs = {"o": "o.npy", "final_state": "final_state.npy"}
spec = {"model": "simple_gla", "dims": {"B": 1, "T": T, "H": 1, "dk": d, "dv": d},
        "params": {"scale": scale}, "inputs": {n: n + ".npy" for n in inputs},
        "outputs": outputs, "tolerance": {"f64": 1e-10, "f32": 1.0}}
with open(os.path.join(case, "spec.json"), "w") as f:
    json.dump(spec, f)
for output in outputs.values():  # placeholders: the reference run replaces them
    np.save(os.path.join(case, output), np.zeros(1, np.float32))
expected = case + ".reference"
# The placeholders make the reference run report FAIL; its outputs are right.
subprocess.run([args.linrec_run, "--case", case, "--target=reference", "--out", expected],
               stdout=subprocess.DEVNULL, check=False)
for output in outputs.values():
    shutil.move(os.path.join(expected, output), os.path.join(case, output))
shutil.rmtree(expected)

# The plain float32 token loop: S <- e^g S + k v^T, o = scale q S, with e^g rounded once to
# float32 (NumPy's float32 exp is not correctly rounded near 0: it returns 1 for a third of the
# decays of 4e-8 that round to 1 - 2^-24, and so scores 10x better or worse by chance).
q, k, v, g = (inputs[n][0, :, 0] for n in ("q", "k", "v", "g"))
factors = np.exp(g.astype(np.float64)).astype(np.float32)
state = np.zeros((d, d), np.float32)
o = np.zeros((T, d), np.float32)
for t in range(T):
    state = factors[t] * state + np.outer(k[t], v[t])
    o[t] = (np.float32(scale) * q[t]) @ state
reference = {"o": np.load(os.path.join(case, "o.npy"))[0, :, 0],
             "final_state": np.load(os.path.join(case, "final_state.npy"))[0, 0]}
loop = {"o": o, "final_state": state}

def relative_rms(x, r):
    r = r.astype(np.float64)
    return float(np.sqrt(np.mean((x - r) ** 2)) / np.sqrt(np.mean(r ** 2)))

result = subprocess.run([args.linrec_run, "--case", case] + args.run_args, capture_output=True,
                        text=True, check=True).stdout
for name in outputs:
    linrec = float(re.search(name + r": rel_rms=([0-9.e+-]+)", result).group(1))
    plain = relative_rms(loop[name], reference[name])
    verdict = "OK" if linrec <= max(1e-5, 2 * plain) else "WORSE"
    print(f"{name}: linrec {linrec:.2e} f32 loop {plain:.2e} {verdict}")
