# Decode steps on states kept in a pool (serving's continuous batching) from Python with
# NumPy: Layer.step updates the pool's slots in place (the same array, no other slot
# touched) and matches a float64 token loop; a batch whose sequences come and go over several
# steps matches running each sequence alone; bad indices and pools are clear errors.
# REQUIRES: python
# RUN: %{python} %s | FileCheck %s

import numpy as np

import linrec

rng = np.random.default_rng(5)
H, K, V, SLOTS = 2, 16, 16, 6
scale = K ** -0.5
layer = linrec.Layer("gated_delta", scale=scale)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def unit(*shape):
    x = normal(*shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def token(n):
    """One decode token for n sequences: q, k, v, g, beta."""
    return dict(q=normal(n, 1, H, K), k=unit(n, 1, H, K), v=normal(n, 1, H, V),
                g=-rng.uniform(0, 1, (n, 1, H)).astype(np.float32),
                beta=rng.uniform(0, 1, (n, 1, H)).astype(np.float32))


def gated_delta_step(S, q, k, v, g, beta):
    """One token of the gated delta rule in float64 for one (sequence, head): S [K, V]."""
    S = np.exp(g) * S
    S = S + np.outer(k, beta * (v - S.T @ k))
    return S, S.T @ (scale * q)


def reference(pool, indices, x):
    """o and the updated pool, token by token in float64."""
    pool = pool.astype(np.float64)
    o = np.zeros(x["v"].shape)
    for n, slot in enumerate(indices):
        for h in range(H):
            S = pool[slot, h]
            for t in range(x["q"].shape[1]):
                S, o[n, t, h] = gated_delta_step(S, *(x[name][n, t, h].astype(np.float64)
                                                      for name in ("q", "k", "v", "g", "beta")))
            pool[slot, h] = S
    return o, pool


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


# One step: three sequences on slots 4, 0, 2 of six; the pool array itself is updated.
pool = normal(SLOTS, H, K, V) * 0.3
before = pool.copy()
x = token(3)
indices = np.array([4, 0, 2], dtype=np.int32)
want_o, want_pool = reference(before, indices, x)
o = layer.step(**x, initial_state=pool, state_indices=indices)
print("step o:", "ok" if rel(o, want_o) < 2e-5 else rel(o, want_o))
print("step pool:", "ok" if rel(pool, want_pool) < 2e-5 else rel(pool, want_pool))
untouched = [s for s in range(SLOTS) if s not in indices]
print("untouched slots:", "ok" if np.array_equal(pool[untouched], before[untouched]) else "changed")
# CHECK: step o: ok
# CHECK-NEXT: step pool: ok
# CHECK-NEXT: untouched slots: ok

# `out` receives o in place; int64 indices are accepted.
out = np.empty((2, 1, H, V), dtype=np.float32)
x = token(2)
want_o, want_pool = reference(pool, [5, 1], x)
got = layer.step(**x, initial_state=pool, state_indices=np.array([5, 1]), out=out)
print("out in place:", "ok" if got is out and rel(out, want_o) < 2e-5 else "wrong")
# CHECK-NEXT: out in place: ok

# Continuous batching: sequences join and leave between steps; each ends where it would alone.
pool = np.zeros((SLOTS, H, K, V), dtype=np.float32)
alone = {}  # sequence -> (its state run on its own, [B=1] layer calls)
schedule = [[0, 1], [0, 1, 2], [2, 1], [3, 2, 0], [3]]  # sequences in each step
slot_of = {0: 5, 1: 2, 2: 0, 3: 4}
worst = 0.0
for batch in schedule:
    x = token(len(batch))
    o = layer.step(**x, initial_state=pool,
                   state_indices=np.array([slot_of[s] for s in batch], dtype=np.int32))
    for i, s in enumerate(batch):
        state = alone.get(s, np.zeros((1, H, K, V), dtype=np.float32))
        mine = {name: x[name][i:i + 1] for name in x}
        r = layer(**mine, initial_state=state)
        alone[s] = r["final_state"]
        worst = max(worst, rel(o[i:i + 1], r["o"]))
for s, slot in slot_of.items():
    worst = max(worst, rel(pool[slot:slot + 1], alone[s]))
print("continuous batching:", "ok" if worst < 1e-5 else worst)
# CHECK-NEXT: continuous batching: ok


def attempt(label, call):
    try:
        call()
        print(label, "ran")
    except ValueError as e:
        print(label, "->", e)


x = token(2)
attempt("duplicate", lambda: layer.step(**x, initial_state=pool, state_indices=[3, 3]))
# CHECK-NEXT: duplicate -> gated_delta: state_indices[1] = 3 repeats a slot: two sequences cannot share a state
attempt("range", lambda: layer.step(**x, initial_state=pool, state_indices=[0, 6]))
# CHECK-NEXT: range -> gated_delta: state_indices[1] = 6 is outside the state pool's 6 slots
attempt("count", lambda: layer.step(**x, initial_state=pool, state_indices=[0, 1, 2]))
# CHECK-NEXT: count -> {{.*}}state_indices must hold one slot per sequence: [2], got [3]
attempt("f64 pool", lambda: layer.step(**x, initial_state=pool.astype(np.float64),
                                       state_indices=[0, 1]))
# CHECK-NEXT: f64 pool -> 'initial_state' must be a writable C-contiguous float32 array (it is updated in place)
attempt("read-only", lambda: layer.step(**x, initial_state=np.broadcast_to(pool, pool.shape),
                                        state_indices=[0, 1]))
# CHECK-NEXT: read-only -> 'initial_state' must be a writable C-contiguous float32 array (it is updated in place)
attempt("nan", lambda: layer.step(**{**x, "q": np.full_like(x["q"], np.nan)},
                                  initial_state=pool, state_indices=[0, 1]))
# CHECK-NEXT: nan -> gated_delta: input q[0, 0, 0, 0] = nan{{.*}}
hedgehog = linrec.Layer("hedgehog", feature="softmax", eps=1e-6)
attempt("hedgehog", lambda: hedgehog.step(
    q=normal(1, 1, H, K), k=normal(1, 1, H, K), v=normal(1, 1, H, V),
    Wq=normal(H, K, 4), Wk=normal(H, K, 4), initial_state=np.zeros((3, H, 8, V), np.float32),
    initial_z=np.zeros((3, H, 8), np.float32), state_indices=[1]))
# CHECK-NEXT: hedgehog -> {{.*}}state_indices (state pools) are for layers of one recurrence; hedgehog layers keep one state per sequence

# A bad token never reaches the pool: the step's inputs are checked before it runs.
pool = normal(SLOTS, H, K, V)
before = pool.copy()
attempt("nan key", lambda: layer.step(**{**x, "k": np.full_like(x["k"], np.inf)},
                                      initial_state=pool, state_indices=[0, 1]))
print("pool after the error:", "unchanged" if np.array_equal(pool, before) else "changed")
# CHECK-NEXT: nan key -> gated_delta: input k[0, 0, 0, 0] = inf{{.*}}
# CHECK-NEXT: pool after the error: unchanged
