"""linrec.ops (fla's functional API) against a float64 token loop written here from fla's
semantics: outputs, final states and the gradients of every float input (PyTorch autograd
through the float64 loop), float32 within 1e-5 relative RMS (1e-4 for gates and betas),
bfloat16/float16 within 5e-3; NumPy in and out, strided inputs, int64 cu_seqlens with an empty
sequence, grouped value heads, fla's in-kernel activations, state_v_first and its deprecated
alias, reverse, torch.compile(fullgraph=True), and the error messages."""
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import linrec.ops as ops

torch.manual_seed(0)
failures = 0


def rel(got, want):
    got, want = got.double(), want.double()
    norm = want.norm().item()
    return (got - want).norm().item() / (norm if norm > 0 else 1.0)


def report(name, errors, tolerance):
    """errors: {what: relative error}; prints one line per check, FAIL when over tolerance."""
    global failures
    worst = max(errors.values())
    ok = worst <= tolerance
    failures += not ok
    detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items() if v > tolerance) or \
        f"worst {worst:.1e}"
    print(f"{name}: {'ok' if ok else 'FAIL'} ({detail})")


def naive(q, k, v, scale, g=None, gk=None, gv=None, beta=None, h0=None, cu=None,
          normalize=False, z0=None, reverse=False):
    """fla's recurrences token by token in the inputs' dtype (float64 here):
    S ← e^{g} diag(e^{gk}) S diag(e^{gv}); delta: S += β k (v − Sᵀk)ᵀ, else S += k vᵀ;
    o = Sᵀ (scale q) [/ (scale q)·z + 1e-10 with z = z0 + Σ k]."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    seqs = [(b, 0, T) for b in range(B)] if cu is None else \
        [(0, int(cu[i]), int(cu[i + 1])) for i in range(len(cu) - 1)]
    rows = {}
    finals, zs = [], []
    for n, (b, s, e) in enumerate(seqs):
        S = h0[n] if h0 is not None else q.new_zeros(H, K, V)
        z = z0[n, 0] if z0 is not None else q.new_zeros(H, K)
        order = range(e - 1, s - 1, -1) if reverse else range(s, e)
        for t in order:
            if g is not None:
                S = S * torch.exp(g[b, t])[:, None, None]
            if gk is not None:
                S = S * torch.exp(gk[b, t])[:, :, None]
            if gv is not None:
                S = S * torch.exp(gv[b, t])[:, None, :]
            if beta is not None:
                u = beta[b, t][:, None] * (v[b, t] - torch.einsum("hkv,hk->hv", S, k[b, t]))
            else:
                u = v[b, t]
            S = S + k[b, t][:, :, None] * u[:, None, :]
            o = torch.einsum("hkv,hk->hv", S, scale * q[b, t])
            if normalize:
                z = z + k[b, t]
                o = o / ((scale * q[b, t] * z).sum(-1, keepdim=True) + 1e-10)
            rows[(b, t)] = o
        finals.append(S)
        zs.append(z)
    o = torch.stack([torch.stack([rows.get((b, t), v.new_zeros(H, V)) for t in range(T)])
                     for b in range(B)])
    return o, torch.stack(finals), torch.stack(zs).unsqueeze(1)


def leaves(tensors):
    return {n: t.detach().clone().requires_grad_(t.is_floating_point())
            for n, t in tensors.items()}


def check(name, run, reference, tensors, gates=(), dtype=torch.float32, tolerance=1e-5):
    """run(**tensors) -> (o, state) through linrec.ops on `dtype` copies; reference(**tensors)
    -> (o, state) in float64. Compares outputs and the gradients of L = Σ ⟨do, o⟩ + ⟨dS, S⟩."""
    mine = {n: t.to(dtype) if t.is_floating_point() and t.dim() >= 3 and n not in ("h0",) else t
            for n, t in tensors.items()}
    ours = leaves(mine)
    theirs = leaves({n: t.double() if t.is_floating_point() else t for n, t in mine.items()})
    o, state = run(**ours)
    o_ref, state_ref = reference(**theirs)
    errors = {"o": rel(o, o_ref)}
    if o.dtype != (dtype if dtype != torch.float64 else torch.float64):
        errors["o dtype"] = math.inf
    if state is not None:
        errors["final_state"] = rel(state, state_ref)
    do = torch.randn(o.shape, dtype=torch.float64)
    loss = (o.double() * do).sum()
    loss_ref = (o_ref * do).sum()
    if state is not None:
        dS = torch.randn(state.shape, dtype=torch.float64)
        loss = loss + (state.double() * dS).sum()
        loss_ref = loss_ref + (state_ref * dS).sum()
    loss.backward()
    loss_ref.backward()
    for n in ours:
        if ours[n].is_floating_point():
            limit = 10 if n in gates else 1  # gates and betas: 1e-4
            errors["d" + n] = rel(ours[n].grad, theirs[n].grad) / limit
    report(name, errors, tolerance)


def randn(*shape):
    return torch.randn(*shape)


def log_decay(*shape, scale=0.1):
    return F.logsigmoid(torch.randn(*shape)) * scale


B, T, H, K, V = 2, 37, 2, 16, 12

# --- every family, float32 -----------------------------------------------------------------
q, k, v = randn(B, T, H, K), randn(B, T, H, K), randn(B, T, H, V)
h0 = randn(B, H, K, V) * 0.1
g, gk, gv = log_decay(B, T, H), log_decay(B, T, H, K), log_decay(B, T, H, V)
beta = torch.rand(B, T, H)
kn = F.normalize(k, dim=-1)
base = dict(q=q, k=k, v=v, h0=h0)

check("chunk_linear_attn plain",
      lambda q, k, v, h0: ops.chunk_linear_attn(q, k, v, scale=0.3, initial_state=h0,
                                                output_final_state=True, normalize=False),
      lambda q, k, v, h0: naive(q, k, v, 0.3, h0=h0)[:2], base)

qa, ka = randn(B, T, H, K).abs() + 0.1, randn(B, T, H, K).abs() + 0.1
z0 = randn(B, 1, H, K).abs()


def linear_normalized(q, k, v, h0, z0):
    o, (S, z) = ops.chunk_linear_attn(q, k, v, initial_state=(h0, z0), output_final_state=True)
    return o, torch.cat([S.flatten(), z.flatten()])


def linear_normalized_ref(q, k, v, h0, z0):
    o, S, z = naive(q, k, v, K ** -0.5, h0=h0, normalize=True, z0=z0)
    return o, torch.cat([S.flatten(), z.flatten()])


check("chunk_linear_attn normalize (S, z)", linear_normalized, linear_normalized_ref,
      dict(q=qa, k=ka, v=v, h0=h0, z0=z0))

check("chunk_simple_gla",
      lambda q, k, v, h0, g: ops.chunk_simple_gla(q, k, v, g, initial_state=h0,
                                                  output_final_state=True),
      lambda q, k, v, h0, g: naive(q, k, v, K ** -0.5, g=g, h0=h0)[:2],
      dict(base, g=g), gates=("g",))

gamma = -torch.rand(H)
check("chunk_simple_gla g + g_gamma",
      lambda q, k, v, h0, g: ops.chunk_simple_gla(q, k, v, g, g_gamma=gamma, initial_state=h0,
                                                  output_final_state=True, chunk_size=16),
      lambda q, k, v, h0, g: naive(q, k, v, K ** -0.5, g=g + gamma.double(), h0=h0)[:2],
      dict(base, g=g), gates=("g",))

check("chunk_gla",
      lambda q, k, v, h0, gk: ops.chunk_gla(q, k, v, gk, scale=0.5, initial_state=h0,
                                            output_final_state=True),
      lambda q, k, v, h0, gk: naive(q, k, v, 0.5, gk=gk, h0=h0)[:2],
      dict(base, gk=gk), gates=("gk",))

check("fused_recurrent_gla gk gv reverse",
      lambda q, k, v, h0, gk, gv: ops.fused_recurrent_gla(q, k, v, gk, gv, initial_state=h0,
                                                          output_final_state=True, reverse=True),
      lambda q, k, v, h0, gk, gv: naive(q, k, v, K ** -0.5, gk=gk, gv=gv, h0=h0,
                                        reverse=True)[:2],
      dict(base, gk=gk, gv=gv), gates=("gk", "gv"))

check("chunk_delta_rule l2norm",
      lambda q, k, v, h0, beta: ops.chunk_delta_rule(q, k, v, beta, initial_state=h0,
                                                     output_final_state=True,
                                                     use_qk_l2norm_in_kernel=True),
      lambda q, k, v, h0, beta: naive(q / (q.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt(),
                                      k / (k.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt(), v,
                                      K ** -0.5, beta=beta, h0=h0)[:2],
      dict(base, beta=beta), gates=("beta",))

check("chunk_gated_delta_rule",
      lambda q, k, v, h0, g, beta: ops.chunk_gated_delta_rule(q, k, v, g, beta,
                                                              initial_state=h0,
                                                              output_final_state=True),
      lambda q, k, v, h0, g, beta: naive(q, k, v, K ** -0.5, g=g, beta=beta, h0=h0)[:2],
      dict(base, k=kn, g=g, beta=beta), gates=("g", "beta"))

check("chunk_kda",
      lambda q, k, v, h0, gk, beta: ops.chunk_kda(q, k, v, gk, beta, initial_state=h0,
                                                  output_final_state=True),
      lambda q, k, v, h0, gk, beta: naive(q, k, v, K ** -0.5, gk=gk, beta=beta, h0=h0)[:2],
      dict(base, k=kn, gk=gk, beta=beta), gates=("gk", "beta"))

slopes = [-(8 / H * (1 - 1 / 4)) * h for h in range(H)]
check("chunk_lightning_attn",
      lambda q, k, v, h0: ops.chunk_lightning_attn(q, k, v, layer_idx=1, num_layers=4,
                                                   initial_state=h0, output_final_state=True),
      lambda q, k, v, h0: naive(q, k, v, K ** -0.5, g=torch.tensor(slopes, dtype=q.dtype)
                                .expand(B, T, H), h0=h0)[:2], base)

# --- grouped value heads and fla's in-kernel activations -----------------------------------
HV = 2 * H
vg, h0g = randn(B, T, HV, V), randn(B, HV, K, V) * 0.1
graw, braw = randn(B, T, HV), randn(B, T, HV)
A_log, dt_bias = torch.rand(HV).log(), randn(HV)


def gdn_ref(q, k, v, h0, g, beta, A_log, dt_bias):
    qn = q / (q.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt()
    kn = k / (k.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt()
    rep = lambda x: x.repeat_interleave(HV // H, dim=2)  # noqa: E731
    gate = -A_log.exp() * F.softplus(g + dt_bias)
    return naive(rep(qn), rep(kn), v, K ** -0.5, g=gate, beta=2 * torch.sigmoid(beta),
                 h0=h0)[:2]


check("chunk_gated_delta_rule grouped heads, gate, beta sigmoid, neg eigval",
      lambda q, k, v, h0, g, beta, A_log, dt_bias: ops.chunk_gated_delta_rule(
          q, k, v, g, beta, initial_state=h0, output_final_state=True,
          use_qk_l2norm_in_kernel=True, use_beta_sigmoid_in_kernel=True, allow_neg_eigval=True,
          use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias),
      gdn_ref, dict(q=q, k=k, v=vg, h0=h0g, g=graw, beta=braw, A_log=A_log, dt_bias=dt_bias),
      gates=("g", "beta", "A_log", "dt_bias"))

gkraw, kdt = randn(B, T, HV, K), randn(HV * K)


def kda_ref(q, k, v, h0, g, beta, A_log, dt_bias):
    rep = lambda x: x.repeat_interleave(HV // H, dim=2)  # noqa: E731
    gate = -5.0 * torch.sigmoid(A_log.exp()[:, None] * (g + dt_bias.view(HV, K)))
    return naive(rep(q), rep(F.normalize(k, dim=-1)), v, K ** -0.5, gk=gate,
                 beta=torch.sigmoid(beta), h0=h0)[:2]


check("chunk_kda grouped heads, lower-bound gate",
      lambda q, k, v, h0, g, beta, A_log, dt_bias: ops.chunk_kda(
          q, F.normalize(k, dim=-1), v, g, beta, initial_state=h0, output_final_state=True,
          use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias, safe_gate=True,
          lower_bound=-5.0, use_beta_sigmoid_in_kernel=True),
      kda_ref, dict(q=q, k=k, v=vg, h0=h0g, g=gkraw, beta=braw, A_log=A_log, dt_bias=kdt),
      gates=("g", "beta", "A_log", "dt_bias"))

# --- decode steps (T = 1) ------------------------------------------------------------------
q1, k1, v1 = randn(3, 1, H, K), F.normalize(randn(3, 1, H, K), dim=-1), randn(3, 1, H, V)
check("fused_recurrent_gated_delta_rule decode",
      lambda q, k, v, h0, g, beta: ops.fused_recurrent_gated_delta_rule(
          q, k, v, g, beta=beta, initial_state=h0, output_final_state=True),
      lambda q, k, v, h0, g, beta: naive(q, k, v, K ** -0.5, g=g, beta=beta, h0=h0)[:2],
      dict(q=q1, k=k1, v=v1, h0=randn(3, H, K, V), g=log_decay(3, 1, H),
           beta=torch.rand(3, 1, H)), gates=("g", "beta"))
check("fused_recurrent_kda decode",
      lambda q, k, v, h0, g, beta: ops.fused_recurrent_kda(
          q, k, v, g, beta, initial_state=h0, output_final_state=True),
      lambda q, k, v, h0, g, beta: naive(q, k, v, K ** -0.5, gk=g, beta=beta, h0=h0)[:2],
      dict(q=q1, k=k1, v=v1, h0=randn(3, H, K, V), g=log_decay(3, 1, H, K),
           beta=torch.rand(3, 1, H)), gates=("g", "beta"))

# --- varlen: int64 cu_seqlens with an empty sequence -----------------------------------------
cu = torch.tensor([0, 9, 9, 30, 45], dtype=torch.int64)
N, TT = len(cu) - 1, int(cu[-1])
packed = dict(q=randn(1, TT, H, K), k=F.normalize(randn(1, TT, H, K), dim=-1),
              v=randn(1, TT, H, V), h0=randn(N, H, K, V) * 0.1, g=log_decay(1, TT, H),
              beta=torch.rand(1, TT, H))
check("chunk_gated_delta_rule varlen int64",
      lambda q, k, v, h0, g, beta: ops.chunk_gated_delta_rule(
          q, k, v, g, beta, initial_state=h0, output_final_state=True, cu_seqlens=cu),
      lambda q, k, v, h0, g, beta: naive(q, k, v, K ** -0.5, g=g, beta=beta, h0=h0, cu=cu)[:2],
      packed, gates=("g", "beta"))

# --- dtypes --------------------------------------------------------------------------------
for dtype in (torch.bfloat16, torch.float16):
    check(f"chunk_gla {str(dtype)[6:]}",
          lambda q, k, v, h0, gk: ops.chunk_gla(q, k, v, gk, initial_state=h0,
                                                output_final_state=True),
          lambda q, k, v, h0, gk: naive(q, k, v, K ** -0.5, gk=gk, h0=h0)[:2],
          dict(base, gk=gk), gates=("gk",), dtype=dtype, tolerance=5e-3)

# --- state_v_first, its deprecated alias -----------------------------------------------------
o1, s1 = ops.chunk_gated_delta_rule(q, kn, v, g, beta, initial_state=h0,
                                    output_final_state=True)
o2, s2 = ops.chunk_gated_delta_rule(q, kn, v, g, beta, initial_state=h0.transpose(-1, -2),
                                    output_final_state=True, state_v_first=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    o3, s3 = ops.fused_recurrent_gla(q, k, v, gk, initial_state=h0.transpose(-1, -2),
                                     output_final_state=True, transpose_state_layout=True)
o4, s4 = ops.fused_recurrent_gla(q, k, v, gk, initial_state=h0, output_final_state=True)
report("state_v_first", {"o": rel(o2, o1), "state": rel(s2.transpose(-1, -2), s1),
                         "alias o": rel(o3, o4), "alias state": rel(s3.transpose(-1, -2), s4),
                         "alias warning": 0.0 if any(issubclass(w.category, DeprecationWarning)
                                                     for w in caught) else math.inf}, 1e-6)

# --- NumPy in, NumPy out; strided tensors --------------------------------------------------
on, sn = ops.chunk_gla(q.numpy(), k.numpy(), v.numpy(), gk.numpy(), initial_state=h0.numpy(),
                       output_final_state=True)
ot, st = ops.chunk_gla(q, k, v, gk, initial_state=h0, output_final_state=True)
strided = [x.transpose(1, 2).contiguous().transpose(1, 2) for x in (q, k, v, gk)]
os_, ss = ops.chunk_gla(*strided, initial_state=h0, output_final_state=True)
report("numpy and strided",
       {"numpy type": 0.0 if isinstance(on, np.ndarray) and isinstance(sn, np.ndarray)
        else math.inf, "numpy o": rel(torch.from_numpy(on), ot),
        "strided o": rel(os_, ot), "strided state": rel(ss, st)}, 1e-6)

# --- torch.compile(fullgraph=True) ---------------------------------------------------------


class Mixer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(K, 3 * K + 2)

    def forward(self, x):
        q, k, v, gb = self.proj(x).split([K, K, K, 2], dim=-1)
        o, _ = ops.chunk_gated_delta_rule(q, k, v, F.logsigmoid(gb[..., 0]),
                                          torch.sigmoid(gb[..., 1]),
                                          use_qk_l2norm_in_kernel=True)
        return o


mixer = Mixer()
x = randn(B, T, H, K)
eager = mixer(x)
eager.pow(2).sum().backward()
grads = [p.grad.clone() for p in mixer.parameters()]
mixer.zero_grad()
compiled = torch.compile(mixer, fullgraph=True)
out = compiled(x)
out.pow(2).sum().backward()
report("torch.compile fullgraph", {"o": rel(out, eager), **{
    f"grad {i}": rel(p.grad, g_) for i, (p, g_) in enumerate(zip(mixer.parameters(), grads))}},
    1e-6)


# --- errors --------------------------------------------------------------------------------
def error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return "no error"


print(error_of(lambda: ops.chunk_gated_delta_rule(q, kn, v, g, beta, not_an_option=1)))
print(error_of(lambda: ops.chunk_gla(q, k, v, gk, chunk_size=32)))
print(error_of(lambda: ops.chunk_kda(q, kn, v, gk, beta, chunk_size=16)))
print(error_of(lambda: ops.chunk_simple_gla(q, k, v, g, chunk_size=48)))
print(error_of(lambda: ops.chunk_delta_rule(q, kn, v, beta, head_first=True)))
print(error_of(lambda: ops.chunk_gated_delta_rule(q, kn, v, g, beta,
                                                  cu_seqlens=torch.tensor([0, 5, T]))))
print(error_of(lambda: ops.chunk_gated_delta_rule(q, kn, v[:, :, :1].expand(B, T, 3, V), g,
                                                  beta)))
print(error_of(lambda: ops.chunk_gated_delta_rule(q, kn, v, g, beta, allow_neg_eigval=True)))
print(error_of(lambda: ops.fused_recurrent_gated_delta_rule(q, kn, v, g, beta)))
print(error_of(lambda: ops.chunk_gla(q, k, v, gk, initial_state=h0.transpose(-1, -2)[:, :, :5])))
meta_o, _ = ops.chunk_gla(q.to("meta"), k.to("meta"), v.to("meta"), gk.to("meta"))
print("meta tensors (shapes only):", meta_o.device, list(meta_o.shape))
print(error_of(lambda: ops.fused_recurrent_delta_rule(q, kn, v, beta[..., None].expand(B, T, H, V))))
print("failures:", failures)
