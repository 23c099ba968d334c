"""Forward + backward of simple GLA, GLA and Gated DeltaNet: linrec (its kernels and derived backward, through
linrec.autograd) against the same chunked algorithm written in PyTorch
(bench/peers/torch_chunked.py; autograd through its loop over chunks of matmuls), same
machine, same run, same thread count.

    PYTHONPATH=build/python ~/.cache/linrec/torch-venv/bin/python bench/torch/backward_vs_torch.py
        [--tokens 4096] [--dim 128] [--heads 8] [--threads 1 2]
"""
import argparse
import os
import sys

import torch

import linrec
import linrec.autograd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import torch_chunked  # noqa: E402  (the chunked forwards, shared with bench/peers)
from peers import best_seconds  # noqa: E402


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
                    o = torch_chunked.chunk_gated_delta(*leaves, scale)
                elif model == "gla":
                    o = torch_chunked.chunk_gla(*leaves, scale)
                else:
                    o = torch_chunked.chunk_simple_gla(*leaves, scale)
                (o * o).sum().backward()
                return [x.grad for x in leaves]

            diff = max(float((a - b).norm() / b.norm()) for a, b in zip(run(True), run(False)))
            torch_s, linrec_s = best_seconds(lambda: run(False), 5), best_seconds(lambda: run(True), 5)
            print(f"| {model} | {T} | {d} | {threads} | {torch_s * 1e3:.1f} | "
                  f"{linrec_s * 1e3:.1f} | {torch_s / linrec_s:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
