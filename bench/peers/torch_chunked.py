"""The chunked forward algorithms of ../shared/DESIGN.md §2 written in plain PyTorch: the peer
linrec's kernels are measured against (bench/peers/peers.py) and the forward that
bench/torch/backward_vs_torch.py differentiates with autograd.

Every function takes fla's layout, q, k [B, T, H, dk], v [B, T, H, dv], natural-log decays,
and returns o [B, T, H, dv] (contiguous, float32) with o_t = S_tᵀ (scale · q_t), S_0 = 0:

    chunk_linear       S_t = S_{t−1} + k_t v_tᵀ
    chunk_lightning    S_t = e^{λ_h} S_{t−1} + k_t v_tᵀ              log_decay λ [H]
    chunk_simple_gla   S_t = e^{g_t} S_{t−1} + k_t v_tᵀ              g [B, T, H]
    chunk_gla          S_t = diag(e^{g_t}) S_{t−1} + k_t v_tᵀ        g [B, T, H, dk]
    chunk_delta        S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ
    chunk_gated_delta  as delta with e^{g_t} S_{t−1}                 g [B, T, H]
    chunk_kda          as delta with diag(e^{g_t}) S_{t−1}           g [B, T, H, dk]

How PyTorch is given its best: no Python loop per token; per chunk a handful of batched ops
over all heads (the in-chunk attention matrix with its decays, one batched triangular solve for
the delta rule's WY transform, the state carried from chunk to chunk in one [B·H, dk, dv]
tensor), with baddbmm fusing the adds, the decays of a constant-decay family built once, and
intermediates small enough to stay in cache (_blocked says why a chunk at a time).
The functions are differentiable (autograd); the benchmark calls them under
torch.inference_mode.

Numerics: the scalar decays use e^{b_i − b_j} (never a positive exponent). The key-vector
decays (gla, kda) factor it as (q ⊙ e^{b})(k ⊙ e^{−b})ᵀ, exact while a chunk's cumulative
log-decay stays above about −80 (float32's e^{88}); fla's PyTorch reference does the same.

Run `bench/peers/test_torch_chunked.py` to check them against linrec.
"""
import functools

import torch

CHUNK = 64
BLOCK = 1  # chunks per block (see _blocked)


# --- layout and blocking ----------------------------------------------------------------------

def _to_chunks(x, chunk):
    """[B, T, H, *d] → [N, B·H, C, *d] (T zero-padded to N·C): the chunk index leads, so the
    state loop slices contiguous blocks, and (B·H, C) are one batch dimension for matmuls.
    Zero padding is exact: a padded token has k = v = 0, no decay and β = 0."""
    B, T, H = x.shape[:3]
    pad = -T % chunk
    if pad:
        x = torch.nn.functional.pad(x, (0, 0) * (x.dim() - 3) + (0, 0, 0, pad))
    n = (T + pad) // chunk
    x = x.reshape(B, n, chunk, H, *x.shape[3:])
    x = x.movedim(3, 2).movedim(0, 1)  # [N, B, H, C, *d]
    return x.reshape(n, B * H, chunk, *x.shape[4:])


def _blocked(step, inputs, dv, chunk, block):
    """Runs `step` (chunked inputs of one block and the state before it → the block's
    [N, BH, C, dv] outputs and the state after it) over the sequence, `block` chunks at a
    time, into o [B, T, H, dv].

    Why one chunk by default: batching the in-chunk work over many chunks streams every
    intermediate through memory, a chunk at a time keeps them in cache. Measured on the 2-core
    AVX-512 VM (1 thread, median of 5 interleaved): 1 chunk per block 42.6 ms (linear),
    100 ms (gated delta) at T = 4096, d = 128 and 4.7, 16.5 ms at T = 1024, d = 64; 2, 4 and
    16 chunks were 5–80% slower, all 64 chunks at once 1.5× (T = 4096)."""
    q = inputs[0]
    B, T, H, dk = q.shape
    padded = -(-T // chunk) * chunk
    o = q.new_empty(B, padded, H, dv)
    state = q.new_zeros(B * H, dk, dv)
    span = chunk * block
    for start in range(0, T, span):
        o_part, state = step(*(_to_chunks(x[:, start:start + span], chunk) for x in inputs),
                             state)
        n = o_part.shape[0]
        o[:, start:start + n * chunk].unflatten(1, (n, chunk)).copy_(
            o_part.unflatten(1, (B, H)).permute(1, 0, 3, 2, 4))
    return o if padded == T else o[:, :T].contiguous()


def _causal(chunk):
    return torch.ones(chunk, chunk, dtype=torch.bool).tril()


def _scalar_gamma(b, mask):
    """Γ_ij = e^{b_i − b_j} for j ≤ i (mask), 0 elsewhere; b [..., C] cumulative log-decays.
    The exponent is masked to −inf before exp, so no positive exponent is ever taken."""
    return torch.exp((b[..., :, None] - b[..., None, :]).masked_fill(~mask, float("-inf")))


# --- the state recurrence across chunks -------------------------------------------------------

def _stack(outputs):
    """The chunks' outputs as [N, BH, C, dv]; a single chunk (the default block) without a
    copy."""
    return outputs[0].unsqueeze(0) if len(outputs) == 1 else torch.stack(outputs)


def _diagonal_output(attention, q_decayed, k_tail, v, decay, scale, state):
    """O_c = scale · (A_c V_c + (Q ⊙ e^{b})_c S_c) for a block's chunks: the in-chunk A V in one
    batched matmul, then the loop over chunks carries the state,
    S_{c+1} = decay_c ⊙ S_c + (K ⊙ e^{b_last − b})_cᵀ V_c (decay None: no decay), and adds each
    chunk's read of it. Returns (O, the state after the block)."""
    av = torch.matmul(attention, v)
    k_tail_t = k_tail.transpose(-1, -2)
    outputs = []
    for c in range(v.shape[0]):
        outputs.append(torch.baddbmm(av[c], q_decayed[c], state, beta=scale, alpha=scale))
        carried = state if decay is None else decay[c] * state
        state = torch.baddbmm(carried, k_tail_t[c], v[c])
    return _stack(outputs), state


def _delta_output(qk, kk, q_decayed, k_decayed, k_tail, v, beta, decay, scale, state):
    """The delta rule's chunked WY form (DESIGN.md §2) for a block's chunks: per chunk
    T = (I + strict_lower(diag(β) KK))⁻¹ diag(β) (KK: the decayed K Kᵀ) by one batched
    triangular solve (on a C × C right-hand side, then two matmuls: 102 ms against 120 ms for
    solving for the dk + dv columns directly, gated delta at T = 4096, d = 128), W = T (K ⊙ e^{b})
    and U = T V; then the loop over chunks carries the
    state: U'_c = U_c − W_c S_c, O_c = scale · ((Q ⊙ e^{b})_c S_c + (QKᵀ)_c U'_c),
    S_{c+1} = decay_c ⊙ S_c + (K ⊙ e^{b_last − b})_cᵀ U'_c.
    qk, kk: [N, BH, C, C] decayed and masked (causal, strictly lower); decay None: no decay.
    Returns (O, the state after the block)."""
    lower = beta[..., :, None] * kk
    transform = torch.linalg.solve_triangular(lower, torch.diag_embed(beta), upper=False,
                                              unitriangular=True)
    w, u = torch.matmul(transform, k_decayed), torch.matmul(transform, v)
    k_tail_t = k_tail.transpose(-1, -2)
    outputs = []
    for c in range(v.shape[0]):
        corrected = torch.baddbmm(u[c], w[c], state, alpha=-1.0)
        outputs.append(torch.baddbmm(torch.bmm(qk[c], corrected), q_decayed[c], state,
                                     beta=scale, alpha=scale))
        carried = state if decay is None else decay[c] * state
        state = torch.baddbmm(carried, k_tail_t[c], corrected)
    return _stack(outputs), state


# --- the decay forms --------------------------------------------------------------------------

def _scalar_decay_terms(g):
    """From chunked scalar log-decays g [N, BH, C]: Γ (causal) [N, BH, C, C], e^{b} and
    e^{b_last − b} [N, BH, C, 1], and the chunk's decay e^{b_last} [N, BH, 1, 1]."""
    b = torch.cumsum(g, dim=-1)
    last = b[..., -1:]
    gamma = _scalar_gamma(b, _causal(g.shape[-1]))
    return (gamma, torch.exp(b)[..., None], torch.exp(last - b)[..., None],
            torch.exp(last)[..., None])


def _vector_decay_terms(g, q, k):
    """From chunked key-vector log-decays g [N, BH, C, dk]: Q ⊙ e^{b}, K ⊙ e^{−b},
    K ⊙ e^{b}, K ⊙ e^{b_last − b} and the chunk's decay e^{b_last} [N, BH, dk, 1]."""
    b = torch.cumsum(g, dim=-2)
    last = b[..., -1:, :]
    up, down = torch.exp(b), torch.exp(-b)
    return q * up, k * down, k * up, k * torch.exp(last - b), torch.exp(last).transpose(-1, -2)


def _lightning_terms(log_decay, B, chunk):
    """Lightning's decay matrices, the same for every chunk: Γ = e^{λ(i−j)} (causal)
    [BH, C, C], e^{λ(i+1)} and e^{λ(C−1−j)} [BH, C, 1], the chunk's decay e^{λC} [BH, 1, 1]."""
    lam = log_decay.to(torch.float32).repeat(B)  # per B·H row, head-minor as _to_chunks lays it
    i = torch.arange(chunk, dtype=torch.float32)
    gamma = torch.exp((lam[:, None, None] * (i[:, None] - i[None, :]))
                      .masked_fill(~_causal(chunk), float("-inf")))
    q_decay = torch.exp(lam[:, None] * (i + 1))[..., None]
    k_decay = torch.exp(lam[:, None] * (chunk - 1 - i))[..., None]
    return gamma, q_decay, k_decay, torch.exp(lam * chunk)[:, None, None]


# --- one block of each family -----------------------------------------------------------------

def _linear_step(qc, kc, vc, state, scale):
    attention = torch.matmul(qc, kc.transpose(-1, -2)).tril()
    return _diagonal_output(attention, qc, kc, vc, None, scale, state)


def _lightning_step(qc, kc, vc, state, scale, terms):
    gamma, q_decay, k_decay, decay = terms
    attention = torch.matmul(qc, kc.transpose(-1, -2)) * gamma
    decay = decay.expand(qc.shape[0], -1, -1, -1)
    return _diagonal_output(attention, qc * q_decay, kc * k_decay, vc, decay, scale, state)


def _simple_gla_step(qc, kc, vc, gc, state, scale):
    gamma, q_decay, k_decay, decay = _scalar_decay_terms(gc)
    attention = torch.matmul(qc, kc.transpose(-1, -2)) * gamma
    return _diagonal_output(attention, qc * q_decay, kc * k_decay, vc, decay, scale, state)


def _gla_step(qc, kc, vc, gc, state, scale):
    q_up, k_down, _, k_tail, decay = _vector_decay_terms(gc, qc, kc)
    attention = torch.matmul(q_up, k_down.transpose(-1, -2)).tril()
    return _diagonal_output(attention, q_up, k_tail, vc, decay, scale, state)


def _delta_step(qc, kc, vc, bc, state, scale):
    qk = torch.matmul(qc, kc.transpose(-1, -2)).tril()
    kk = torch.matmul(kc, kc.transpose(-1, -2)).tril(-1)
    return _delta_output(qk, kk, qc, kc, kc, vc, bc, None, scale, state)


def _gated_delta_step(qc, kc, vc, gc, bc, state, scale):
    gamma, q_decay, k_decay, decay = _scalar_decay_terms(gc)
    qk = torch.matmul(qc, kc.transpose(-1, -2)) * gamma
    kk = (torch.matmul(kc, kc.transpose(-1, -2)) * gamma).tril(-1)
    k_up = kc * q_decay  # K ⊙ e^{b}: q's decay factor
    return _delta_output(qk, kk, qc * q_decay, k_up, kc * k_decay, vc, bc, decay, scale, state)


def _kda_step(qc, kc, vc, gc, bc, state, scale):
    q_up, k_down, k_up, k_tail, decay = _vector_decay_terms(gc, qc, kc)
    qk = torch.matmul(q_up, k_down.transpose(-1, -2)).tril()
    kk = torch.matmul(k_up, k_down.transpose(-1, -2)).tril(-1)
    return _delta_output(qk, kk, q_up, k_up, k_tail, vc, bc, decay, scale, state)


# --- the families -----------------------------------------------------------------------------

def chunk_linear(q, k, v, scale, chunk=CHUNK, block=BLOCK):
    """Linear attention, no normalizer."""
    step = functools.partial(_linear_step, scale=scale)
    return _blocked(step, (q, k, v), v.shape[-1], chunk, block)


def chunk_lightning(q, k, v, log_decay, scale, chunk=CHUNK, block=BLOCK):
    """Lightning attention (TNL / RetNet): a constant log-decay λ_h per head ([H]), so the
    decay matrices are built once, not per chunk."""
    terms = _lightning_terms(log_decay, q.shape[0], chunk)
    step = functools.partial(_lightning_step, scale=scale, terms=terms)
    return _blocked(step, (q, k, v), v.shape[-1], chunk, block)


def chunk_simple_gla(q, k, v, g, scale, chunk=CHUNK, block=BLOCK):
    """Simple GLA: a scalar log-decay per token and head, g [B, T, H]."""
    step = functools.partial(_simple_gla_step, scale=scale)
    return _blocked(step, (q, k, v, g), v.shape[-1], chunk, block)


def chunk_gla(q, k, v, g, scale, chunk=CHUNK, block=BLOCK):
    """GLA: a key-vector log-decay g [B, T, H, dk]."""
    step = functools.partial(_gla_step, scale=scale)
    return _blocked(step, (q, k, v, g), v.shape[-1], chunk, block)


def chunk_delta(q, k, v, beta, scale, chunk=CHUNK, block=BLOCK):
    """DeltaNet: β [B, T, H], no decay (keys are expected L2-normalized, as DeltaNet's are)."""
    step = functools.partial(_delta_step, scale=scale)
    return _blocked(step, (q, k, v, beta), v.shape[-1], chunk, block)


def chunk_gated_delta(q, k, v, g, beta, scale, chunk=CHUNK, block=BLOCK):
    """Gated DeltaNet: a scalar log-decay g [B, T, H] and β [B, T, H]."""
    step = functools.partial(_gated_delta_step, scale=scale)
    return _blocked(step, (q, k, v, g, beta), v.shape[-1], chunk, block)


def chunk_kda(q, k, v, g, beta, scale, chunk=CHUNK, block=BLOCK):
    """KDA: the delta rule with a key-vector log-decay g [B, T, H, dk] and β [B, T, H]."""
    step = functools.partial(_kda_step, scale=scale)
    return _blocked(step, (q, k, v, g, beta), v.shape[-1], chunk, block)
