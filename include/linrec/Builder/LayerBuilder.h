//===- LayerBuilder.h - build recurrence layers from parameters -*- C++ -*-===//
//
// The model-builder API: one call turns a layer description (the model and its parameters,
// as ../shared/conformance/README.md defines them) into a func.func holding the named linrec
// op. Arguments and results carry their tensor names (`linrec.name`), so tools can bind
// inputs and outputs by name.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_BUILDER_LAYERBUILDER_H
#define LINREC_BUILDER_LAYERBUILDER_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace linrec {

enum class LayerKind {
  Linear,
  Lightning,
  SimpleGLA,
  GLA,
  DeltaNet,
  GatedDeltaNet,
  KDA,
  LigerGLA,
  LigerHGRN2,
  Hedgehog,
  TransNormerNorm,
  TransNormerDiag,
  LigerAttention,
  LoLCATs,
  MixtureOfMemories,
  TensorAttention
};

/// "linear", "lightning", "simple_gla", "gla", "delta", "gated_delta", "kda", "liger_gla",
/// "liger_hgrn2", "hedgehog", "transnormer_norm", "transnormer_diag", "liger_attention",
/// "lolcats", "mom", "tensor_attention": the model names of the conformance format.
std::optional<LayerKind> parseLayerKind(llvm::StringRef model);
llvm::StringRef layerKindName(LayerKind kind);
/// Every model name, in a fixed order.
std::vector<std::string> layerKindNames();

struct LayerConfig {
  LayerKind kind = LayerKind::Linear;
  double scale = 1.0;
  // linear, transnormer_norm
  FeatureMapKind featureMap = FeatureMapKind::Identity;
  bool normalize = false;
  float eps = 1e-6f;
  // lightning: one log-decay per head, baked into the kernel as an f64 constant (exact for
  // the reference; code generators round it once)
  std::vector<double> logDecay;
  // gla: decay the value dim too (`gv`)
  bool valueGate = false;
  // liger_gla: the key log-decay is logsigmoid(graw) / gateNormalizer
  double gateNormalizer = 16.0;
  // hedgehog: φ(x) = [f(u), f(−u)], u = xᵀW[h] (+ b[h]), f = softmax or exp; eps as above
  FeatureMapKind hedgehogFeature = FeatureMapKind::Softmax;
  bool queryBias = false, keyBias = false; // bq, bk (each optional)
  // window attention (transnormer_diag, liger_attention, lolcats): which keys, how weighed
  WindowKind window = WindowKind::Sliding;
  int64_t windowSize = 64;
  WindowWeighting weighting = WindowWeighting::Softmax; // transnormer_diag: softmax or relu
  // liger_attention: mixLinear · liger_gla / liger_hgrn2 (linearVariant) + mixAttention ·
  // sliding-window softmax of q_attn, k_attn scaled by attentionScale
  LayerKind linearVariant = LayerKind::LigerGLA;
  double attentionScale = 1.0, mixLinear = 0.5, mixAttention = 0.5;
  // lolcats: the linear term's factor (and hedgehogFeature for its feature map)
  double linearFactor = 1.0;
  // lolcats terraced: read the linear state at block starts (linrec.read block_start), or,
  // when false, run the recurrence over an event sequence of writes and reads with slices
  // around it (the same function, one slice op per block: a cross-check and the benchmark's
  // "parts")
  bool blockStartReads = true;
  // mom: M gated-delta memories, topk of them per token, and the optional shared memory
  int64_t memories = 1, topk = 1;
  bool sharedMemory = false;
  bool initialStateShared = false;
  // tensor_attention: the degree of the Taylor feature map
  int64_t degree = 2;
  // optional inputs
  bool initialState = false;
  bool initialZ = false; // linear with normalize
  bool varlen = false;   // packed [1, total_T, H, D] inputs with cu_seqlens
  // The states in pools (serving's continuous batching): state_indices [N] (int32) picks
  // each sequence's slot of initial_state (and initial_z) [P, H, ...]; the final states
  // are the pools with those slots updated (linrec.recurrence's state_indices). Layers of
  // one recurrence (the model ops, transnormer_norm) only.
  bool stateIndices = false;
};

/// Sizes of the layer's tensors; batch and tokens may be mlir::ShapedType::kDynamic. With
/// varlen, `batch` is 1 and `sequences` is the number of sequences (N, also dynamic-able).
struct LayerShapes {
  int64_t batch = 1, tokens = 1, heads = 1, keyDim = 64, valueDim = 64;
  int64_t sequences = 1;
  int64_t stateSlots = 1;    // with stateIndices: P, the slots of the state pools
  int64_t features = 0;      // hedgehog, lolcats: F (the state has 2F rows)
  int64_t attentionDim = 0;  // liger_attention: the head dim of q_attn, k_attn
  mlir::Type elementType; // of q, k, v and gates; f32 when null
  /// Of the initial and final states (and normalizers), which the kernels compute with in f32
  /// (bf16 halves a decode step's state traffic); f32 when null.
  mlir::Type stateType;
};

/// The names of the function's arguments, in order (e.g. q, k, v, g, beta, initial_state).
std::vector<std::string> layerInputNames(const LayerConfig &config);
/// The names of its results (o, final_state[, final_z]).
std::vector<std::string> layerOutputNames(const LayerConfig &config);

/// Appends `func.func @name` computing the layer to `module`. Fails with a message when the
/// configuration is inconsistent (e.g. a lightning layer without one log-decay per head).
llvm::Expected<mlir::func::FuncOp> buildLayerFunction(mlir::ModuleOp module,
                                                      llvm::StringRef name,
                                                      const LayerConfig &config,
                                                      const LayerShapes &shapes);

} // namespace linrec

#endif // LINREC_BUILDER_LAYERBUILDER_H
