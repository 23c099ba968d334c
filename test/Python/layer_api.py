# The Python API: layers of several models built from their parameters run on NumPy arrays
# through the CPU kernels and match the float64 reference; bad inputs raise clear exceptions;
# conformance cases run from Python.
# REQUIRES: python
# RUN: %{python} %s %conformance | FileCheck %s
# REQUIRES: conformance

import sys

import numpy as np

import linrec

# The package says which linrec it is (the tools' --version says the same).
print("version", linrec.__version__)
# CHECK: version {{[0-9]+\.[0-9]+\.[0-9]+$}}

rng = np.random.default_rng(7)
B, T, H, D = 2, 75, 2, 16


def normal(*shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


q, k, v = normal(B, T, H, D), normal(B, T, H, D), normal(B, T, H, D)
keys = k / np.linalg.norm(k, axis=-1, keepdims=True)
layers = [
    ("gla", dict(scale=0.25), dict(q=q, k=k, v=v, gk=-np.abs(normal(B, T, H, D, scale=0.3)))),
    ("gated_delta", dict(scale=0.25),
     dict(q=q, k=keys, v=v, g=-np.abs(normal(B, T, H, scale=0.3)),
          beta=rng.uniform(0, 1, (B, T, H)).astype(np.float32))),
    ("liger_gla", dict(scale=1.0, gate_normalizer=16.0), dict(q=q, k=k, v=v, graw=k)),
]
for model, params, inputs in layers:
    cpu = linrec.Layer(model, **params)(**inputs)
    ref = linrec.Layer(model, target="reference", **params)(**inputs)
    worst = max(rel(cpu[name], ref[name]) for name in ref)
    assert cpu["o"].dtype == np.float32 and ref["o"].dtype == np.float64
    print(f"{model}: {sorted(cpu)} worst {'ok' if worst < 1e-5 else worst}")
# CHECK: gla: ['final_state', 'o'] worst ok
# CHECK: gated_delta: ['final_state', 'o'] worst ok
# CHECK: liger_gla: ['final_state', 'o'] worst ok

# Initial state in, final state out: two halves equal one pass.
layer = linrec.Layer("gla", scale=0.25)
gk = -np.abs(normal(B, T, H, D, scale=0.3))
full = layer(q=q, k=k, v=v, gk=gk)
first = layer(q=q[:, :40], k=k[:, :40], v=v[:, :40], gk=gk[:, :40])
second = layer(q=q[:, 40:], k=k[:, 40:], v=v[:, 40:], gk=gk[:, 40:],
               initial_state=first["final_state"])
print("halves:", "ok" if rel(np.concatenate([first["o"], second["o"]], 1), full["o"]) < 1e-5
      else "differ")
# CHECK: halves: ok

for bad, call in [
    ("missing input", lambda: layer(q=q, k=k, v=v)),
    ("missing param", lambda: linrec.Layer("gla")(q=q, k=k, v=v, gk=gk)),
    ("float16", lambda: layer(q=q.astype(np.float16), k=k, v=v, gk=gk)),
    ("shape", lambda: layer(q=q, k=k[:, :10], v=v, gk=gk)),
    ("model", lambda: linrec.Layer("softmax_attention")),
    ("schedule", lambda: linrec.Layer("gla", scale=0.25, schedule={"value_tile": 8})(
        q=q, k=k, v=v, gk=gk)),
    ("schedule value", lambda: linrec.Layer("gla", scale=0.25, chunk_size="many")(
        q=q, k=k, v=v, gk=gk)),
    ("misspelt param", lambda: linrec.Layer("gla", scal=0.25)(q=q, k=k, v=v, gk=gk)),
    ("float offsets", lambda: layer(q=q[:1], k=k[:1], v=v[:1], gk=gk[:1],
                                    cu_seqlens=np.array([0.0, q.shape[1]]))),
    ("wide offsets", lambda: layer(q=q[:1], k=k[:1], v=v[:1], gk=gk[:1],
                                   cu_seqlens=np.array([0, 2**32 + q.shape[1]], np.int64))),
    ("chunk too large", lambda: linrec.Layer("gla", scale=0.25, chunk_size=512)(
        q=q, k=k, v=v, gk=gk)),
    ("zero key dim", lambda: layer(q=q[..., :0], k=k[..., :0], v=v, gk=gk[..., :0])),
    ("zero value dim", lambda: linrec.Layer("gated_delta", scale=1.0)(
        q=q, k=k, v=v[..., :0], g=gk[..., 0], beta=gk[..., 0])),
]:
    try:
        call()
        print(bad, "accepted")
    except (ValueError, TypeError) as error:
        print(f"{bad}: {type(error).__name__}: {error}")
# CHECK: missing input: ValueError: gla: model 'gla' needs input 'gk'
# CHECK: missing param: ValueError: gla: params.scale is missing or not a number
# CHECK: float16: TypeError: input 'q': linrec takes float32, float64, int32 or int64 arrays
# CHECK: shape: ValueError: {{.*}}
# CHECK: model: ValueError: unknown model 'softmax_attention'
# CHECK: schedule: ValueError: schedule option 'value-tile=8': no such option value-tile
# CHECK: schedule value: ValueError: schedule option 'chunk-size=many'
# CHECK: misspelt param: ValueError: gla: params.scal is not a parameter of model 'gla' (it has: scale)
# CHECK: float offsets: ValueError: gla: cu_seqlens must be int32 or int64, got float64
# CHECK: wide offsets: ValueError: 'cu_seqlens' holds values beyond int32's range
# CHECK: chunk too large: ValueError: gla: compiling the op for target 'cpu' failed: 'linrec.recurrence' op chunk size must be in [1, 256], got 512
# CHECK: zero key dim: ValueError: gla: dim dk = 0 is out of range [1, 65536] (include/linrec/Dialect/Limits.h)
# CHECK: zero value dim: ValueError: gated_delta: dim dv = 0 is out of range [1, 65536]

# A window of T tokens or more is the layer with a window of T (no T x window band tensors).
lolcats = {n: normal(*s, scale=0.3) for n, s in (("q", (1, 40, 2, 8)), ("k", (1, 40, 2, 8)),
                                                 ("v", (1, 40, 2, 8)), ("Wq", (2, 8, 4)),
                                                 ("Wk", (2, 8, 4)), ("window_logit", (2,)))}
windows = [linrec.Layer("lolcats", window="sliding", window_size=w, scale=0.25,
                        linear_factor=1.0, feature="softmax")(**lolcats)["o"] for w in (40, 4096)]
print("window beyond T:", "ok" if rel(windows[1], windows[0]) == 0 else "differ")
# CHECK: window beyond T: ok

# The schedule options are the target pipeline's, by name, with their defaults.
options = linrec.schedule_options("cpu")
print("cpu options:", options["chunk-size"][0], options["heads-per-item"][0], "value-tile" in options)
print("gpu options:", linrec.schedule_options("cuda")["chunk-size"][0],
      "two-phase" in linrec.schedule_options("gpu-schedule"))
# CHECK: cpu options: 64 0 False
# CHECK: gpu options: 32 True

report = linrec.run_case(sys.argv[1] + "/lolcats_02_terraced")
print(report["model"], report["passed"])
# CHECK: lolcats True

# float64 and strided NumPy inputs are converted on the CPU target.
half = linrec.Layer("gla", scale=0.25)(q=q.astype(np.float64), k=k[:, ::1], v=v,
                                       gk=np.asfortranarray(gk))
print("converted:", "ok" if rel(half["o"], full["o"]) < 1e-6 else "differ")
# CHECK: converted: ok

# Optional inputs are independent: Hedgehog with a query bias only; tensor attention of degree
# 3 (585 features of an 8-dim head).
d, F = 8, 4
hq, hk, hv = normal(1, 33, 2, d), normal(1, 33, 2, d), normal(1, 33, 2, d)
hedgehog = dict(q=hq, k=hk, v=hv, Wq=normal(2, d, F), Wk=normal(2, d, F), bq=normal(2, F))
cpu = linrec.Layer("hedgehog", feature="softmax", eps=1e-12)(**hedgehog)
ref = linrec.Layer("hedgehog", target="reference", feature="softmax", eps=1e-12)(**hedgehog)
print("hedgehog bq only:", sorted(cpu), "ok" if rel(cpu["o"], ref["o"]) < 1e-5 else "differ")
# CHECK: hedgehog bq only: ['final_state', 'final_z', 'o'] ok
tensor = dict(q=hq, k1=hk, v1=hv, k2=0.5 * hk, v2=hv)
cpu = linrec.Layer("tensor_attention", degree=3, scale=0.5)(**tensor)
ref = linrec.Layer("tensor_attention", target="reference", degree=3, scale=0.5)(**tensor)
print("tensor attention degree 3:", "ok" if rel(cpu["o"], ref["o"]) < 1e-5 else "differ")
# CHECK: tensor attention degree 3: ok
chunked = linrec.Layer("tensor_attention", chunked_products=True, chunk_size=8, degree=3,
                       scale=0.5)(**tensor)
print("tensor attention chunked:", "ok" if rel(chunked["o"], ref["o"]) < 1e-5 else "differ")
# CHECK: tensor attention chunked: ok

# Layers made of several kernels (a window attention, then the recurrence that fuses the mix)
# run through one compiled function on f32 buffers.
attn = dict(q=q, k=k, v=v, graw=k, q_attn=normal(B, T, H, 8), k_attn=normal(B, T, H, 8))
params = dict(linear_variant="gla", scale=1.0, gate_normalizer=16.0, window=16,
              attn_scale=0.35, mix_linear=0.5, mix_attn=0.5)
cpu = linrec.Layer("liger_attention", **params)(**attn)
ref = linrec.Layer("liger_attention", target="reference", **params)(**attn)
print("liger_attention:", "ok" if max(rel(cpu[n], ref[n]) for n in ref) < 1e-5 else "differ")
# CHECK: liger_attention: ok
diag = dict(variant="softmax", block=32, scale=0.25, eps=1e-8)
cpu = linrec.Layer("transnormer_diag", **diag)(q=q, k=k, v=v)
ref = linrec.Layer("transnormer_diag", target="reference", **diag)(q=q, k=k, v=v)
print("transnormer_diag:", "ok" if rel(cpu["o"], ref["o"]) < 1e-5 else "differ")
# CHECK: transnormer_diag: ok

# The CUDA target runs the same layer on the GPU; without a driver or GPU it says why.
try:
    gpu = linrec.Layer("gla", target="cuda", scale=0.25)(q=q, k=k, v=v, gk=layers[0][2]["gk"])
    cpu = linrec.Layer("gla", scale=0.25)(q=q, k=k, v=v, gk=layers[0][2]["gk"])
    print("cuda:", "ok" if rel(gpu["o"], cpu["o"]) < 1e-5 else "differ")
except ValueError as error:
    print("cuda:", "ok" if ("no CUDA driver" in str(error) or "no CUDA device" in str(error))
          else error)
# CHECK: cuda: ok
