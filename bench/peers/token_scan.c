/* The token-by-token recurrence as CPU inference engines run it (llama.cpp's ggml
 * gated-delta-net and rwkv wkv ops): one (batch, head) per OpenMP work item, its state
 * S [dk][dv] (key-major) kept in a private buffer that stays in L1/L2, and per token
 *
 *   decay   S_i ← a_i S_i            (a_i = 1, e^{λ_h}, e^{g_t} or e^{g_t,i}: none, per head,
 *                                     per token, per key row)
 *   delta   u = β_t (v_t − Sᵀ k_t)   (the correction, on the decayed state; u = v_t otherwise)
 *   update  S_i ← S_i + k_t,i u
 *   read    o_t = scale · Sᵀ q_t
 *
 * fused into as few passes over S as the recurrence allows: one per token without the delta
 * rule (decay, update and read row by row), two with it (decay with Sᵀk, then update with the
 * read). Tensors are fla's layout: q, k [B, T, H, dk], v, o [B, T, H, dv], per-token gates
 * [B, T, H] or [B, T, H, dk], per-head decays [H]; the final state (optional) [B, H, dk, dv].
 *
 * Built at run time by token_scan.py (cc -O3 -march=native -fopenmp -shared -fPIC). */
#include <stdlib.h>
#include <string.h>
#include <math.h>

enum { DECAY_NONE = 0, DECAY_HEAD = 1, DECAY_TOKEN = 2, DECAY_KEY = 3 };

/* The row decays a[dk] of token t of (b, h): computed once per token so that the passes over
 * S below are the same loop for every family. */
static void row_decays(int kind, const float *decay, long token, int h, int dk, float *a) {
  float scalar = 1.0f;
  if (kind == DECAY_KEY) {
    const float *g = decay + token * dk;
    for (int i = 0; i < dk; ++i)
      a[i] = expf(g[i]);
    return;
  }
  if (kind == DECAY_HEAD)
    scalar = expf(decay[h]);
  else if (kind == DECAY_TOKEN)
    scalar = expf(decay[token]);
  for (int i = 0; i < dk; ++i)
    a[i] = scalar;
}

/* Values per block of a row of S: the block's accumulators and its slice of u live in
 * registers across the loop over the dk rows, so each element of S is loaded and stored once
 * per pass. dv must be a multiple of it. */
#define BLOCK 32

/* The delta rule's first pass: S_i ← a_i S_i (when `decayed`) and ks = Sᵀk. Always inlined
 * with a constant `decayed`, so the undecayed form has no multiply by 1. */
static inline __attribute__((always_inline)) void
decay_and_read_key(float *restrict S, const float *restrict a, const float *restrict kt,
                   float *restrict ks, int dk, int dv, int decayed) {
  for (int j0 = 0; j0 < dv; j0 += BLOCK) {
    float acc[BLOCK] = {0};
    for (int i = 0; i < dk; ++i) {
      float *restrict row = S + (long)i * dv + j0;
      const float ai = a[i], ki = kt[i];
#pragma omp simd
      for (int j = 0; j < BLOCK; ++j) {
        if (decayed)
          row[j] *= ai;
        acc[j] += ki * row[j];
      }
    }
    memcpy(ks + j0, acc, sizeof acc);
  }
}

/* S_i ← a_i S_i + k_i u (a_i only when `decayed`) and acc = Sᵀq, one pass over S. */
static inline __attribute__((always_inline)) void
update_and_read(float *restrict S, const float *restrict a, const float *restrict kt,
                const float *restrict u, const float *restrict qt, float *restrict out,
                int dk, int dv, int decayed) {
  for (int j0 = 0; j0 < dv; j0 += BLOCK) {
    float acc[BLOCK] = {0}, ub[BLOCK];
    memcpy(ub, u + j0, sizeof ub);
    for (int i = 0; i < dk; ++i) {
      float *restrict row = S + (long)i * dv + j0;
      const float ai = a[i], ki = kt[i], qi = qt[i];
#pragma omp simd
      for (int j = 0; j < BLOCK; ++j) {
        float s = decayed ? ai * row[j] : row[j];
        row[j] = s + ki * ub[j];
        acc[j] += qi * row[j];
      }
    }
    memcpy(out + j0, acc, sizeof acc);
  }
}

/* One (batch, head)'s whole sequence. work: dk + 3·dv floats; S: dk·dv floats, zeroed. */
static void scan_head(int b, int h, int T, int H, int dk, int dv, const float *q,
                      const float *k, const float *v, int kind, const float *decay,
                      const float *beta, float scale, float *o, float *S, float *work) {
  float *a = work, *ks = a + dk, *u = ks + dv, *acc = u + dv;
  const int decayed = kind != DECAY_NONE;
  for (int t = 0; t < T; ++t) {
    long token = ((long)b * T + t) * H + h;
    const float *qt = q + token * dk, *kt = k + token * dk, *vt = v + token * dv;
    row_decays(kind, decay, token, h, dk, a);
    if (beta) {
      if (decayed)
        decay_and_read_key(S, a, kt, ks, dk, dv, 1);
      else
        decay_and_read_key(S, a, kt, ks, dk, dv, 0);
      const float bt = beta[token];
      for (int j = 0; j < dv; ++j)
        u[j] = bt * (vt[j] - ks[j]);
      update_and_read(S, a, kt, u, qt, acc, dk, dv, 0); /* S is decayed already */
    } else if (decayed) {
      update_and_read(S, a, kt, vt, qt, acc, dk, dv, 1);
    } else {
      update_and_read(S, a, kt, vt, qt, acc, dk, dv, 0);
    }
    float *ot = o + token * dv;
    for (int j = 0; j < dv; ++j)
      ot[j] = scale * acc[j];
  }
}

/* The whole batch: B·H independent scans over `threads` OpenMP threads. decay: NULL for
 * DECAY_NONE; beta: NULL without the delta rule; state: NULL unless the final states are
 * wanted. Returns 0; -1 when a buffer could not be allocated, -2 when dv is not a
 * multiple of BLOCK. */
int token_scan(int B, int T, int H, int dk, int dv, const float *q, const float *k,
               const float *v, int kind, const float *decay, const float *beta, float scale,
               float *o, float *state, int threads) {
  if (dv % BLOCK)
    return -2;
  int failed = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : failed)
  for (int bh = 0; bh < B * H; ++bh) {
    size_t bytes = ((size_t)dk * dv * sizeof(float) + 63) / 64 * 64;
    float *S = aligned_alloc(64, bytes);
    float *work = malloc(sizeof(float) * (dk + 3 * (size_t)dv));
    if (!S || !work) {
      failed = 1;
    } else {
      memset(S, 0, bytes);
      scan_head(bh / H, bh % H, T, H, dk, dv, q, k, v, kind, decay, beta, scale, o, S, work);
      if (state)
        memcpy(state + (long)bh * dk * dv, S, sizeof(float) * dk * dv);
    }
    free(S);
    free(work);
  }
  return failed ? -1 : 0;
}
