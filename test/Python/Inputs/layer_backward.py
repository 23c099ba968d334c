"""Layer.backward on random GLA layers (shapes and seeds of its own, not a case's): the cpu
and gpu-schedule gradients against the float64 adjoint, which is itself checked against
central differences of the float64 forward along a random direction per input; and a layer
without a derived backward raises an error that names the op."""
import numpy as np

import linrec

rng = np.random.default_rng(5)
B, T, H, dk, dv = 2, 77, 3, 16, 8
inputs = {
    "q": rng.standard_normal((B, T, H, dk)),
    "k": rng.standard_normal((B, T, H, dk)),
    "v": rng.standard_normal((B, T, H, dv)),
    "gk": -np.abs(rng.standard_normal((B, T, H, dk))) * 0.3,
    "initial_state": rng.standard_normal((B, H, dk, dv)),
}
cotangents = {"o": rng.standard_normal((B, T, H, dv)),
              "final_state": rng.standard_normal((B, H, dk, dv))}
params = {"scale": 0.25}

reference = linrec.Layer("gla", target="reference", **params)
expected = reference.backward(cotangents, **inputs)


def loss(values):
    out = reference(**values)
    return sum(float(np.sum(out[n] * c)) for n, c in cotangents.items())


for name, x in inputs.items():
    u = rng.standard_normal(x.shape)
    u /= np.linalg.norm(u)
    eps = 1e-5
    if name == "gk":  # stay <= 0: one-sided differences downwards
        u = np.abs(u)
        directional = (loss(inputs) - loss({**inputs, name: x - eps * u})) / eps
        tolerance = 1e-4
    else:
        directional = (loss({**inputs, name: x + eps * u}) -
                       loss({**inputs, name: x - eps * u})) / (2 * eps)
        tolerance = 1e-6
    g = expected[name]
    error = abs(float(np.sum(g * u)) - directional) / max(np.linalg.norm(g), abs(directional))
    print(f"reference {name}: {'ok' if error < tolerance else f'FAIL {error:.2e}'}")

for target in ("cpu", "gpu-schedule"):
    layer = linrec.Layer("gla", target=target, **params)
    got = layer.backward(cotangents, **inputs)
    for name in inputs:
        ref = expected[name]
        error = np.linalg.norm(got[name] - ref) / np.linalg.norm(ref)
        tolerance = 1e-4 if name == "gk" else 1e-5
        print(f"{target} {name}: {'ok' if error < tolerance else f'FAIL {error:.2e}'}")

small = {n: 0.1 * rng.standard_normal((B, T, H, dk)) for n in ("q", "k1", "k2")}
tensor = linrec.Layer("tensor_attention", degree=1, scale=1.0)
try:
    tensor.backward({"o": rng.standard_normal((B, T, H, dv))}, **small,
                    v1=inputs["v"], v2=inputs["v"])
    print("tensor_attention: no error")
except ValueError as e:
    print("tensor_attention:", str(e).splitlines()[0])
