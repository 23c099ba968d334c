//===- ModelInfo.cpp - what each model of the conformance format takes ----===//
//
// One entry per model, in the words of ../shared/conformance/README.md §4 (the definition).
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/ModelInfo.h"

#include "llvm/ADT/STLExtras.h"

using namespace linrec;

namespace {

using P = ParameterInfo;
using Tensor = TensorDescription;

P scale() {
  return {"scale", "number", "multiplies the query: o_t = S_tᵀ (scale·q_t)", "1/sqrt(dk)", {}};
}

Tensor q() { return {"q", "[B, T, H, dk]", "float", "queries", false}; }
Tensor k() { return {"k", "[B, T, H, dk]", "float", "keys", false}; }
Tensor v() { return {"v", "[B, T, H, dv]", "float", "values", false}; }
Tensor initialState(const char *shape = "[N, H, dk, dv]") {
  return {"initial_state", shape, "float",
          "the state before token 0 (N = B, or the number of sequences with cu_seqlens)", true};
}
Tensor cuSeqlens() {
  return {"cu_seqlens", "[N + 1]", "int32",
          "offsets of packed variable-length sequences (inputs [1, total_T, ...])", true};
}
Tensor stateIndices() {
  return {"state_indices", "[N]", "int32",
          "each sequence's slot of initial_state (and initial_z), then pools [P, H, ...]: the "
          "final states are the pools with those slots updated (in place when the final "
          "state is the initial state's buffer)",
          true};
}
Tensor o() { return {"o", "[B, T, H, dv]", "float", "the output", false}; }
Tensor finalState(const char *shape = "[N, H, dk, dv]") {
  return {"final_state", shape, "float", "the state after the last token", false};
}
Tensor logDecay(const char *name, const char *shape, const char *what) {
  return {name, shape, "float", std::string("log-decay (≤ 0, −∞ a full reset) ") + what, false,
          /*logDecay=*/true};
}
Tensor beta() { return {"beta", "[B, T, H]", "float", "the delta rule's write strength", false}; }
Tensor graw() {
  return {"graw", "[B, T, H, dk]", "float",
          "the raw gate projection (the key decay is logsigmoid(graw)[/gate_normalizer])",
          false};
}

std::vector<ModelInfo> buildInfos() {
  std::vector<ModelInfo> infos;
  infos.push_back(
      {"linear",
       "linear attention S_t = S_{t−1} + φ(k_t) v_tᵀ, optionally normalized by z_t = Σ φ(k)",
       {scale(),
        {"normalize", "bool", "divide by (scale·φ(q_t))ᵀ z_t + eps", "false", {}},
        {"eps", "number", "the denominator's eps (with normalize)", "1e-6", {}},
        {"feature_map", "choice", "φ, applied to q and k elementwise", "identity",
         {"identity", "elu", "1+elu", "relu"}}},
       {q(), k(), v(), initialState(),
        {"initial_z", "[N, H, dk]", "float", "the normalizer before token 0 (with normalize)",
         true},
        cuSeqlens(), stateIndices()},
       {o(), finalState(),
        {"final_z", "[N, H, dk]", "float", "the normalizer after the last token (with normalize)",
         true}}});
  infos.push_back({"lightning",
                   "Lightning Attention / RetNet: a constant log-decay per head",
                   {scale(),
                    {"log_decay", "numbers", "one log-decay (≤ 0) per head", "", {}}},
                   {q(), k(), v(), initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"simple_gla", "simple GLA: a scalar log-decay per token and head",
                   {scale()},
                   {q(), k(), v(), logDecay("g", "[B, T, H]", "of the whole state"),
                    initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  Tensor gv = logDecay("gv", "[B, T, H, dv]", "of the state's columns");
  gv.optional = true;
  infos.push_back({"gla", "GLA: a key-vector log-decay, optionally a value-vector one too",
                   {scale()},
                   {q(), k(), v(), logDecay("gk", "[B, T, H, dk]", "of the state's rows"), gv,
                    initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"delta", "DeltaNet: S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ",
                   {scale()},
                   {q(), k(), v(), beta(), initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"gated_delta", "Gated DeltaNet: the delta rule after a scalar decay",
                   {scale()},
                   {q(), k(), v(), logDecay("g", "[B, T, H]", "of the whole state"), beta(),
                    initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"kda", "KDA: the delta rule after a key-vector decay",
                   {scale()},
                   {q(), k(), v(), logDecay("gk", "[B, T, H, dk]", "of the state's rows"),
                    beta(), initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"liger_gla",
                   "Liger GLA: softmax feature maps, the key decay logsigmoid(graw)/gate_normalizer",
                   {{"scale", "number", "multiplies the query (1 in Liger)", "1", {}},
                    {"gate_normalizer", "number", "divides the log-decay (16 in Liger)", "16",
                     {}}},
                   {q(), k(), v(), graw(), initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back({"liger_hgrn2",
                   "Liger HGRN2: the key is 1 − e^{logsigmoid(graw)} (no k input)",
                   {{"scale", "number", "multiplies the query (1 in Liger)", "1", {}}},
                   {q(), v(), graw(), initialState(), cuSeqlens(), stateIndices()},
                   {o(), finalState()}});
  infos.push_back(
      {"hedgehog",
       "Hedgehog: normalized linear attention with learned feature maps φ(x) = [f(u), f(−u)], "
       "u = xᵀW[h] + b[h]",
       {{"feature", "choice", "f: softmax (each half normalized) or exp", "softmax",
         {"softmax", "exp"}},
        {"eps", "number", "the denominator's eps", "1e-6", {}}},
       {q(), k(), v(),
        {"Wq", "[H, dk, F]", "float", "the query feature map's weights", false},
        {"Wk", "[H, dk, F]", "float", "the key feature map's weights", false},
        {"bq", "[H, F]", "float", "the query feature map's bias", true},
        {"bk", "[H, F]", "float", "the key feature map's bias", true},
        initialState("[B, H, 2F, dv]"),
        {"initial_z", "[B, H, 2F]", "float", "the normalizer before token 0", true}},
       {o(), finalState("[B, H, 2F, dv]"),
        {"final_z", "[B, H, 2F]", "float", "the normalizer after the last token", false}}});
  infos.push_back(
      {"transnormer_norm",
       "TransNormer NormAttention: linear attention with φ, then an RMS norm over all heads",
       {{"scale", "number", "multiplies the query (1 in TransNormer)", "1", {}},
        {"eps", "number", "added to the RMS (1e-8 in TransNormer)", "1e-8", {}},
        {"feature_map", "choice", "φ", "elu", {"elu", "1+elu"}}},
       {q(), k(), v(), initialState("[B, H, dk, dv]"), stateIndices()},
       {o(), finalState("[B, H, dk, dv]")}});
  infos.push_back(
      {"transnormer_diag",
       "TransNormer DiagAttention: attention inside blocks of tokens, then the RMS norm",
       {{"variant", "choice", "the weighting inside a block", "softmax", {"softmax", "relu"}},
        {"block", "integer", "tokens per block", "64", {}},
        scale(),
        {"eps", "number", "added to the RMS", "1e-8", {}}},
       {q(), k(), v()},
       {o()}});
  infos.push_back(
      {"liger_attention",
       "Liger Attention: mix_linear · Liger GLA/HGRN2 + mix_attn · sliding-window softmax",
       {{"linear_variant", "choice", "the linear branch", "gla", {"gla", "hgrn2"}},
        {"scale", "number", "multiplies the linear branch's query", "1", {}},
        {"gate_normalizer", "number", "divides the GLA branch's log-decay", "16", {}},
        {"window", "integer", "keys the softmax window sees (the query's own included)", "64",
         {}},
        {"attn_scale", "number", "multiplies the window's scores", "1/sqrt(da)", {}},
        {"mix_linear", "number", "weight of the linear branch", "0.5", {}},
        {"mix_attn", "number", "weight of the window branch", "0.5", {}}},
       {q(),
        {"k", "[B, T, H, dk]", "float", "keys (linear_variant gla only)", true},
        v(), graw(),
        {"q_attn", "[B, T, H, da]", "float", "the window's queries (RoPE applied outside)",
         false},
        {"k_attn", "[B, T, H, da]", "float", "the window's keys", false}},
       {o(), finalState("[B, H, dk, dv]")}});
  infos.push_back(
      {"lolcats",
       "LoLCATs: a softmax window and Hedgehog linear attention outside it, one denominator",
       {{"window", "choice", "the window's shape", "sliding", {"sliding", "terraced"}},
        {"window_size", "integer", "w", "64", {}},
        scale(),
        {"linear_factor", "number", "weight of the linear term", "1", {}},
        {"feature", "choice", "the Hedgehog map's f", "softmax", {"softmax", "exp"}}},
       {q(), k(), v(),
        {"Wq", "[H, dk, F]", "float", "the query feature map's weights", false},
        {"Wk", "[H, dk, F]", "float", "the key feature map's weights", false},
        {"window_logit", "[H]", "float", "the window's weight σ(window_logit) per head",
         false}},
       {o()}});
  infos.push_back(
      {"mom",
       "Mixture of Memories: top-k routed Gated DeltaNet memories and a shared one",
       {{"topk", "integer", "memories each token is routed to", "2", {}},
        {"shared", "bool", "add a shared memory every token writes", "true", {}},
        scale()},
       {q(),
        {"k", "[M, B, T, H, dk]", "float", "each memory's keys", false},
        {"v", "[M, B, T, H, dv]", "float", "each memory's values", false},
        {"g", "[M, B, T, H]", "float", "each memory's log-decay", false, /*logDecay=*/true},
        {"beta", "[M, B, T, H]", "float", "each memory's β", false},
        {"router_logits", "[B, T, M]", "float", "the router's logits (one router per token)",
         false},
        {"k_shared", "[B, T, H, dk]", "float", "the shared memory's keys (with shared)", true},
        {"v_shared", "[B, T, H, dv]", "float", "its values", true},
        {"g_shared", "[B, T, H]", "float", "its log-decay", true, /*logDecay=*/true},
        {"beta_shared", "[B, T, H]", "float", "its β", true},
        initialState("[M, B, H, dk, dv]"),
        {"initial_state_shared", "[B, H, dk, dv]", "float", "the shared memory's initial state",
         true}},
       {o(), finalState("[M, B, H, dk, dv]"),
        {"final_state_shared", "[B, H, dk, dv]", "float", "the shared memory's final state",
         true}}});
  infos.push_back(
      {"tensor_attention",
       "causal tensor attention linearized by a degree-g Taylor map: the Hadamard product of "
       "two states",
       {{"degree", "integer", "g, the Taylor polynomial's degree", "2", {}}, scale()},
       {q(),
        {"k1", "[B, T, H, d]", "float", "the first state's keys", false},
        {"v1", "[B, T, H, dv]", "float", "the first state's values", false},
        {"k2", "[B, T, H, d]", "float", "the second state's keys", false},
        {"v2", "[B, T, H, dv]", "float", "the second state's values", false}},
       {o()}});
  return infos;
}

} // namespace

llvm::ArrayRef<ModelInfo> linrec::modelInfos() {
  static const std::vector<ModelInfo> infos = buildInfos();
  return infos;
}

bool linrec::isLogDecayInput(llvm::StringRef model, llvm::StringRef input) {
  const ModelInfo *info = modelInfo(model);
  return info && llvm::any_of(info->inputs, [&](const TensorDescription &t) {
           return t.logDecay && t.name == input;
         });
}

const ModelInfo *linrec::modelInfo(llvm::StringRef name) {
  for (const ModelInfo &info : modelInfos())
    if (info.name == name)
      return &info;
  return nullptr;
}
