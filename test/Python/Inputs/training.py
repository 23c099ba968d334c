"""A tiny model trained through linrec's kernels and, side by side, the same model in plain
PyTorch autograd (a float64 token loop): two residual GLA layers with their projections and a
Liger-style gate (logsigmoid(x Wg) / 16), 640 parameters, 20 SGD steps from the same
initialization. The losses must agree to 1e-5 relative at every step, and the first step's
parameter gradients to 1e-5."""
import copy

import numpy as np
import torch

import linrec
import linrec.autograd

torch.manual_seed(0)
B, T, H, D, MODEL = 2, 37, 2, 4, 8
SCALE = 0.5
GLA = linrec.Layer("gla", scale=SCALE, threads=1)


def gla_reference(q, k, v, gk):
    """o_t = S_tᵀ (scale q_t), S_t = diag(e^{gk_t}) S_{t−1} + k_t v_tᵀ, token by token."""
    S = torch.zeros(q.shape[0], H, D, D, dtype=q.dtype)
    outputs = []
    for t in range(q.shape[1]):
        S = torch.exp(gk[:, t])[..., None] * S + k[:, t, :, :, None] * v[:, t, :, None, :]
        outputs.append(SCALE * torch.einsum("bhi,bhij->bhj", q[:, t], S))
    return torch.stack(outputs, dim=1)


def gla_linrec(q, k, v, gk):
    return linrec.autograd.apply(GLA, q=q, k=k, v=v, gk=gk)["o"]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        shape = (MODEL, H * D)
        self.wq, self.wk, self.wv, self.wg = (
            torch.nn.Parameter(0.5 * torch.randn(shape, dtype=torch.float64) / MODEL ** 0.5)
            for _ in range(4))
        self.wo = torch.nn.Parameter(0.1 * torch.randn(H * D, MODEL, dtype=torch.float64))

    def forward(self, x, gla):
        heads = lambda w: (x @ w).view(x.shape[0], x.shape[1], H, D)
        gk = torch.nn.functional.logsigmoid(heads(self.wg)) / 16
        o = gla(heads(self.wq), heads(self.wk), heads(self.wv), gk)
        return x + o.reshape(x.shape[0], x.shape[1], H * D) @ self.wo


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])

    def forward(self, x, gla):
        for block in self.blocks:
            x = block(x, gla)
        return x


reference = Model()
compiled = copy.deepcopy(reference)
print("parameters:", sum(p.numel() for p in reference.parameters()))
x = torch.randn(B, T, MODEL, dtype=torch.float64)
target = torch.randn(B, T, MODEL, dtype=torch.float64)
optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (reference, compiled)]
worst = 0.0
for step in range(20):
    losses = []
    for model, gla, optimizer in zip((reference, compiled), (gla_reference, gla_linrec),
                                     optimizers):
        optimizer.zero_grad()
        loss = torch.mean((model(x, gla) - target) ** 2)
        loss.backward()
        losses.append(loss.item())
        if step == 0 and model is compiled:
            error = max(float(torch.linalg.norm(p.grad - r.grad) / torch.linalg.norm(r.grad))
                        for p, r in zip(compiled.parameters(), reference.parameters()))
            print(f"first gradients: {'ok' if error < 1e-5 else 'FAIL'} ({error:.1e})")
        optimizer.step()
    relative = abs(losses[1] - losses[0]) / abs(losses[0])
    worst = max(worst, relative)
    print(f"step {step}: loss {losses[0]:.6f} (reference) {losses[1]:.6f} (linrec) "
          f"rel {relative:.1e}")
print(f"training: {'ok' if worst < 1e-5 else 'FAIL'} (largest relative difference {worst:.1e}, "
      f"loss {losses[0]:.4f} after 20 steps)")
