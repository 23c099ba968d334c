"""Runs a CPU kernel library made by linrec-compile on random inputs and compares it with
linrec-run's float64 reference of the same .mlir on the same inputs (saved as .npy).

    aot_check.py MANIFEST.json MODEL.mlir WORKDIR --dims B,T,H
    aot_check.py MANIFEST.json --load-only      # open a CUDA library, print its load error
"""
import argparse
import os
import subprocess
import sys

import numpy as np

# The package's AOT loader, by path: it needs no linrec build (python/linrec/aot.py).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "python", "linrec"))
from aot import AotKernel  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("model", nargs="?")
    parser.add_argument("workdir", nargs="?")
    parser.add_argument("--dims", default="2,64,3")
    parser.add_argument("--load-only", action="store_true")
    args = parser.parse_args()
    kernel = AotKernel(args.manifest)
    if args.load_only:
        print("load error:", kernel.load_error)
        return 0
    batch, tokens, heads = (int(x) for x in args.dims.split(","))
    rng = np.random.default_rng(5)
    m = kernel.manifest
    arrays = {}
    for i, spec in enumerate(m["operands"] + m["results"]):
        is_operand = i < len(m["operands"])
        is_state = (is_operand and m["num_inputs"] + m["num_params"] <= i) or (
            not is_operand and i - len(m["operands"]) >= m["num_outputs"])
        lead = [batch, heads] if is_state else [batch, tokens, heads]
        shape = lead + spec["shape"][len(lead):]
        name = spec["name"]
        if name == "g":
            value = rng.uniform(-1.0, 0.0, shape)
        elif name == "beta":
            value = rng.uniform(0.0, 1.0, shape)
        else:
            value = rng.standard_normal(shape)
        if name == "k":
            value /= np.linalg.norm(value, axis=-1, keepdims=True)
        arrays[name] = np.ascontiguousarray(value, dtype=np.float32)
        if not is_operand:
            arrays[name][...] = np.nan  # poisoned: every element must be written
    inputs = []
    for spec in m["operands"]:
        path = os.path.join(args.workdir, spec["name"] + ".npy")
        np.save(path, arrays[spec["name"]])
        inputs += ["--input", f"{spec['name']}={path}"]
    expected_dir = os.path.join(args.workdir, "reference")
    subprocess.run(["linrec-run", args.model, "--target=reference", "--out", expected_dir]
                   + inputs, check=True, stdout=subprocess.DEVNULL)
    kernel(**arrays)
    for spec in m["results"]:
        expected = np.load(os.path.join(expected_dir, spec["name"] + ".npy"))
        got = arrays[spec["name"]].astype(np.float64)
        error = np.linalg.norm(got - expected) / np.linalg.norm(expected)
        print(f"{spec['name']}: rel_rms={error:.3e} {'ok' if error <= 1e-5 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
