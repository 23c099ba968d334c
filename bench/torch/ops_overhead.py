"""What a linrec.ops call costs over the kernel it runs, at decode shapes (T = 1).

For Gated DeltaNet's decode step (``fused_recurrent_gated_delta_rule`` with an initial state
and the final state out, H = 8, d = 128, float32, one thread) and B sequences, prints µs per
call of:
  op        linrec.ops.fused_recurrent_gated_delta_rule on torch tensors (the custom op,
            PyTorch-allocated outputs, the state's layout and dtype handling);
  extension _linrec.run_model on prepared float32 arrays writing preallocated outputs (the
            kernel plus the extension's argument handling and kernel-cache lookup);
and their difference, the PyTorch layer's overhead: the fastest of 30 rounds of 20 calls,
the two alternating.

    PYTHONPATH=build/python $LINREC_TORCH_PYTHON bench/torch/ops_overhead.py
"""
import argparse
import platform
import time

import torch

import linrec.ops as ops
from linrec import _linrec


def fastest_us(fns, rounds, calls=20):
    """µs per call of each function: the fastest of `rounds` timings of `calls` calls in a
    row, rounds alternating between the functions (the machine's noise only slows a call
    down, so the fastest round is the cost)."""
    for fn in fns:
        for _ in range(5):
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / calls)
    return [b * 1e6 for b in best]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,8,64")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ops.set_schedule(threads=1)
    H, D = args.heads, args.dim
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; H = {H}, d = {D}, T = 1, float32, "
          "1 thread\n")
    print("| B | op µs | extension µs | overhead µs |")
    print("|---|---|---|---|")
    for B in (int(b) for b in args.batches.split(",")):
        q, k, v = (torch.randn(B, 1, H, D) for _ in range(3))
        k = torch.nn.functional.normalize(k, dim=-1)
        g, beta = -torch.rand(B, 1, H) * 0.1, torch.rand(B, 1, H)
        h0 = torch.randn(B, H, D, D) * 0.01

        def op():
            with torch.no_grad():
                ops.fused_recurrent_gated_delta_rule(q, k, v, g, beta=beta, initial_state=h0,
                                                     output_final_state=True)

        inputs = {"q": q.numpy(), "k": k.numpy(), "v": v.numpy(), "g": g.numpy(),
                  "beta": beta.numpy(), "initial_state": h0.numpy()}
        out = {"o": torch.empty(B, 1, H, D).numpy(), "final_state": torch.empty(B, H, D, D).numpy()}
        params = '{"scale":%r}' % (D ** -0.5)

        def extension():
            _linrec.run_model("gated_delta", params, inputs, "cpu", "sequential=true threads=1",
                              out=out)

        op_us, ext_us = fastest_us([op, extension], args.rounds)
        print(f"| {B} | {op_us:.1f} | {ext_us:.1f} | {op_us - ext_us:.1f} |")


if __name__ == "__main__":
    main()
