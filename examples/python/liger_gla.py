"""Liger-GLA through linrec's Python API, checked against the same layer in plain NumPy.

Liger linearizes a pretrained transformer into GLA without new weights: softmax feature maps
over the head dim for q and k, and a key-vector decay built from the key projection itself,
log a_t = logsigmoid(k_t) / 16. This script builds that layer with linrec, runs it on random
projections, runs a NumPy token loop of the same math, and prints the difference and the
speed-up.

    PYTHONPATH=build/python python3 examples/python/liger_gla.py [--tokens T] [--heads H]
"""

import argparse
import time

import numpy as np

import linrec


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def liger_gla_numpy(q, k, v, gate_normalizer=16.0):
    """The recurrence token by token: S_t = diag(a_t) S_{t-1} + φ(k_t) v_tᵀ, o_t = S_tᵀ φ(q_t)."""
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    fq, fk = softmax(q.astype(np.float64)), softmax(k.astype(np.float64))
    decay = np.exp(logsigmoid(k.astype(np.float64)) / gate_normalizer)
    S = np.zeros((B, H, dk, dv))
    o = np.empty((B, T, H, dv))
    for t in range(T):
        S = decay[:, t, :, :, None] * S + fk[:, t, :, :, None] * v[:, t, :, None, :]
        o[:, t] = np.einsum("bhk,bhkv->bhv", fq[:, t], S)
    return o, S


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.batch, args.tokens, args.heads, args.head_dim)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))

    layer = linrec.Layer("liger_gla", scale=1.0, gate_normalizer=16.0)
    layer(q=q, k=k, v=v, graw=k)  # compiles the kernel for these shapes
    start = time.perf_counter()
    out = layer(q=q, k=k, v=v, graw=k)
    linrec_seconds = time.perf_counter() - start

    start = time.perf_counter()
    o_ref, s_ref = liger_gla_numpy(q, k, v)
    numpy_seconds = time.perf_counter() - start

    error = np.linalg.norm(out["o"] - o_ref) / np.linalg.norm(o_ref)
    state_error = np.linalg.norm(out["final_state"] - s_ref) / np.linalg.norm(s_ref)
    print(f"Liger-GLA B={args.batch} T={args.tokens} H={args.heads} d={args.head_dim}")
    print(f"relative RMS difference: o {error:.2e}, final_state {state_error:.2e}")
    print(f"linrec {linrec_seconds * 1e3:.1f} ms, NumPy {numpy_seconds * 1e3:.1f} ms, "
          f"speed-up {numpy_seconds / linrec_seconds:.1f}x")
    assert error < 1e-5 and state_error < 1e-5


if __name__ == "__main__":
    main()
