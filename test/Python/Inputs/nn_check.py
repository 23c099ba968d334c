"""linrec.nn: every public conformance case through its model's module (the case's params,
its weights loaded into the module's parameters) against the case's expected outputs; the
decode path (step) against the whole sequence; a module's weight gradients against
Layer.backward; torch.compile(fullgraph=True) of a module with parameters; model_info; the
errors."""
import glob
import json
import math
import os
import sys

import numpy as np
import torch

import linrec
import linrec.nn as lnn

torch.manual_seed(0)
failures = 0


def rel(got, want):
    as_array = lambda x: x.detach().double().numpy() if isinstance(x, torch.Tensor) else \
        np.asarray(x, dtype=np.float64)  # noqa: E731
    got, want = as_array(got), as_array(want)
    norm = np.linalg.norm(want)
    return float(np.linalg.norm(got - want) / (norm if norm > 0 else 1.0))


def report(name, error, tolerance):
    global failures
    ok = error <= tolerance
    failures += not ok
    print(f"{name}: {'ok' if ok else 'FAIL'} ({error:.1e})")


def module_for(model, params, arrays):
    if model == "hedgehog":
        H, dk, F = arrays["Wq"].shape
        return lnn.Hedgehog(H, dk, F, bias="bq" in arrays, **params)
    if model == "lolcats":
        H, dk, F = arrays["Wq"].shape
        return lnn.LoLCATs(H, dk, F, **params)
    if model == "mom":
        return lnn.MixtureOfMemories(arrays["k"].shape[0], **params)
    if model == "lightning":
        return lnn.Lightning(**params)
    cls = {"linear": lnn.Linear, "simple_gla": lnn.SimpleGLA, "gla": lnn.GLA,
           "delta": lnn.DeltaNet, "gated_delta": lnn.GatedDeltaNet, "kda": lnn.KDA,
           "liger_gla": lnn.LigerGLA, "liger_hgrn2": lnn.LigerHGRN2,
           "transnormer_norm": lnn.TransNormerNorm, "transnormer_diag": lnn.TransNormerDiag,
           "liger_attention": lnn.LigerAttention, "tensor_attention": lnn.TensorAttention}
    return cls[model](**params)


root = sys.argv[1]
models_seen = set()
for spec_path in sorted(glob.glob(os.path.join(root, "*", "spec.json"))):
    case = os.path.dirname(spec_path)
    spec = json.load(open(spec_path))
    arrays = {n: np.load(os.path.join(case, f)) for n, f in spec["inputs"].items()}
    module = module_for(spec["model"], spec["params"], arrays)
    with torch.no_grad():
        for name in module.weights:
            if name in arrays:
                getattr(module, name).copy_(torch.from_numpy(arrays[name]))
    tensors = {n: torch.from_numpy(a.astype(np.int32 if a.dtype.kind in "iu" else np.float32))
               for n, a in arrays.items() if n not in module.weights}
    o, state = module(**tensors)
    states = () if state is None else state if isinstance(state, tuple) else (state,)
    got = dict(zip(["o"] + [n for n in spec["outputs"] if n != "o"], (o,) + states))
    error = max(rel(got[n].detach(), np.load(os.path.join(case, f)))
                for n, f in spec["outputs"].items())
    tolerance = spec.get("tolerance", {}).get("f32", 1e-5)
    if error > tolerance or set(got) != set(spec["outputs"]):
        report(os.path.basename(case), error if set(got) == set(spec["outputs"]) else math.inf,
               tolerance)
    models_seen.add(spec["model"])
print(f"cases: every model's module matches its cases ({len(models_seen)} models)")

# --- the decode path: a prefix, then one token at a time ------------------------------------
B, T, H, D = 2, 20, 2, 8
q, k, v = torch.randn(B, T, H, D), torch.randn(B, T, H, D), torch.randn(B, T, H, D)
k = torch.nn.functional.normalize(k, dim=-1)
g, beta = torch.nn.functional.logsigmoid(torch.randn(B, T, H)) / 8, torch.rand(B, T, H)
gdn = lnn.GatedDeltaNet()
o_all, s_all = gdn(q, k, v, g, beta)
o_pre, state = gdn(q[:, :12], k[:, :12], v[:, :12], g[:, :12], beta[:, :12])
steps = [o_pre]
for t in range(12, T):
    o_t, state = gdn.step(state, q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1],
                          g[:, t:t + 1], beta[:, t:t + 1])
    steps.append(o_t)
report("gated_delta step", max(rel(torch.cat(steps, 1), o_all), rel(state, s_all)), 1e-5)
hh = lnn.Hedgehog(H, D, 4, bias=True)
o_all, (s_all, z_all) = hh(q, k, v)
o_pre, state = hh(q[:, :15], k[:, :15], v[:, :15])
o_t, (s_t, z_t) = hh.step(state, q[:, 15:], k[:, 15:], v[:, 15:])
report("hedgehog step (S, z)", max(rel(torch.cat([o_pre, o_t], 1), o_all), rel(s_t, s_all),
                                   rel(z_t, z_all)), 1e-5)

# --- the weights' gradients: the module against Layer.backward ---------------------------
lol = lnn.LoLCATs(H, D, 4, window="sliding", window_size=8, scale=D ** -0.5,
                  linear_factor=1.0, feature="softmax")
with torch.no_grad():
    lol.window_logit.copy_(torch.randn(H))
o, _ = lol(q, k, v)
do = torch.randn_like(o)
(o * do).sum().backward()
layer = linrec.Layer("lolcats", window="sliding", window_size=8, scale=D ** -0.5,
                     linear_factor=1.0, feature="softmax")
weights = {n: getattr(lol, n).detach().numpy() for n in lol.weights}
grads = layer.backward({"o": do.numpy()}, q=q.numpy(), k=k.numpy(), v=v.numpy(), **weights)
report("lolcats weight gradients", max(rel(getattr(lol, n).grad, grads[n])
                                       for n in lol.weights), 1e-6)

# --- torch.compile(fullgraph=True) of a module with parameters ----------------------------
lol.zero_grad()
eager, _ = lol(q, k, v)
(eager * do).sum().backward()
eager_grads = [p.grad.clone() for p in lol.parameters()]
lol.zero_grad()
compiled = torch.compile(lol, fullgraph=True)
out, _ = compiled(q, k, v)
(out * do).sum().backward()
report("lolcats torch.compile", max([rel(out.detach(), eager.detach())] +
                                    [rel(p.grad, e) for p, e in zip(lol.parameters(), eager_grads)]),
       1e-6)

# --- model_info -----------------------------------------------------------------------------
info = linrec.model_info("gated_delta")
print("model_info:", info["name"], [p["name"] for p in info["parameters"]],
      [(t["name"], t["shape"], t["optional"]) for t in info["inputs"]][:4])


def error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return "no error"


print(error_of(lambda: lnn.GLA(scal=0.5)))
print(error_of(lambda: lnn.Linear(feature_map="tanh")))
print(error_of(lambda: lnn.GLA()(q, k, v, gates=g)))
print(error_of(lambda: lnn.TransNormerDiag().step(torch.zeros(1), q, k, v)))
print(error_of(lambda: linrec.model_info("not_a_model")))
print("failures:", failures)
