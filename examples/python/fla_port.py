"""A Gated DeltaNet layer written against flash-linear-attention's API, ported to linrec by
its import: the layer below is what fla's GatedDeltaNet does (q/k/v projections through a
short causal convolution and SiLU, grouped value heads, the gate computed in the kernel from
A_log and dt_bias, β = sigmoid, L2-normalized q and k, a gated RMS norm on the output), with

    from fla.ops.gated_delta_rule import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule

replaced by linrec's. It trains a few steps on a toy task (CPU), then decodes token by token
from the prefill's state and checks the steps against the whole sequence.

    PYTHONPATH=build/python python examples/python/fla_port.py
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from linrec.ops import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule


class ShortConvolution(nn.Module):
    """A depthwise causal convolution over time, carrying its last inputs for decoding."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, 1, size) / size)
        self.size = size

    def forward(self, x, cache=None):  # x [B, T, C]; cache [B, C, size - 1]
        x = x.transpose(1, 2)
        past = cache if cache is not None else x.new_zeros(*x.shape[:2], self.size - 1)
        padded = torch.cat([past, x], dim=-1)
        y = F.conv1d(padded, self.weight, groups=x.shape[1])
        return F.silu(y).transpose(1, 2), padded[..., -(self.size - 1):]


class GatedDeltaNet(nn.Module):
    def __init__(self, hidden_size=64, num_heads=2, num_v_heads=4, head_dim=16):
        super().__init__()
        self.H, self.HV, self.K = num_heads, num_v_heads, head_dim
        self.V = head_dim
        self.q_proj = nn.Linear(hidden_size, num_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, num_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, num_v_heads * head_dim, bias=False)
        self.a_proj = nn.Linear(hidden_size, num_v_heads, bias=False)
        self.b_proj = nn.Linear(hidden_size, num_v_heads, bias=False)
        self.g_proj = nn.Linear(hidden_size, num_v_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(num_v_heads * head_dim, hidden_size, bias=False)
        self.A_log = nn.Parameter(torch.empty(num_v_heads).uniform_(1, 16).log())
        self.dt_bias = nn.Parameter(torch.randn(num_v_heads) * 0.1)
        self.q_conv = ShortConvolution(num_heads * head_dim)
        self.k_conv = ShortConvolution(num_heads * head_dim)
        self.v_conv = ShortConvolution(num_v_heads * head_dim)
        self.norm_weight = nn.Parameter(torch.ones(head_dim))

    def forward(self, x, cache=None):
        """x [B, T, hidden]; cache (convolution caches, recurrent state) from a previous call:
        the decode path (fused_recurrent) continues from it."""
        B, T, _ = x.shape
        convs, state = cache if cache is not None else ((None, None, None), None)
        q, cq = self.q_conv(self.q_proj(x), convs[0])
        k, ck = self.k_conv(self.k_proj(x), convs[1])
        v, cv = self.v_conv(self.v_proj(x), convs[2])
        q, k = q.view(B, T, self.H, self.K), k.view(B, T, self.H, self.K)
        v = v.view(B, T, self.HV, self.V)
        beta = self.b_proj(x).sigmoid()
        g = self.a_proj(x)
        op = chunk_gated_delta_rule if cache is None else fused_recurrent_gated_delta_rule
        o, state = op(q, k, v, g=g, beta=beta, initial_state=state, output_final_state=True,
                      use_qk_l2norm_in_kernel=True, use_gate_in_kernel=True, A_log=self.A_log,
                      dt_bias=self.dt_bias)
        gate = self.g_proj(x).view(B, T, self.HV, self.V)
        o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm_weight
        o = o * F.silu(gate)
        return self.o_proj(o.reshape(B, T, -1)), ((cq, ck, cv), state)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    vocab, hidden = 16, 64
    embed, layer, head = nn.Embedding(vocab, hidden), GatedDeltaNet(hidden), None
    head = nn.Linear(hidden, vocab)
    params = [*embed.parameters(), *layer.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    # A toy task: predict the token seen 3 positions earlier.
    losses = []
    for _ in range(args.steps):
        tokens = torch.randint(0, vocab, (4, args.tokens + 3))
        x, target = tokens[:, 3:], tokens[:, :-3]
        y, _ = layer(embed(x))
        loss = F.cross_entropy(head(y).flatten(0, 1), target.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"training: loss {losses[0]:.3f} -> {losses[-1]:.3f} "
          f"({'decreased' if losses[-1] < 0.9 * losses[0] else 'did not decrease'})")

    # Decode: prefill 40 tokens, then one token at a time from the cache.
    with torch.no_grad():
        x = embed(torch.randint(0, vocab, (2, 48)))
        whole, _ = layer(x)
        y, cache = layer(x[:, :40])
        steps = [y]
        for t in range(40, 48):
            y, cache = layer(x[:, t:t + 1], cache)
            steps.append(y)
        error = (torch.cat(steps, 1) - whole).norm() / whole.norm()
    print(f"decode steps against the whole sequence: relative error {error:.1e} "
          f"({'ok' if error < 1e-5 else 'FAIL'})")


if __name__ == "__main__":
    main()
