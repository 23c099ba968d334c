"""Conformance cases packed as variable-length sequences (cu_seqlens).

Copies each case named from --cases into --out with its batch rows packed into one row of
B·T tokens and every row split into sequences of 1, 0, ⌊T/2⌋ − 1 and the rest tokens (an
empty sequence included); initial states (when the case has them) and final-state cotangents
become per-sequence random ones. The float64 reference gives the expected outputs and
gradients (linrec-run then checks a compiled target's forward and derived backward against
it), so every sequence of a compiled run must restart and end where cu_seqlens says.
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
parser.add_argument("--linrec-run", default="linrec-run")
parser.add_argument("names", nargs="+")
args = parser.parse_args()

rng = np.random.default_rng(11)
os.makedirs(args.out, exist_ok=True)


def reference(case, backward):
    """Runs the float64 reference on `case` and returns the directory of what it wrote."""
    out = case + (".gradients" if backward else ".outputs")
    # Stale expected files make the reference run report FAIL; what it writes is right.
    subprocess.run([args.linrec_run, "--case", case, "--target=reference", "--out", out]
                   + (["--backward"] if backward else []),
                   stdout=subprocess.DEVNULL, check=False)
    return out


for name in args.names:
    source = os.path.join(args.cases, name)
    spec = json.load(open(os.path.join(source, "spec.json")))
    dims = spec["dims"]
    B, T = dims["B"], dims["T"]
    lengths = [1, 0, T // 2 - 1, T - T // 2]
    N = B * len(lengths)
    case = os.path.join(args.out, name + "_varlen")
    shutil.copytree(source, case)
    for key, file in list(spec["inputs"].items()) + list(spec.get("cotangents", {}).items()):
        path = os.path.join(case, file)
        x = np.load(path)
        if x.ndim >= 2 and x.shape[:2] == (B, T):  # token rows: packed
            x = x.reshape((1, B * T) + x.shape[2:])
        elif key.startswith("initial") or key.startswith("final"):  # states: per sequence
            x = (0.5 * rng.standard_normal((N,) + x.shape[1:])).astype(x.dtype)
        np.save(path, x)
    np.save(os.path.join(case, "cu_seqlens.npy"),
            np.concatenate([[0], np.cumsum(lengths * B)]).astype(np.int32))
    spec["inputs"]["cu_seqlens"] = "cu_seqlens.npy"
    spec["dims"].update(B=1, T=B * T, lengths=lengths * B)
    spec["description"] = f"{name} packed as sequences of {lengths * B} tokens"
    json.dump(spec, open(os.path.join(case, "spec.json"), "w"), indent=1)
    for backward, files in ((False, spec["outputs"]), (True, spec.get("gradients", {}))):
        written = reference(case, backward)
        for file in files.values():
            shutil.move(os.path.join(written, file), os.path.join(case, file))
        shutil.rmtree(written)
