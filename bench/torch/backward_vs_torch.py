"""Forward + backward of simple GLA, GLA and Gated DeltaNet: linrec (its kernels and derived backward, through
linrec.autograd) against the same chunked algorithm written in PyTorch (autograd through a
loop over chunks of matmuls), same machine, same run, same thread count.

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/torch/backward_vs_torch.py
        [--tokens 4096] [--dim 128] [--heads 8] [--threads 1 2]
"""
import argparse
import time

import numpy as np
import torch

import linrec
import linrec.autograd

CHUNK = 64


def chunked_gla(q, k, v, g, scale):
    """o = S_tᵀ(scale q_t), S_t = diag(e^{g_t}) S_{t−1} + k_t v_tᵀ (g: [B, T, H, dk], or
    [B, T, H] for a scalar decay), chunk by chunk: in-chunk (Q e^{b})(K e^{−b})ᵀ ⊙ M, the
    state across chunks."""
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    scalar = g.dim() == 3
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, d]
    g = g.transpose(1, 2)
    S = q.new_zeros(B, H, dk, dv)
    mask = torch.tril(torch.ones(CHUNK, CHUNK, dtype=torch.bool))
    outputs = []
    for start in range(0, T, CHUNK):
        qc, kc, vc = (x[:, :, start:start + CHUNK] for x in (q, k, v))
        b = torch.cumsum(g[:, :, start:start + CHUNK], dim=2)
        if scalar:
            b = b[..., None]
        n = qc.shape[2]
        qb, kb = qc * torch.exp(b), kc * torch.exp(-b)
        attention = (qb @ kb.transpose(-1, -2)).masked_fill(~mask[:n, :n], 0.0)
        outputs.append(scale * (attention @ vc + qb @ S))
        last = b[:, :, -1:]
        S = torch.exp(last).transpose(-1, -2) * S + (kc * torch.exp(last - b)).transpose(-1, -2) @ vc
    return torch.cat(outputs, dim=2).transpose(1, 2)


def chunked_gated_delta(q, k, v, g, beta, scale):
    """The gated delta rule S_t = e^{g_t}(I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, read
    o_t = S_tᵀ(scale q_t), in the chunked WY form: per chunk the corrections
    U = (I + strict(diag(β) K Kᵀ ⊙ Γ))⁻¹ diag(β)(V − (K ⊙ e^{b}) S) by a triangular solve,
    then O = (Q ⊙ e^{b}) S + (Q Kᵀ ⊙ Γ ⊙ M) U and the state across chunks."""
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, d]
    g, beta = g.transpose(1, 2), beta.transpose(1, 2)  # [B, H, T]
    S = q.new_zeros(B, H, dk, dv)
    outputs = []
    for start in range(0, T, CHUNK):
        qc, kc, vc = (x[:, :, start:start + CHUNK] for x in (q, k, v))
        bc = beta[:, :, start:start + CHUNK, None]
        b = torch.cumsum(g[:, :, start:start + CHUNK], dim=2)[..., None]  # [B, H, n, 1]
        n = qc.shape[2]
        gamma = torch.exp(b - b.transpose(-1, -2))  # e^{b_i − b_j}
        strict = torch.tril(torch.ones(n, n, dtype=torch.bool), -1)
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        lower = (bc * (kc @ kc.transpose(-1, -2)) * gamma).masked_fill(~strict, 0.0)
        lower = lower + torch.eye(n)
        rhs = bc * (vc - (kc * torch.exp(b)) @ S)
        u = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        attention = ((qc @ kc.transpose(-1, -2)) * gamma).masked_fill(~causal, 0.0)
        outputs.append(scale * ((qc * torch.exp(b)) @ S + attention @ u))
        last = b[:, :, -1:]
        S = torch.exp(last) * S + (kc * torch.exp(last - b)).transpose(-1, -2) @ u
    return torch.cat(outputs, dim=2).transpose(1, 2)


def seconds(f, repeat=5):
    f()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    B, T, H, d = 1, args.tokens, args.heads, args.dim
    scale = d ** -0.5
    gen = torch.Generator().manual_seed(0)
    q, k, v = (0.1 * torch.randn(B, T, H, d, generator=gen) for _ in range(3))
    gates = {"simple_gla": -0.05 * torch.randn(B, T, H, generator=gen).abs(),
             "gla": -0.05 * torch.randn(B, T, H, d, generator=gen).abs(),
             "gated_delta": -0.05 * torch.randn(B, T, H, generator=gen).abs()}
    unit_k = torch.nn.functional.normalize(k, dim=-1)  # the delta rule takes unit keys
    beta = torch.rand(B, T, H, generator=gen)
    print("| model | T | d | threads | PyTorch chunked fwd+bwd ms | linrec fwd+bwd ms | speed-up | max rel. grad diff |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for model, g in gates.items():
            gate_name = "gk" if model == "gla" else "g"
            delta = model == "gated_delta"
            layer = linrec.Layer(model, scale=scale, threads=threads)

            def run(compiled):
                tensors = (q, unit_k, v, g, beta) if delta else (q, k, v, g)
                leaves = [x.clone().requires_grad_() for x in tensors]
                extra = {"beta": leaves[4]} if delta else {}
                if compiled:
                    o = linrec.autograd.apply(layer, q=leaves[0], k=leaves[1], v=leaves[2],
                                              **{gate_name: leaves[3]}, **extra)["o"]
                elif delta:
                    o = chunked_gated_delta(*leaves, scale)
                else:
                    o = chunked_gla(*leaves, scale)
                (o * o).sum().backward()
                return [x.grad for x in leaves]

            diff = max(float((a - b).norm() / b.norm()) for a, b in zip(run(True), run(False)))
            torch_s, linrec_s = seconds(lambda: run(False)), seconds(lambda: run(True))
            print(f"| {model} | {T} | {d} | {threads} | {torch_s * 1e3:.1f} | "
                  f"{linrec_s * 1e3:.1f} | {torch_s / linrec_s:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
