"""One gated delta layer on fixed inputs; prints its output's checksum."""
import numpy as np

import linrec

rng = np.random.default_rng(1)
B, T, H, D = 1, 33, 2, 16
x = {n: rng.standard_normal((B, T, H, D)).astype(np.float32) for n in "qv"}
k = rng.standard_normal((B, T, H, D))
x["k"] = (k / np.linalg.norm(k, axis=-1, keepdims=True)).astype(np.float32)
x["g"] = -rng.uniform(0, 1, (B, T, H)).astype(np.float32)
x["beta"] = rng.uniform(0, 1, (B, T, H)).astype(np.float32)
o = linrec.Layer("gated_delta", scale=0.25)(**x)["o"]
print(" ".join(f"{v:.6e}" for v in o.reshape(-1)[::37]))
