"""flash-linear-attention's functional API on linrec's kernels.

Each function takes the arguments of the fla function of the same name and returns what it
returns (``(o, final_state)``; ``final_state`` None unless ``output_final_state``), so a model
written against fla ports by changing its import::

    from linrec.ops import chunk_gated_delta_rule   # was: from fla.ops.gated_delta_rule import ...
    o, state = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=h0,
                                      output_final_state=True, use_qk_l2norm_in_kernel=True)

Tensors are ``[B, T, H, D]`` (fla's layout; states ``[N, H, K, V]``, ``[N, H, V, K]`` with
``state_v_first``). Gates are natural-log decays, as in fla.

* **Tensors**: torch tensors in, torch tensors out: ``o`` in the input's dtype (float32,
  bfloat16, float16, float64), states in float32. The kernels compute in float32: other dtypes
  are converted on the way in and out, and non-contiguous tensors copied (a float32
  C-contiguous tensor is read in place). NumPy arrays in give NumPy arrays out.
  ``cu_seqlens`` may be int32 or int64 (``cu_seqlens_cpu`` is accepted and not needed).
* **Grouped value heads** (more value heads HV than query/key heads H, Qwen3-Next style):
  value head i reads query/key head i // (HV / H), as in fla; q and k are repeated to HV heads
  (a copy) before the kernel.
* **Activations fla computes in its kernels** (``use_qk_l2norm_in_kernel``,
  ``use_gate_in_kernel`` with ``A_log``/``dt_bias``/``lower_bound``,
  ``use_beta_sigmoid_in_kernel``, ``allow_neg_eigval``) have fla's formulas and are computed in
  float32 PyTorch before linrec's kernel; their gradients come from PyTorch's autograd.
* **Gradients**: every op is differentiable; the recurrence's backward is the one linrec
  derives from it (``torch.ops.linrec.<model>_backward``), and the ops trace under
  ``torch.compile(fullgraph=True)``.
* Unknown keyword arguments are errors naming the key (fla ignores some silently).
"""

import functools as _functools
import math as _math
import warnings as _warnings

import numpy as _np
import torch as _torch
import torch.nn.functional as _F

from . import _torch_ops

__all__ = [
    "set_schedule", "set_input_checks",
    "chunk_linear_attn", "fused_chunk_linear_attn", "fused_recurrent_linear_attn",
    "chunk_simple_gla", "fused_chunk_simple_gla", "fused_recurrent_simple_gla",
    "chunk_gla", "fused_recurrent_gla",
    "chunk_delta_rule", "fused_recurrent_delta_rule",
    "chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule",
    "chunk_kda", "fused_recurrent_kda",
    "chunk_lightning_attn", "fused_recurrent_lightning_attn",
]


# --- shared pieces -------------------------------------------------------------------------

def _numpy_in_out(fn):
    """NumPy arrays in (any argument): wrapped as tensors (no copy); NumPy arrays out."""
    @_functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, _np.ndarray) for a in (*args, *kwargs.values())):
            return fn(*args, **kwargs)
        wrap = lambda a: _torch.from_numpy(a) if isinstance(a, _np.ndarray) else a  # noqa: E731
        result = fn(*[wrap(a) for a in args], **{k: wrap(a) for k, a in kwargs.items()})
        return _to_numpy(result)
    return wrapper


def _to_numpy(x):
    if isinstance(x, _torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, tuple):
        return tuple(_to_numpy(e) for e in x)
    return x


def _take_kwargs(fn, kwargs, known):
    """Pops the keys fla reads from **kwargs; any other key is an error naming it."""
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        raise TypeError(f"{fn}() got an unexpected keyword argument '{unknown[0]}'")
    if "head_first" in kwargs:
        raise DeprecationWarning(
            "head_first has been removed. Inputs must be in `[B, T, H, ...]` format.")


def _state_layout_alias(state_v_first, kwargs):
    if "transpose_state_layout" in kwargs:
        if state_v_first:
            raise ValueError(
                "Cannot pass both `state_v_first` and the deprecated `transpose_state_layout`.")
        _warnings.warn("`transpose_state_layout` is deprecated and renamed to `state_v_first`.",
                       DeprecationWarning, stacklevel=3)
        state_v_first = kwargs.pop("transpose_state_layout")
    return state_v_first


def _check_varlen(q, initial_state, cu_seqlens, space=True):
    if cu_seqlens is None:
        return
    if q.shape[0] != 1:
        sep = " " if space else ""
        raise ValueError(
            f"The batch size is expected to be 1 rather than {q.shape[0]} when using "
            f"`cu_seqlens`.{sep}Please flatten variable-length inputs before processing.")
    if initial_state is not None and initial_state.shape[0] != len(cu_seqlens) - 1:
        raise ValueError(
            "The number of initial states is expected to be equal to the number of input "
            f"sequences, i.e., {len(cu_seqlens) - 1} rather than {initial_state.shape[0]}.")


def _check_chunk_size(chunk_size, allowed, message):
    if chunk_size is not None and chunk_size not in allowed:
        raise ValueError(message.format(chunk_size))


_SCHEDULE = []  # "name=value" entries of set_schedule


def set_schedule(**options):
    """Schedule options of linrec's CPU pipeline for every later call of these ops, by name
    (``linrec.schedule_options("cpu")``; underscores for dashes): ``threads=1``,
    ``heads_per_item=2``, ... ``set_schedule()`` restores the defaults. A call's own
    ``chunk_size`` and the fused_recurrent_* ops' token scan win over these."""
    from . import schedule_options
    known = schedule_options("cpu")
    entries = []
    for name, value in options.items():
        option = name.replace("_", "-")
        if option not in known:
            raise TypeError(f"set_schedule() got an unknown schedule option '{name}'")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        entries.append(f"{option}={text}")
    _SCHEDULE[:] = entries


def set_input_checks(enabled):
    """Whether later calls refuse inputs outside their domain before running (on by
    default): NaN or ±inf anywhere, a positive or NaN log-decay (−inf is a full reset);
    ValueError names the first bad element. The CPU kernels check each row as they load it
    (within noise of the unchecked forward); inputs no kernel loads as they are are scanned
    first. Off, bad inputs may give garbage, never a crash."""
    _torch_ops.CHECK_INPUTS[0] = bool(enabled)


def _schedule(chunk_size, scan):
    """fused_recurrent_* run linrec's token scan (as fla's fused_recurrent kernels do: the
    decode step's form), chunk_* its chunked kernels with the given chunk."""
    entries = list(_SCHEDULE)
    if chunk_size is not None:
        entries.append(f"chunk-size={int(chunk_size)}")
    return " ".join(entries + (["sequential=true"] if scan else []))


def _l2norm(x):
    """fla's in-kernel L2 norm: x / sqrt(Σ x² + 1e-6) over the head dim, in float32."""
    x = x.float()
    return x * _torch.rsqrt((x * x).sum(-1, keepdim=True) + 1e-6)


def _beta_sigmoid(beta, allow_neg_eigval):
    return _torch.sigmoid(beta.float()) * (2.0 if allow_neg_eigval else 1.0)


def _grouped(q, k, v):
    """q and k repeated to v's heads (grouped value heads), after fla's checks."""
    if q.shape[2] != k.shape[2]:
        raise ValueError("q and k must have the same number of heads, but got "
                         f"q.shape[2]={q.shape[2]} and k.shape[2]={k.shape[2]}")
    H, HV = q.shape[2], v.shape[2]
    if HV % H != 0:
        raise ValueError(f"For GVA, num_v_heads (HV={HV}) must be evenly divisible by "
                         f"num_heads (H={H}), but got HV % H = {HV % H}")
    if HV == H:
        return q, k
    return q.repeat_interleave(HV // H, dim=2), k.repeat_interleave(HV // H, dim=2)


def _reverse_tokens(x, cu_seqlens):
    """x [B, T, ...] with each sequence's tokens in reverse order (per cu_seqlens sequence)."""
    if x is None:
        return None
    if cu_seqlens is None:
        return x.flip(1)
    T = x.shape[1]
    cu = cu_seqlens.to(device=x.device, dtype=_torch.int64)
    position = _torch.arange(T, device=x.device)
    sequence = _torch.searchsorted(cu, position, right=True) - 1
    mirrored = cu[sequence] + cu[sequence + 1] - 1 - position
    return x.index_select(1, mirrored)


_SHAPES = {  # each tensor's shape in terms of q's [B, T, H, K] and v's head dim V
    "q": "BTHK", "k": "BTHK", "v": "BTHV", "g": "BTH", "beta": "BTH", "gk": "BTHK",
    "gv": "BTHV", "initial_z": "NHK",
}


def _check_shapes(tensors, initial_state, cu_seqlens, state_v_first):
    """Every tensor's shape against q's and v's (after grouped heads are repeated): a clear
    error naming the tensor, not the kernel's."""
    q, v = tensors["q"], tensors["v"]
    if q.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q and v must be [B, T, H, D], got q {list(q.shape)} and "
                         f"v {list(v.shape)}")
    B, T, H, K = q.shape
    N = B if cu_seqlens is None else cu_seqlens.shape[0] - 1
    sizes = {"B": B, "T": T, "H": H, "K": K, "V": v.shape[3], "N": N}
    expected = dict(_SHAPES)
    expected["initial_state"] = "NHVK" if state_v_first else "NHKV"
    for name, t in {**tensors, "initial_state": initial_state}.items():
        if t is None or name not in expected:
            continue
        want = [sizes[c] for c in expected[name]]
        if list(t.shape) != want:
            dims = ", ".join(expected[name])
            raise ValueError(f"{name} must be [{dims}] = {want}, got {list(t.shape)}")


def _recurrence(model, tensors, params, *, scale, initial_state, output_final_state,
                cu_seqlens, state_v_first=False, chunk_size=None, reverse=False,
                o_dtype=None, scan=False, state_indices=None, inplace_final_state=True):
    """Runs `model` on fla-layout tensors: returns (o, final_state or None)."""
    q = tensors["q"]
    if state_indices is not None:
        return _recurrence_on_pool(model, tensors, params, scale, initial_state, cu_seqlens,
                                   state_v_first, chunk_size, o_dtype, scan, state_indices,
                                   inplace_final_state)
    _check_shapes(tensors, initial_state, cu_seqlens, state_v_first)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if initial_state is not None and state_v_first:
        initial_state = initial_state.transpose(-1, -2)
    if reverse:
        tensors = {n: _reverse_tokens(t, cu_seqlens) for n, t in tensors.items()}
    out = _torch_ops.run(model, {**tensors, "initial_state": initial_state,
                                 "cu_seqlens": cu_seqlens},
                         {"scale": float(scale), **params}, _schedule(chunk_size, scan))
    o = out["o"]
    if reverse:
        o = _reverse_tokens(o, cu_seqlens)
    o = o.to(o_dtype or q.dtype)
    final = out["final_state"] if output_final_state else None
    if final is not None and state_v_first:
        final = final.transpose(-1, -2)
    return o, final, out


def _recurrence_on_pool(model, tensors, params, scale, pool, cu_seqlens, state_v_first,
                        chunk_size, o_dtype, scan, state_indices, inplace):
    """_recurrence with the states in a pool (vLLM's continuous batching): sequence n starts
    from initial_state[state_indices[n]] ([P, H, K, V]), and its final state goes back to
    that slot: in place with ``inplace_final_state`` (the pool is the final state returned),
    else into an updated copy of the pool. Returns (o, the pool, None)."""
    if pool is None:
        raise ValueError("ssm_state_indices needs initial_state: the pool of states "
                         "[num_slots, H, K, V] the indices point into")
    if state_v_first:
        raise ValueError("ssm_state_indices takes the pool in [num_slots, H, K, V] layout "
                         "(state_v_first / transpose_state_layout would need a copy)")
    q, v = tensors["q"], tensors["v"]
    _check_shapes(tensors, None, cu_seqlens, False)
    H, K, V = q.shape[2], q.shape[3], v.shape[3]
    if pool.dim() != 4 or list(pool.shape[1:]) != [H, K, V]:
        raise ValueError(f"initial_state (the pool) must be [num_slots, H, K, V] = "
                         f"[*, {H}, {K}, {V}], got {list(pool.shape)}")
    N = q.shape[0] if cu_seqlens is None else cu_seqlens.shape[0] - 1
    if state_indices.shape != (N,):
        raise ValueError(f"ssm_state_indices must hold one slot per sequence: [{N}], got "
                         f"{list(state_indices.shape)}")
    if scale is None:
        scale = q.shape[-1] ** -0.5
    params = _torch_ops.params_text({"scale": float(scale), **params})
    padding = state_indices < 0
    if bool(padding.any()):
        return _recurrence_on_pool_with_padding(model, tensors, params, pool, cu_seqlens,
                                                o_dtype, _schedule(chunk_size, scan),
                                                state_indices, padding, inplace)
    if cu_seqlens is not None:
        tensors = {**tensors, "cu_seqlens": _torch_ops._kernel_input("cu_seqlens", cu_seqlens)}
    o, pool = _torch_ops.step_on_pool(model, tensors, params, _schedule(chunk_size, scan), pool,
                                      state_indices, inplace)
    return o.to(o_dtype or q.dtype), pool, None


def _recurrence_on_pool_with_padding(model, tensors, params, pool, cu_seqlens, o_dtype,
                                     schedule, state_indices, padding, inplace):
    """A pooled step whose batch has padding entries: a negative slot (vLLM's PAD_SLOT_ID,
    -1, for the rows a CUDA graph's fixed batch adds) marks a sequence that is not computed,
    whose outputs are zeros and which touches no slot, as in vLLM's kernels. The other
    sequences are gathered and run as a smaller batch (a copy of their tokens: only steps
    with padding pay it)."""
    q, v = tensors["q"], tensors["v"]
    keep = (~padding).nonzero().flatten()
    if cu_seqlens is None:
        kept = {n: t.index_select(0, keep) for n, t in tensors.items()}
        rows = keep
    else:
        starts, ends = cu_seqlens[:-1].long(), cu_seqlens[1:].long()
        token_sequence = _torch.repeat_interleave(
            _torch.arange(starts.numel()), (ends - starts).cpu())
        rows = (~padding)[token_sequence].nonzero().flatten()
        kept = {n: t.index_select(1, rows) for n, t in tensors.items()}
        lengths = (ends - starts)[keep]
        kept_offsets = _torch.zeros(lengths.numel() + 1, dtype=_torch.int32)
        kept_offsets[1:] = _torch.cumsum(lengths, 0)
        kept["cu_seqlens"] = kept_offsets
    o = _torch.zeros(v.shape, dtype=o_dtype or q.dtype)
    if keep.numel():
        o_kept, pool = _torch_ops.step_on_pool(model, kept, params, schedule, pool,
                                               state_indices.index_select(0, keep), inplace)
        o.index_copy_(0 if cu_seqlens is None else 1, rows, o_kept.to(o.dtype))
    elif not inplace:  # nothing runs: the updated copy is a plain copy
        pool = pool.detach().to(_torch.float32).contiguous().clone()
    return o, pool, None


# --- linear attention ----------------------------------------------------------------------

def _linear_attn(q, k, v, scale, initial_state, output_final_state, normalize, cu_seqlens,
                 reverse=False, scan=False):
    if normalize and isinstance(initial_state, tuple):
        kv_init, z_init = initial_state
    else:
        kv_init, z_init = initial_state, None
    _check_varlen(q, kv_init, cu_seqlens)
    if scale is None:
        scale = k.shape[-1] ** -0.5
    params = {"normalize": bool(normalize), "eps": 1e-10 if normalize else 0.0,
              "feature_map": "identity"}
    tensors = {"q": q, "k": k, "v": v}
    if normalize and z_init is not None:  # fla's z-state is [N, 1, H, K]
        tensors["initial_z"] = z_init.reshape(z_init.shape[0], *z_init.shape[2:])
    o, final, out = _recurrence("linear", tensors, params, scale=scale, initial_state=kv_init,
                                output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                reverse=reverse, scan=scan)
    if normalize:
        z = out["final_z"].unsqueeze(1).to(k.dtype)
        return o, (final, z)
    return o, final


@_numpy_in_out
def chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False,
                      normalize=True, cu_seqlens=None):
    """Linear attention, o_t = S_tᵀ (scale q_t), S_t = S_{t−1} + k_t v_tᵀ (fla's
    ``chunk_linear_attn``). With ``normalize`` (the default, as in fla) o_t is divided by
    (scale q_t)·z_t + 1e-10 with z_t = z_0 + Σ_{s≤t} k_s, and the second result is
    ``(final_state, z)`` (z ``[N, 1, H, K]``, always returned; ``initial_state`` may be the
    tuple ``(S_0, z_0)``)."""
    return _linear_attn(q, k, v, scale, initial_state, output_final_state, normalize,
                        cu_seqlens)


@_numpy_in_out
def fused_chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False,
                            normalize=True, cu_seqlens=None):
    """fla's ``fused_chunk_linear_attn``: ``chunk_linear_attn`` (one chunked kernel either
    way in linrec)."""
    return _linear_attn(q, k, v, scale, initial_state, output_final_state, normalize,
                        cu_seqlens)


@_numpy_in_out
def fused_recurrent_linear_attn(q, k, v, scale=None, initial_state=None,
                                output_final_state=False, reverse=False, normalize=False,
                                cu_seqlens=None):
    """fla's ``fused_recurrent_linear_attn``: as ``chunk_linear_attn`` (``normalize`` off by
    default), and ``reverse`` runs each sequence from its last token to its first."""
    return _linear_attn(q, k, v, scale, initial_state, output_final_state, normalize,
                        cu_seqlens, reverse=reverse, scan=True)


# --- simple GLA and Lightning --------------------------------------------------------------

def _simple_gla(q, k, v, g, g_gamma, scale, initial_state, output_final_state, state_v_first,
                cu_seqlens, chunk_size=None, reverse=False, scan=False):
    if g_gamma is not None:  # a constant per-head decay: added to every token's g
        gamma = g_gamma.float().view(1, 1, -1).expand(*q.shape[:3])
        g = gamma if g is None else g.float() + gamma
    if g is None:
        o, final, _ = _recurrence("linear", {"q": q, "k": k, "v": v},
                                  {"normalize": False, "eps": 0.0, "feature_map": "identity"},
                                  scale=scale, initial_state=initial_state,
                                  output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                  state_v_first=state_v_first, chunk_size=chunk_size,
                                  reverse=reverse, scan=scan)
        return o, final
    o, final, _ = _recurrence("simple_gla", {"q": q, "k": k, "v": v, "g": g}, {}, scale=scale,
                              initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              state_v_first=state_v_first, chunk_size=chunk_size,
                              reverse=reverse, scan=scan)
    return o, final


@_numpy_in_out
def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                     output_final_state=False, state_v_first=False, cu_seqlens=None,
                     cu_seqlens_cpu=None, **kwargs):
    """Simple GLA (fla's ``chunk_simple_gla``): S_t = e^{g_t} S_{t−1} + k_t v_tᵀ with a
    scalar log-decay per token and head (``g`` ``[B, T, H]``) and/or a constant one per head
    (``g_gamma`` ``[H]``; both given: both apply). ``chunk_size`` (a power of two) sets the
    chunk of linrec's kernel."""
    _take_kwargs("chunk_simple_gla", kwargs, ("head_first", "chunk_size"))
    chunk_size = kwargs.pop("chunk_size", None)
    if chunk_size is not None and chunk_size != 2 ** (chunk_size.bit_length() - 1):
        raise ValueError(f"`chunk_size` must be a power of 2, got {chunk_size}.")
    _check_varlen(q, initial_state, cu_seqlens)
    return _simple_gla(q, k, v, g, g_gamma, scale, initial_state, output_final_state,
                       state_v_first, cu_seqlens, chunk_size)


@_numpy_in_out
def fused_chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                           output_final_state=False, cu_seqlens=None):
    """fla's ``fused_chunk_simple_gla``: ``chunk_simple_gla`` (one chunked kernel either way
    in linrec)."""
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    return _simple_gla(q, k, v, g, g_gamma, scale, initial_state, output_final_state, False,
                       cu_seqlens)


@_numpy_in_out
def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, state_v_first=False,
                               cu_seqlens=None, **kwargs):
    """fla's ``fused_recurrent_simple_gla``: as ``chunk_simple_gla``, with ``reverse``."""
    _take_kwargs("fused_recurrent_simple_gla", kwargs, ("transpose_state_layout",))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    return _simple_gla(q, k, v, g, g_gamma, scale, initial_state, output_final_state,
                       state_v_first, cu_seqlens, reverse=reverse, scan=True)


@_numpy_in_out
def chunk_lightning_attn(q, k, v, layer_idx, num_layers, scale=None, initial_state=None,
                         output_final_state=False, cu_seqlens=None, **kwargs):
    """Lightning Attention (fla's ``chunk_lightning_attn``): a constant log-decay per head,
    −(8/H)(1 − layer_idx/num_layers)·h for head h."""
    _take_kwargs("chunk_lightning_attn", kwargs, ("head_first", "chunk_size"))
    chunk_size = kwargs.pop("chunk_size", None)
    if chunk_size is not None and chunk_size != 2 ** (chunk_size.bit_length() - 1):
        raise ValueError(f"`chunk_size` must be a power of 2, got {chunk_size}.")
    _check_varlen(q, initial_state, cu_seqlens)
    return _lightning(q, k, v, layer_idx, num_layers, scale, initial_state,
                      output_final_state, cu_seqlens, chunk_size)


def _lightning(q, k, v, layer_idx, num_layers, scale, initial_state, output_final_state,
               cu_seqlens, chunk_size=None, reverse=False, scan=False):
    H = q.shape[2]
    log_decay = [-(8 / H * (1 - layer_idx / num_layers)) * h for h in range(H)]
    o, final, _ = _recurrence("lightning", {"q": q, "k": k, "v": v}, {"log_decay": log_decay},
                              scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              chunk_size=chunk_size, reverse=reverse, scan=scan)
    return o, final


@_numpy_in_out
def fused_recurrent_lightning_attn(q, k, v, layer_idx, num_layers, scale=None,
                                   initial_state=None, output_final_state=False, reverse=False,
                                   cu_seqlens=None, **kwargs):
    """fla's ``fused_recurrent_lightning_attn``: as ``chunk_lightning_attn``, with
    ``reverse``."""
    _take_kwargs("fused_recurrent_lightning_attn", kwargs, ("head_first",))
    _check_varlen(q, initial_state, cu_seqlens)
    return _lightning(q, k, v, layer_idx, num_layers, scale, initial_state,
                      output_final_state, cu_seqlens, reverse=reverse, scan=True)


# --- GLA -----------------------------------------------------------------------------------

def _gla(q, k, v, gk, gv, scale, initial_state, output_final_state, state_v_first,
         cu_seqlens, reverse=False, o_dtype=None, scan=False):
    if gk is None and gv is None:
        return _simple_gla(q, k, v, None, None, scale, initial_state, output_final_state,
                           state_v_first, cu_seqlens, reverse=reverse, scan=scan)
    if gk is None:  # a value decay alone: the key decay is 0
        gk = _torch.zeros(*q.shape, dtype=_torch.float32)
    tensors = {"q": q, "k": k, "v": v, "gk": gk}
    if gv is not None:
        tensors["gv"] = gv
    o, final, _ = _recurrence("gla", tensors, {}, scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              state_v_first=state_v_first, reverse=reverse, o_dtype=o_dtype,
                              scan=scan)
    return o, final


@_numpy_in_out
def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
              state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None):
    """GLA (fla's ``chunk_gla``): S_t = diag(e^{g_t}) S_{t−1} + k_t v_tᵀ, ``g`` a key-vector
    log-decay ``[B, T, H, K]``; o in v's dtype."""
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    if not q.shape == k.shape == g.shape:
        raise ValueError("q, k, g must have the same shape.")
    if v.shape != (*q.shape[:3], v.shape[-1]):
        raise ValueError("v must be of shape (batch size, seq len, num of head, head dim).")
    return _gla(q, k, v, g, None, scale, initial_state, output_final_state, state_v_first,
                cu_seqlens, o_dtype=v.dtype)


@_numpy_in_out
def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None,
                        output_final_state=False, reverse=False, state_v_first=False,
                        cu_seqlens=None, **kwargs):
    """fla's ``fused_recurrent_gla``: key (``gk``) and/or value (``gv`` ``[B, T, H, V]``)
    log-decays, ``reverse``."""
    _take_kwargs("fused_recurrent_gla", kwargs, ("transpose_state_layout",))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    return _gla(q, k, v, gk, gv, scale, initial_state, output_final_state, state_v_first,
                cu_seqlens, reverse=reverse, scan=True)


# --- delta rules ---------------------------------------------------------------------------

def _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel=False,
                  allow_neg_eigval=False):
    if use_qk_l2norm_in_kernel:
        q, k = _l2norm(q), _l2norm(k)
    if use_beta_sigmoid_in_kernel:
        beta = _beta_sigmoid(beta, allow_neg_eigval)
    return q, k, beta


def _check_beta(beta, v, fn):
    if beta.dim() == v.dim():
        raise NotImplementedError(
            f"{fn}: a per-value-element beta ([B, T, H, V]) is not supported by linrec; "
            "pass one beta per token and head ([B, T, H])")


@_numpy_in_out
def chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False,
                     use_qk_l2norm_in_kernel=False, cu_seqlens=None, cu_seqlens_cpu=None,
                     **kwargs):
    """DeltaNet (fla's ``chunk_delta_rule``): S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,
    ``beta`` ``[B, T, H]``; ``use_qk_l2norm_in_kernel`` L2-normalizes q and k first."""
    _take_kwargs("chunk_delta_rule", kwargs, ("head_first", "chunk_size"))
    if beta.dim() != 3:
        raise ValueError("beta must be of shape (batch size, num of head, seq len).")
    chunk_size = kwargs.pop("chunk_size", 64)
    _check_chunk_size(chunk_size, (16, 32, 64), "`chunk_size` must be 16, 32, or 64, got {}.")
    _check_varlen(q, initial_state, cu_seqlens)
    q, k, beta = _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel)
    o, final, _ = _recurrence("delta", {"q": q, "k": k, "v": v, "beta": beta}, {},
                              scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              chunk_size=chunk_size, o_dtype=v.dtype)
    return o, final


@_numpy_in_out
def fused_recurrent_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                               output_final_state=False, use_qk_l2norm_in_kernel=False,
                               cu_seqlens=None):
    """fla's ``fused_recurrent_delta_rule``: as ``chunk_delta_rule``; ``beta`` defaults to
    ones."""
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    if scale is not None and not scale > 0:
        raise ValueError("scale must be positive")
    if beta is None:
        beta = _torch.ones(q.shape[:3], dtype=_torch.float32)
    _check_beta(beta, v, "fused_recurrent_delta_rule")
    q, k, beta = _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel)
    o, final, _ = _recurrence("delta", {"q": q, "k": k, "v": v, "beta": beta}, {},
                              scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              o_dtype=v.dtype, scan=True)
    return o, final


def _gdn_gate(g, A_log, dt_bias):
    """fla's gate in the kernel: −e^{A_log[h]} softplus(g + dt_bias[h]), per value head."""
    HV = g.shape[2]
    x = g.float()
    if dt_bias is not None:
        x = x + dt_bias.float().reshape(HV)
    return -_torch.exp(A_log.float().reshape(HV)) * _F.softplus(x)


def _kda_gate(g, A_log, dt_bias, lower_bound):
    """fla's KDA gate: lower_bound·σ(e^{A_log[h]} (g + dt_bias[h, :])) with a lower bound
    (σ(g + dt_bias) without A_log), −e^{A_log[h]} softplus(g + dt_bias[h, :]) otherwise."""
    HV, K = g.shape[2], g.shape[3]
    x = g.float()
    if dt_bias is not None:
        x = x + dt_bias.float().reshape(HV, K)
    a = None if A_log is None else _torch.exp(A_log.float().reshape(HV, 1))
    if lower_bound is not None:
        return lower_bound * _torch.sigmoid(x if a is None else a * x)
    return -(a if a is not None else _math.e) * _F.softplus(x)


@_numpy_in_out
def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                           output_final_state=False, use_qk_l2norm_in_kernel=False,
                           use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                           state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None,
                           chunk_indices=None, cp_context=None, **kwargs):
    """Gated DeltaNet (fla's ``chunk_gated_delta_rule``):
    S_t = (I − β_t k_t k_tᵀ) e^{g_t} S_{t−1} + β_t k_t v_tᵀ, ``g`` and ``beta``
    ``[B, T, HV]``, v ``[B, T, HV, V]`` with HV a multiple of q's heads (grouped value
    heads). kwargs as fla: ``use_gate_in_kernel`` with ``A_log`` ``[HV]`` and ``dt_bias``
    ``[HV]`` (g ← −e^{A_log} softplus(g + dt_bias)), ``chunk_size`` (16, 32 or 64)."""
    _take_kwargs("chunk_gated_delta_rule", kwargs,
                 ("transpose_state_layout", "head_first", "chunk_size", "use_gate_in_kernel",
                  "A_log", "dt_bias"))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    q, k = _grouped(q, k, v)
    chunk_size = kwargs.pop("chunk_size", 64)
    _check_chunk_size(chunk_size, (16, 32, 64),
                      "`chunk_size` must be 16, 32, or 64 for Gated Delta Rule, got {}.")
    if cp_context is not None:
        raise NotImplementedError("chunk_gated_delta_rule: cp_context (context parallelism) "
                                  "is not supported by linrec")
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    if kwargs.get("use_gate_in_kernel", False):
        if kwargs.get("A_log") is None:
            raise ValueError("A_log must be provided when use_gate_in_kernel=True.")
        g = _gdn_gate(g, kwargs["A_log"], kwargs.get("dt_bias"))
    if allow_neg_eigval and not use_beta_sigmoid_in_kernel:
        raise ValueError("`allow_neg_eigval=True` requires `use_beta_sigmoid_in_kernel=True`.")
    q, k, beta = _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                               allow_neg_eigval)
    o, final, _ = _recurrence("gated_delta", {"q": q, "k": k, "v": v, "g": g, "beta": beta},
                              {}, scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              state_v_first=state_v_first, chunk_size=chunk_size,
                              o_dtype=v.dtype)
    return o, final


@_numpy_in_out
def fused_recurrent_gated_delta_rule(q, k, v, g=None, gk=None, gv=None, beta=None, scale=None,
                                     initial_state=None, output_final_state=False,
                                     use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                                     A_log=None, dt_bias=None,
                                     use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                                     state_v_first=False, cu_seqlens=None,
                                     ssm_state_indices=None, inplace_final_state=True,
                                     **kwargs):
    """fla's ``fused_recurrent_gated_delta_rule`` (the decode step): a scalar ``g``
    and/or a key-vector ``gk`` log-decay (``gv`` is not supported), ``beta`` ``[B, T, HV]``
    (ones when None), grouped value heads, the gate and β activations as in
    ``chunk_gated_delta_rule``. Unlike fla's, it is differentiable.

    Continuous batching (vLLM's arguments): with ``ssm_state_indices`` ``[N]`` (int32/int64),
    ``initial_state`` is a pool ``[num_slots, HV, K, V]`` (float32, contiguous): sequence n
    starts from slot ``ssm_state_indices[n]`` and its final state is written back there, in
    the pool itself with ``inplace_final_state`` (the default; no other slot is touched and
    nothing is allocated for states), else in an updated copy. The second result is then
    the pool. The indices must be distinct and in range (ValueError otherwise), except that a
    negative one (vLLM's PAD_SLOT_ID) marks a padding entry: not computed, its ``o`` zeros,
    no slot touched. This form is not differentiable."""
    _take_kwargs("fused_recurrent_gated_delta_rule", kwargs, ("transpose_state_layout",))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    pooled = ssm_state_indices is not None  # initial_state is then a pool, not [N, ...]
    _check_varlen(q, None if pooled else initial_state, cu_seqlens, space=False)
    q, k = _grouped(q, k, v)
    if beta is None:
        beta = _torch.ones(v.shape[:3], dtype=_torch.float32)
    _check_beta(beta, v, "fused_recurrent_gated_delta_rule")
    if use_gate_in_kernel:
        if A_log is None:
            raise ValueError("`A_log` must be provided when `use_gate_in_kernel=True`.")
        if g is None:
            raise ValueError(
                "`g` (raw pre-activation) must be provided when `use_gate_in_kernel=True`.")
        g = _gdn_gate(g, A_log, dt_bias)
    if allow_neg_eigval and not use_beta_sigmoid_in_kernel:
        raise ValueError("`allow_neg_eigval=True` requires `use_beta_sigmoid_in_kernel=True`.")
    if gv is not None:
        raise NotImplementedError("fused_recurrent_gated_delta_rule: a value-vector decay "
                                  "(gv) with the delta rule is not supported by linrec")
    q, k, beta = _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                               allow_neg_eigval)
    tensors = {"q": q, "k": k, "v": v, "beta": beta}
    _check_shapes({**tensors, "g": g, "gk": gk}, None if pooled else initial_state, cu_seqlens,
                  state_v_first)
    if gk is not None:  # key decays: KDA's recurrence, the scalar decay added to each row's
        tensors["gk"] = gk.float() + (0 if g is None else g.float().unsqueeze(-1))
        model = "kda"
    elif g is not None:
        tensors["g"] = g
        model = "gated_delta"
    else:
        model = "delta"
    o, final, _ = _recurrence(model, tensors, {}, scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              state_v_first=state_v_first, o_dtype=v.dtype, scan=True,
                              state_indices=ssm_state_indices,
                              inplace_final_state=inplace_final_state)
    return o, final


def _kda(q, k, v, g, beta, scale, initial_state, output_final_state, use_qk_l2norm_in_kernel,
         use_gate_in_kernel, A_log, dt_bias, lower_bound, use_beta_sigmoid_in_kernel,
         allow_neg_eigval, state_v_first, cu_seqlens, chunk_size=None, scan=False,
         state_indices=None, inplace_final_state=True):
    if use_gate_in_kernel:
        g = _kda_gate(g, A_log, dt_bias, lower_bound)
    q, k, beta = _delta_inputs(q, k, beta, use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                               allow_neg_eigval)
    o, final, _ = _recurrence("kda", {"q": q, "k": k, "v": v, "gk": g, "beta": beta}, {},
                              scale=scale, initial_state=initial_state,
                              output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                              state_v_first=state_v_first, chunk_size=chunk_size, scan=scan,
                              state_indices=state_indices,
                              inplace_final_state=inplace_final_state)
    return o, final


@_numpy_in_out
def chunk_kda(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
              use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, safe_gate=False,
              lower_bound=None, disable_recompute=False, return_intermediate_states=False,
              state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None, cp_context=None,
              **kwargs):
    """KDA (fla's ``chunk_kda``): S_t = (I − β_t k_t k_tᵀ) diag(e^{g_t}) S_{t−1} + β_t k_t v_tᵀ,
    ``g`` ``[B, T, HV, K]``, ``beta`` ``[B, T, HV]``, grouped value heads. With
    ``use_gate_in_kernel`` (kwargs ``A_log`` ``[HV]``, ``dt_bias`` ``[HV·K]``) g is fla's gate
    (``lower_bound``·σ(e^{A_log}(g + dt_bias)) when ``lower_bound`` is set, else
    −e^{A_log} softplus(g + dt_bias)). ``safe_gate`` and ``disable_recompute`` choose fla
    kernels and change nothing here. ``return_intermediate_states`` (inference mode) also
    returns the state before each chunk of ``chunk_size`` tokens, ``[B, NT, HV, K, V]``."""
    _take_kwargs("chunk_kda", kwargs, ("transpose_state_layout", "chunk_size", "A_log",
                                       "dt_bias", "head_first", "chunk_indices"))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    if cp_context is not None:
        raise NotImplementedError("chunk_kda: cp_context (context parallelism) is not "
                                  "supported by linrec")
    _check_varlen(q, initial_state, cu_seqlens, space=False)
    A_log = dt_bias = None
    if use_gate_in_kernel:
        A_log, dt_bias = kwargs.get("A_log"), kwargs.get("dt_bias")
        if A_log is None and lower_bound is None:
            raise ValueError("`A_log` must be provided when `use_gate_in_kernel=True` and "
                             "`lower_bound` is not set.")
    chunk_size = kwargs.pop("chunk_size", 64)
    _check_chunk_size(chunk_size, (32, 64),
                      "`chunk_size` must be either 32 or 64 for KDA, got {}.")
    if safe_gate and use_gate_in_kernel:
        if lower_bound is None:
            raise ValueError("`lower_bound` must be specified when `safe_gate=True` and "
                             "`use_gate_in_kernel=True`.")
        if not -5 <= lower_bound < 0:
            raise ValueError(f"`lower_bound` must be in the safe range [-5, 0), got {lower_bound}.")
    if allow_neg_eigval and not use_beta_sigmoid_in_kernel:
        raise ValueError("`allow_neg_eigval=True` requires `use_beta_sigmoid_in_kernel=True`.")
    B, T, H, K = q.shape
    HV = v.shape[2]
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same shape, got q={q.shape} vs k={k.shape}")
    if HV % H != 0:
        raise ValueError(f"For GVA, num_v_heads (HV={HV}) must be evenly divisible by "
                         f"num_qk_heads (H={H}), but got HV % H = {HV % H}")
    if tuple(g.shape) != (B, T, HV, K):
        raise ValueError(f"g must have shape [B, T, HV, K]={[B, T, HV, K]}, got {list(g.shape)}")
    if tuple(beta.shape) != (B, T, HV):
        raise ValueError(f"beta must have shape [B, T, HV]={[B, T, HV]}, got {list(beta.shape)}")
    q, k = _grouped(q, k, v)
    args = (scale, use_qk_l2norm_in_kernel, use_gate_in_kernel, A_log, dt_bias, lower_bound,
            use_beta_sigmoid_in_kernel, allow_neg_eigval, state_v_first)
    if return_intermediate_states:
        if not _torch.is_inference_mode_enabled():
            raise RuntimeError("return_intermediate_states is only allowed in inference mode")
        if disable_recompute:
            raise RuntimeError("return_intermediate_states must be used with "
                               "disable_recompute=False")
        return _kda_with_chunk_states(q, k, v, g, beta, initial_state, output_final_state,
                                      cu_seqlens, chunk_size, args)
    o, final = _kda(q, k, v, g, beta, scale, initial_state, output_final_state,
                    *args[1:], cu_seqlens, chunk_size)
    return o.to(q.dtype), final


def _kda_with_chunk_states(q, k, v, g, beta, initial_state, output_final_state, cu_seqlens,
                           chunk_size, args):
    """chunk_kda's outputs and the state before each chunk: the sequence run chunk by chunk,
    each chunk from the state the one before left."""
    scale, l2, gate, A_log, dt_bias, lower_bound, sigmoid, neg, state_v_first = args
    HV, K, V = v.shape[2], k.shape[3], v.shape[3]
    bounds = ([(b, 0, q.shape[1]) for b in range(q.shape[0])] if cu_seqlens is None else
              [(0, int(s), int(e)) for s, e in zip(cu_seqlens[:-1], cu_seqlens[1:])])
    o = _torch.zeros(v.shape, dtype=q.dtype)
    finals, states = [], []
    for n, (b, start, end) in enumerate(bounds):
        state = (_torch.zeros(1, HV, V, K) if state_v_first else _torch.zeros(1, HV, K, V)) \
            if initial_state is None else initial_state[n:n + 1].float()
        for c in range(start, end, chunk_size):
            states.append(state[0])
            part = slice(c, min(c + chunk_size, end))
            o_part, state = _kda(q[b:b + 1, part], k[b:b + 1, part], v[b:b + 1, part],
                                 g[b:b + 1, part], beta[b:b + 1, part], scale, state, True,
                                 l2, gate, A_log, dt_bias, lower_bound, sigmoid, neg,
                                 state_v_first, None)
            o[b, part] = o_part[0].to(o.dtype)
        finals.append(state[0])
    per_row = len(states) // len(bounds) if cu_seqlens is None else len(states)
    h = _torch.stack(states).to(k.dtype)
    h = h.view(q.shape[0] if cu_seqlens is None else 1, per_row, *h.shape[1:])
    final = _torch.stack(finals) if output_final_state else None
    return o, final, h


@_numpy_in_out
def fused_recurrent_kda(q, k, v, g, beta, A_log=None, dt_bias=None, scale=None,
                        initial_state=None, output_final_state=False,
                        use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                        lower_bound=None, state_v_first=False, cu_seqlens=None,
                        ssm_state_indices=None, inplace_final_state=True, **kwargs):
    """fla's ``fused_recurrent_kda`` (the decode step): as ``chunk_kda`` with ``A_log``
    and ``dt_bias`` as parameters (without A_log, fla's kernel takes e^{1}: so does this).
    Unlike fla's, it is differentiable. ``ssm_state_indices`` and ``inplace_final_state``:
    the states in a pool, as in ``fused_recurrent_gated_delta_rule``."""
    _take_kwargs("fused_recurrent_kda", kwargs, ("transpose_state_layout", "safe_gate"))
    state_v_first = _state_layout_alias(state_v_first, kwargs)
    pooled = ssm_state_indices is not None  # initial_state is then a pool, not [N, ...]
    _check_varlen(q, None if pooled else initial_state, cu_seqlens, space=False)
    if allow_neg_eigval and not use_beta_sigmoid_in_kernel:
        raise ValueError("`allow_neg_eigval=True` requires `use_beta_sigmoid_in_kernel=True`.")
    _check_beta(beta, v, "fused_recurrent_kda")
    q, k = _grouped(q, k, v)
    o, final = _kda(q, k, v, g, beta, scale, initial_state, output_final_state,
                    use_qk_l2norm_in_kernel, use_gate_in_kernel, A_log, dt_bias, lower_bound,
                    use_beta_sigmoid_in_kernel, allow_neg_eigval, state_v_first, cu_seqlens,
                    scan=True, state_indices=ssm_state_indices,
                    inplace_final_state=inplace_final_state)
    return o.to(v.dtype), final
