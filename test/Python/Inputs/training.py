"""Tiny models trained through linrec's kernels and, side by side, the same models in plain
PyTorch autograd (float64 token loops): two residual layers with their projections, 20 SGD
steps from the same initialization, for two mixers — GLA with a Liger-style gate
(logsigmoid(x Wg) / 16; 640 parameters) and Gated DeltaNet (L2-normalized keys, a
per-head log-decay logsigmoid(x Wg) / 16 and β = sigmoid(x Wb); 576 parameters). The losses
must agree to 1e-5 relative at every step, and the first step's parameter gradients to 1e-5."""
import copy

import numpy as np
import torch

import linrec
import linrec.autograd

B, T, H, D, MODEL = 2, 37, 2, 4, 8
SCALE = 0.5
GLA = linrec.Layer("gla", scale=SCALE, threads=1)
GATED_DELTA = linrec.Layer("gated_delta", scale=SCALE, threads=1)


def gla_reference(q, k, v, gk):
    """o_t = S_tᵀ (scale q_t), S_t = diag(e^{gk_t}) S_{t−1} + k_t v_tᵀ, token by token."""
    S = torch.zeros(q.shape[0], H, D, D, dtype=q.dtype)
    outputs = []
    for t in range(q.shape[1]):
        S = torch.exp(gk[:, t])[..., None] * S + k[:, t, :, :, None] * v[:, t, :, None, :]
        outputs.append(SCALE * torch.einsum("bhi,bhij->bhj", q[:, t], S))
    return torch.stack(outputs, dim=1)


def gated_delta_reference(q, k, v, g, beta):
    """S_t = e^{g_t} S_{t−1}, then S_t − β_t k_t (S_tᵀ k_t − v_t)ᵀ; o_t = S_tᵀ (scale q_t)."""
    S = torch.zeros(q.shape[0], H, D, D, dtype=q.dtype)
    outputs = []
    for t in range(q.shape[1]):
        S = torch.exp(g[:, t])[..., None, None] * S
        error = torch.einsum("bhij,bhi->bhj", S, k[:, t]) - v[:, t]
        S = S - beta[:, t, :, None, None] * k[:, t, :, :, None] * error[:, :, None, :]
        outputs.append(SCALE * torch.einsum("bhi,bhij->bhj", q[:, t], S))
    return torch.stack(outputs, dim=1)


def gla_linrec(q, k, v, gk):
    return linrec.autograd.apply(GLA, q=q, k=k, v=v, gk=gk)["o"]


def gated_delta_linrec(q, k, v, g, beta):
    return linrec.autograd.apply(GATED_DELTA, q=q, k=k, v=v, g=g, beta=beta)["o"]


def weight(rows, cols, scale):
    return torch.nn.Parameter(scale * torch.randn(rows, cols, dtype=torch.float64))


class Block(torch.nn.Module):
    def __init__(self, delta):
        super().__init__()
        self.delta = delta
        self.wq, self.wk, self.wv = (weight(MODEL, H * D, 0.5 / MODEL ** 0.5) for _ in range(3))
        self.wg = weight(MODEL, H if delta else H * D, 0.5 / MODEL ** 0.5)
        if delta:
            self.wb = weight(MODEL, H, 0.5 / MODEL ** 0.5)
        self.wo = weight(H * D, MODEL, 0.1)

    def forward(self, x, mixer):
        heads = lambda w: (x @ w).view(x.shape[0], x.shape[1], H, D)
        if not self.delta:
            gk = torch.nn.functional.logsigmoid(heads(self.wg)) / 16
            o = mixer(heads(self.wq), heads(self.wk), heads(self.wv), gk)
        else:
            k = torch.nn.functional.normalize(heads(self.wk), dim=-1)
            g = torch.nn.functional.logsigmoid(x @ self.wg) / 16
            beta = torch.sigmoid(x @ self.wb)
            o = mixer(heads(self.wq), k, heads(self.wv), g, beta)
        return x + o.reshape(x.shape[0], x.shape[1], H * D) @ self.wo


class Model(torch.nn.Module):
    def __init__(self, delta):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(delta), Block(delta)])

    def forward(self, x, mixer):
        for block in self.blocks:
            x = block(x, mixer)
        return x


def train(name, delta, mixers):
    torch.manual_seed(0)
    reference = Model(delta)
    compiled = copy.deepcopy(reference)
    print(f"{name} parameters:", sum(p.numel() for p in reference.parameters()))
    x = torch.randn(B, T, MODEL, dtype=torch.float64)
    target = torch.randn(B, T, MODEL, dtype=torch.float64)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (reference, compiled)]
    worst = 0.0
    for step in range(20):
        losses = []
        for model, mixer, optimizer in zip((reference, compiled), mixers, optimizers):
            optimizer.zero_grad()
            loss = torch.mean((model(x, mixer) - target) ** 2)
            loss.backward()
            losses.append(loss.item())
            if step == 0 and model is compiled:
                error = max(float(torch.linalg.norm(p.grad - r.grad) / torch.linalg.norm(r.grad))
                            for p, r in zip(compiled.parameters(), reference.parameters()))
                print(f"{name} first gradients: {'ok' if error < 1e-5 else 'FAIL'} ({error:.1e})")
            optimizer.step()
        relative = abs(losses[1] - losses[0]) / abs(losses[0])
        worst = max(worst, relative)
        print(f"{name} step {step}: loss {losses[0]:.6f} (reference) {losses[1]:.6f} (linrec) "
              f"rel {relative:.1e}")
    print(f"{name} training: {'ok' if worst < 1e-5 else 'FAIL'} (largest relative difference "
          f"{worst:.1e}, loss {losses[0]:.4f} after 20 steps)")


train("gla", False, (gla_reference, gla_linrec))
train("gated_delta", True, (gated_delta_reference, gated_delta_linrec))
