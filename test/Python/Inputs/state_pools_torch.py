"""fused_recurrent_gated_delta_rule with vLLM's continuous-batching arguments on torch tensors:
the pool updated in place (same storage, untouched slots bit-identical), an updated copy with
inplace_final_state=False, varlen with int64 indices, bf16 inputs, grouped value heads,
padding entries (negative slots), and the errors."""

import torch
import torch.nn.functional as F

from linrec import ops

torch.manual_seed(0)
H, HV, K, V, SLOTS = 2, 4, 16, 16, 8


def naive(q, k, v, g, beta, S):
    """The gated delta rule in float64, token by token: q, k [T, HV, K], v [T, HV, V],
    g, beta [T, HV], S [HV, K, V]; returns (o [T, HV, V], S)."""
    q, k, v, g, beta, S = (x.double() for x in (q, k, v, g, beta, S))
    o = torch.zeros(v.shape, dtype=torch.float64)
    for t in range(q.shape[0]):
        S = S * g[t].exp()[:, None, None]
        u = beta[t][:, None] * (v[t] - torch.einsum("hkv,hk->hv", S, k[t]))
        S = S + torch.einsum("hk,hv->hkv", k[t], u)
        o[t] = torch.einsum("hkv,hk->hv", S, q[t] * K ** -0.5)
    return o, S


def inputs(B, T, dtype=torch.float32):
    q = torch.randn(B, T, H, K, dtype=dtype)
    k = F.normalize(torch.randn(B, T, H, K), dim=-1).to(dtype)
    v = torch.randn(B, T, HV, V, dtype=dtype)
    g = -torch.rand(B, T, HV)
    beta = torch.rand(B, T, HV)
    return q, k, v, g, beta


def expected(q, k, v, g, beta, pool, indices, cu=None):
    pool = pool.double().clone()
    qk = [x.repeat_interleave(HV // H, dim=2) for x in (q, k)]
    o = torch.zeros(v.shape, dtype=torch.float64)
    spans = [(n, 0, q.shape[1]) for n in range(q.shape[0])] if cu is None else \
        [(0, int(cu[n]), int(cu[n + 1])) for n in range(len(cu) - 1)]
    for n, (row, a, b) in enumerate(spans):
        slot = int(indices[n])
        o[row, a:b], pool[slot] = naive(qk[0][row, a:b], qk[1][row, a:b], v[row, a:b],
                                        g[row, a:b], beta[row, a:b], pool[slot])
    return o, pool


def rel(a, b):
    return float((a.double() - b).norm() / b.norm().clamp_min(1e-30))


def report(label, ok, detail=""):
    print(f"{label}: {'ok' if ok else 'FAILED ' + str(detail)}")


# In place: the returned state is the pool itself; slots not named keep their bits.
pool = torch.randn(SLOTS, HV, K, V) * 0.3
before, storage = pool.clone(), pool.data_ptr()
q, k, v, g, beta = inputs(3, 1)
idx = torch.tensor([6, 1, 3], dtype=torch.int32)
want_o, want_pool = expected(q, k, v, g, beta, before, idx)
o, final = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                                ssm_state_indices=idx)
untouched = [s for s in range(SLOTS) if s not in idx.tolist()]
report("in place", final is pool and pool.data_ptr() == storage and rel(o, want_o) < 2e-5
       and rel(pool, want_pool) < 2e-5 and torch.equal(pool[untouched], before[untouched]),
       (rel(o, want_o), rel(pool, want_pool)))

# Out of place: the pool is not touched, the updated copy comes back.
before = pool.clone()
q, k, v, g, beta = inputs(2, 1)
idx = torch.tensor([0, 5])
want_o, want_pool = expected(q, k, v, g, beta, before, idx)
o, final = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                                ssm_state_indices=idx,
                                                inplace_final_state=False)
report("copy", torch.equal(pool, before) and final is not pool and rel(o, want_o) < 2e-5
       and rel(final, want_pool) < 2e-5)

# Packed sequences (a prefill chunk of several requests), int64 indices, an empty sequence.
cu = torch.tensor([0, 5, 5, 12], dtype=torch.int64)
q, k, v, g, beta = inputs(1, 12)
idx = torch.tensor([2, 7, 4], dtype=torch.int64)
before = pool.clone()
want_o, want_pool = expected(q, k, v, g, beta, before, idx, cu)
o, _ = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                            ssm_state_indices=idx, cu_seqlens=cu)
report("varlen", rel(o, want_o) < 2e-5 and rel(pool, want_pool) < 2e-5)

# bf16 tokens: o in bf16, the pool stays float32.
q, k, v, g, beta = inputs(2, 1, torch.bfloat16)
idx = torch.tensor([3, 0], dtype=torch.int32)
want_o, want_pool = expected(q, k, v, g, beta, pool.clone(), idx)
o, _ = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                            ssm_state_indices=idx)
report("bf16", o.dtype == torch.bfloat16 and pool.dtype == torch.float32
       and rel(o.float(), want_o) < 1e-2 and rel(pool, want_pool) < 1e-5)


# Padding entries (vLLM's PAD_SLOT_ID = -1, the rows a CUDA graph's fixed batch adds): not
# computed, o zeros, no slot touched; the other sequences as if alone.
q, k, v, g, beta = inputs(4, 1)
idx = torch.tensor([5, -1, 2, -1], dtype=torch.int32)
before = pool.clone()
keep = torch.tensor([0, 2])
want_o, want_pool = expected(q[keep], k[keep], v[keep], g[keep], beta[keep], before, idx[keep])
o, final = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                                ssm_state_indices=idx)
untouched = [s for s in range(SLOTS) if s not in (5, 2)]
report("padding", final is pool and not o[[1, 3]].any() and rel(o[keep], want_o) < 2e-5
       and rel(pool, want_pool) < 2e-5 and torch.equal(pool[untouched], before[untouched]))

# Packed sequences with a padding one between two others, out of place.
cu = torch.tensor([0, 3, 4, 9], dtype=torch.int32)
q, k, v, g, beta = inputs(1, 9)
idx = torch.tensor([1, -1, 6])
before = pool.clone()
tokens = torch.tensor([0, 1, 2, 4, 5, 6, 7, 8])
pick = [x[:, tokens] for x in (q, k, v, g, beta)]
want_o, want_pool = expected(*pick, before, idx[[0, 2]], torch.tensor([0, 3, 8]))
o, final = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                                ssm_state_indices=idx, cu_seqlens=cu,
                                                inplace_final_state=False)
report("varlen padding", torch.equal(pool, before) and not o[:, 3].any()
       and rel(o[:, tokens], want_o) < 2e-5 and rel(final, want_pool) < 2e-5)

# A batch of padding only: nothing runs, nothing changes.
q, k, v, g, beta = inputs(2, 1)
o, final = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=pool,
                                                ssm_state_indices=torch.tensor([-1, -1]))
report("all padding", final is pool and torch.equal(pool, before) and not o.any())

def attempt(label, call):
    try:
        call()
        print(f"{label}: ran")
    except (ValueError, TypeError) as e:
        print(f"{label}: {type(e).__name__}: {e}")


q, k, v, g, beta = inputs(2, 1)
run = ops.fused_recurrent_gated_delta_rule
attempt("repeated slot", lambda: run(q, k, v, g=g, beta=beta, initial_state=pool,
                                     ssm_state_indices=torch.tensor([1, 1])))
attempt("no pool", lambda: run(q, k, v, g=g, beta=beta, ssm_state_indices=torch.tensor([1, 2])))
attempt("f16 pool", lambda: run(q, k, v, g=g, beta=beta, initial_state=pool.half(),
                                ssm_state_indices=torch.tensor([1, 2])))
attempt("pool shape", lambda: run(q, k, v, g=g, beta=beta, initial_state=pool[:, :2],
                                  ssm_state_indices=torch.tensor([1, 2])))
attempt("float indices", lambda: run(q, k, v, g=g, beta=beta, initial_state=pool,
                                     ssm_state_indices=torch.tensor([1.0, 2.0])))

# KDA (Kimi Linear's decode step): key-vector decays on a pool.
kpool = torch.randn(SLOTS, HV, K, V) * 0.3
before = kpool.clone()
q, k, v, _, beta = inputs(2, 1)
gk = -torch.rand(2, 1, HV, K)
idx = torch.tensor([4, 2], dtype=torch.int32)
o, final = ops.fused_recurrent_kda(q, k, v, gk, beta, initial_state=kpool, ssm_state_indices=idx)
# The same step on gathered states, through the plain (per-sequence) op.
ref_o, ref_s = ops.fused_recurrent_kda(q, k, v, gk, beta, initial_state=before[idx.long()],
                                       output_final_state=True)
untouched = [s for s in range(SLOTS) if s not in idx.tolist()]
report("kda in place", final is kpool and rel(o, ref_o.double()) < 1e-6
       and rel(kpool[idx.long()], ref_s.double()) < 1e-6
       and torch.equal(kpool[untouched], before[untouched]))
