# The checked mode from Python (on by default): the CPU kernels check the rows they load, the
# runtime scans what no kernel checks (a projection's weights), and either way the first bad
# element is named, forward and backward; -inf log-decays (full resets) pass; check=False
# runs bad inputs without a word (garbage possible, no crash).
# REQUIRES: python
# RUN: %{python} %s | FileCheck %s

import numpy as np

import linrec

rng = np.random.default_rng(3)
B, T, H, D = 2, 45, 3, 16


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


clean = dict(q=normal(B, T, H, D), k=normal(B, T, H, D), v=normal(B, T, H, D),
             gk=-np.abs(normal(B, T, H, D)), initial_state=normal(B, H, D, D))


def poisoned(name, index, value):
    inputs = {n: x.copy() for n, x in clean.items()}
    inputs[name][index] = value
    return inputs


def attempt(label, call):
    try:
        call()
        print(f"{label}: ran")
    except ValueError as error:
        print(f"{label}: {error}")


for schedule in ({}, {"sequential": True}, {"chunk_size": 16}):
    layer = linrec.Layer("gla", scale=0.25, **schedule)
    attempt("clean", lambda: layer(**clean))
    attempt("nan q", lambda: layer(**poisoned("q", (1, T - 1, H - 1, D - 1), np.nan)))
    attempt("positive gk", lambda: layer(**poisoned("gk", (1, T - 1, 2, 0), 0.5)))
    attempt("inf state", lambda: layer(**poisoned("initial_state", (1, 2, 3, 4), np.inf)))
    reset = poisoned("gk", (0, 20), -np.inf)
    out = layer(**reset)
    print("reset finite:", bool(np.isfinite(out["o"]).all()))
# CHECK-COUNT-3: clean: ran
# CHECK: nan q: gla: input q[1, 44, 2, 15] = nan: inputs must be finite
# CHECK: positive gk: gla: input gk[1, 44, 2, 0] = 0.5: a log-decay must be <= 0 (-inf is a full reset)
# CHECK: inf state: gla: input initial_state[1, 2, 3, 4] = inf: inputs must be finite
# CHECK: reset finite: True

unchecked = linrec.Layer("gla", scale=0.25, check=False)
attempt("unchecked positive gk", lambda: unchecked(**poisoned("gk", (0, 3, 1, 2), 0.5)))
# CHECK: unchecked positive gk: ran

# The backward checks the layer's inputs the same way.
layer = linrec.Layer("gla", scale=0.25)
cotangents = {"o": normal(B, T, H, D)}
attempt("backward nan v",
        lambda: layer.backward(cotangents, **poisoned("v", (0, 0, 0, 0), np.nan)))
# CHECK: backward nan v: gla: input v[0, 0, 0, 0] = nan: inputs must be finite

# Hedgehog's feature-map weights are read by a projection, not as rows: scanned before the run.
hedgehog = linrec.Layer("hedgehog", feature="softmax", eps=1e-12)
weights = dict(q=normal(1, 20, 2, 8), k=normal(1, 20, 2, 8), v=normal(1, 20, 2, 8),
               Wq=normal(2, 8, 8), Wk=normal(2, 8, 8))
weights["Wk"][1, 7, 7] = np.nan
attempt("hedgehog nan Wk", lambda: hedgehog(**weights))
# CHECK: hedgehog nan Wk: hedgehog: input Wk[1, 7, 7] = nan: inputs must be finite
