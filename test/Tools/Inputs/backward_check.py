"""Checks the gradients `linrec-run --case DIR --backward --out OUT` wrote against central
differences of the float64 forward (linrec.Layer, target "reference") along a random unit
direction per input, as conformance README §6 measures them.

    backward_check.py CASE_DIR OUT_DIR
"""
import json
import os
import sys

import numpy as np

import linrec


def main():
    case, out = sys.argv[1], sys.argv[2]
    spec = json.load(open(os.path.join(case, "spec.json")))
    inputs = {n: np.load(os.path.join(case, f)) for n, f in spec["inputs"].items()}
    cotangents = {n: np.load(os.path.join(case, f)) for n, f in spec["cotangents"].items()}
    layer = linrec.Layer(spec["model"], target="reference", **spec["params"])

    def loss(values):
        outputs = layer(**values)
        return sum(float(np.sum(outputs[n] * c)) for n, c in cotangents.items())

    rng = np.random.default_rng(0)
    for name, file in sorted(spec["gradients"].items()):
        grad = np.load(os.path.join(out, file))
        x = inputs[name].astype(np.float64)
        assert grad.shape == x.shape, (name, grad.shape, x.shape)
        u = rng.standard_normal(x.shape)
        u /= np.linalg.norm(u)
        decay = name.startswith("g") or "decay" in name

        def at(eps):
            values = dict(inputs)
            values[name] = x + eps * u
            return loss(values)
        if decay:  # log-decays stay <= 0: one-sided, downwards
            u = np.abs(u)
            eps = 1e-7
            directional, tolerance = (at(0.0) - at(-eps)) / eps, 1e-4
        else:  # central differences at eps and eps/2, Richardson-extrapolated
            eps = 1e-5
            wide = (at(eps) - at(-eps)) / (2 * eps)
            narrow = (at(eps / 2) - at(-eps / 2)) / eps
            directional, tolerance = (4 * narrow - wide) / 3, 1e-6
        predicted = float(np.sum(grad * u))
        error = abs(predicted - directional) / max(np.linalg.norm(grad), abs(directional), 1e-300)
        print(f"{file}: {'ok' if error < tolerance else f'error {error:.3e}'}")


main()
