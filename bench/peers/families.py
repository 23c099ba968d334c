"""The seven recurrence families the peers benchmark compares, each as three implementations
of the same layer on the same inputs: linrec (linrec.ops, fla's signatures), the chunked
algorithm in PyTorch (torch_chunked) and the token-by-token C scan (token_scan). One place
defines the inputs and the calls, so the correctness test and the benchmark time exactly what
was checked.

Inputs: q, k, v ~ N(0, 1) [B, T, H, d] with d = dk = dv, scale d^−½; the delta rules get
L2-normalized keys (as DeltaNet's are; the recurrence is unstable without), β = σ(N(0, 1));
per-token log-decays logsigmoid(N(0, 1))/8 (≈ −0.1 a token, so a chunk of 64 decays by ≈ e^{−6},
as GLA-style gates do); lightning's per-head decays are fla's for layer 7 of 8,
−(8/H)(1 − 7/8)·h, at most −0.875 a token for H = 8.

Why not an early layer for lightning: fla's formula there reaches −7 a token (layer 0, H = 8),
and any decay stronger than about −1.4 a token makes e^{b_i − b_j} inside a chunk of 64 pass
through float32's subnormal range, which x86 computes on slowly. Measured at T = 1024, d = 64,
1 thread: layer 1 of 2 (down to −3.5 a token) costs linrec 12.2 ms against 3.95 ms at layer 7
of 8, the PyTorch peer 25.7 against 5.6 ms. That pathology is real (and reported), but it
would make the family comparison about subnormals, not the algorithms.
"""
import dataclasses

import torch
import torch.nn.functional as F

import linrec.ops
import torch_chunked
from token_scan import token_scan

LIGHTNING_LAYER, LIGHTNING_LAYERS = 7, 8


@dataclasses.dataclass(frozen=True)
class Family:
    """name: linrec's model name; gate: None, "head" (a constant per head), "token" ([B, T, H])
    or "key" ([B, T, H, dk]); delta: whether the delta rule (β) applies."""
    name: str
    gate: object
    delta: bool

    def gate_input(self):
        """The name of the log-decay input (None without decay)."""
        return {None: None, "head": "log_decay", "token": "g", "key": "gk"}[self.gate]

    def inputs_needed(self):
        names = ["q", "unit_k" if self.delta else "k", "v", self.gate_input()]
        return [n for n in names if n] + (["beta"] if self.delta else [])


FAMILIES = {f.name: f for f in [
    Family("linear", None, False),
    Family("lightning", "head", False),
    Family("simple_gla", "token", False),
    Family("gla", "key", False),
    Family("delta", None, True),
    Family("gated_delta", "token", True),
    Family("kda", "key", True),
]}


def lightning_log_decay(H):
    """fla's chunk_lightning_attn decays, written as linrec.ops writes them (the same floats,
    so a tuned kernel's key matches the one linrec.ops compiles)."""
    return [-(8 / H * (1 - LIGHTNING_LAYER / LIGHTNING_LAYERS)) * h for h in range(H)]


def make_inputs(families, B, T, H, d, seed=0):
    """The tensors the given families read (see the module docstring), float32 contiguous."""
    gen = torch.Generator().manual_seed(seed)
    wanted = {n for f in families for n in f.inputs_needed()}
    normal = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    makers = {
        "q": lambda: normal(B, T, H, d),
        "k": lambda: normal(B, T, H, d),
        "unit_k": lambda: F.normalize(normal(B, T, H, d), dim=-1),
        "v": lambda: normal(B, T, H, d),
        "g": lambda: F.logsigmoid(normal(B, T, H)) / 8,
        "gk": lambda: F.logsigmoid(normal(B, T, H, d)) / 8,
        "beta": lambda: torch.sigmoid(normal(B, T, H)),
        "log_decay": lambda: torch.tensor(lightning_log_decay(H), dtype=torch.float32),
    }
    return {name: make() for name, make in makers.items() if name in wanted}


def _qkv(family, x):
    return x["q"], x["unit_k" if family.delta else "k"], x["v"]


def _scale(x):
    return x["q"].shape[-1] ** -0.5


def run_linrec(family, x, output_final_state=False):
    """linrec.ops' chunk_* op of the family: (o, final state or None). The schedule (threads,
    tuned or explicit options) is linrec.ops.set_schedule's; chunk_size=None leaves the chunk
    to it (the delta ops would otherwise pin fla's default of 64 and hide a tuned chunk)."""
    q, k, v = _qkv(family, x)
    common = dict(scale=_scale(x), output_final_state=output_final_state)
    ops = linrec.ops
    if family.name == "linear":
        return ops.chunk_linear_attn(q, k, v, normalize=False, **common)
    if family.name == "lightning":
        return ops.chunk_lightning_attn(q, k, v, LIGHTNING_LAYER, LIGHTNING_LAYERS,
                                        chunk_size=None, **common)
    if family.name == "simple_gla":
        return ops.chunk_simple_gla(q, k, v, g=x["g"], chunk_size=None, **common)
    if family.name == "gla":
        return ops.chunk_gla(q, k, v, x["gk"], **common)
    if family.name == "delta":
        return ops.chunk_delta_rule(q, k, v, x["beta"], chunk_size=None, **common)
    if family.name == "gated_delta":
        return ops.chunk_gated_delta_rule(q, k, v, x["g"], x["beta"], chunk_size=None, **common)
    return ops.chunk_kda(q, k, v, x["gk"], x["beta"], chunk_size=None, **common)


def tune_params(family, H, d):
    """linrec.tune's parameters for the family: the ones linrec.ops passes its model, so the
    tuned kernel is the kernel the op compiles."""
    params = {"scale": float(d ** -0.5)}
    if family.name == "linear":
        params.update(normalize=False, eps=0.0, feature_map="identity")
    if family.name == "lightning":
        params["log_decay"] = lightning_log_decay(H)
    return params


def run_torch(family, x, **options):
    """o from torch_chunked's function of the family (options: its chunk and block)."""
    q, k, v = _qkv(family, x)
    scale = _scale(x)
    gate = family.gate_input()
    args = (q, k, v) + ((x[gate],) if gate else ()) + ((x["beta"],) if family.delta else ())
    fn = {"linear": torch_chunked.chunk_linear, "lightning": torch_chunked.chunk_lightning,
          "simple_gla": torch_chunked.chunk_simple_gla, "gla": torch_chunked.chunk_gla,
          "delta": torch_chunked.chunk_delta, "gated_delta": torch_chunked.chunk_gated_delta,
          "kda": torch_chunked.chunk_kda}[family.name]
    return fn(*args, scale, **options)


def run_scan(family, x, threads, final_state=False):
    """o (and the final state with ``final_state``) from the C token scan."""
    q, k, v = _qkv(family, x)
    gate = family.gate_input()
    return token_scan(q, k, v, _scale(x), threads, decay=x[gate] if gate else None,
                      beta=x["beta"] if family.delta else None, final_state=final_state)
