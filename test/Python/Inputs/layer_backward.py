"""Layer.backward on random GLA layers (shapes and seeds of its own, not a case's): the cpu
and gpu-schedule gradients against the float64 adjoint, which is itself checked against
central differences of the float64 forward along a random direction per input; and tensor
attention's gradients (the product read's backward) on both targets against the reference."""
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

# Tensor attention: the product read's backward (the pair replayed backwards in float64).
small = {n: 0.3 * rng.standard_normal((B, T, H, dk)) for n in ("q", "k1", "k2")}
values = {"v1": inputs["v"], "v2": rng.standard_normal(inputs["v"].shape)}
tensor_cotangents = {"o": rng.standard_normal((B, T, H, dv))}
expected = linrec.Layer("tensor_attention", target="reference", degree=2, scale=0.5).backward(
    tensor_cotangents, **small, **values)
for target in ("cpu", "gpu-schedule"):
    got = linrec.Layer("tensor_attention", target=target, degree=2, scale=0.5).backward(
        tensor_cotangents, **small, **values)
    worst = max(np.linalg.norm(got[n] - expected[n]) / np.linalg.norm(expected[n])
                for n in expected)
    print(f"tensor_attention {target}: {'ok' if worst < 1e-5 else f'FAIL {worst:.2e}'}")
