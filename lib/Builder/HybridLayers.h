//===- HybridLayers.h - layers built around window attention ----*- C++ -*-===//
//
// Layers that combine linrec.window_attention with a recurrence (Liger Attention, LoLCATs) or
// use it alone (TransNormer DiagAttention). Internal to the layer builder.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_BUILDER_HYBRIDLAYERS_H
#define LINREC_LIB_BUILDER_HYBRIDLAYERS_H

#include "linrec/Builder/LayerBuilder.h"

namespace linrec {

/// Block-diagonal causal attention (softmax, or relu followed by SimpleRMSNorm over heads).
mlir::SmallVector<mlir::Value> buildTransNormerDiag(mlir::OpBuilder &b, mlir::Location loc,
                                                    const LayerConfig &c, mlir::Value q,
                                                    mlir::Value k, mlir::Value v);

/// mixLinear · (Liger-GLA or Liger-HGRN2) + mixAttention · sliding-window softmax attention of
/// q_attn, k_attn over the same values; returns (o, final_state).
mlir::SmallVector<mlir::Value>
buildLigerAttention(mlir::OpBuilder &b, mlir::Location loc, const LayerConfig &c, mlir::Value q,
                    mlir::Value k, mlir::Value v, mlir::Value graw, mlir::Value qAttn,
                    mlir::Value kAttn, mlir::Type finalStateType);

/// LoLCATs: a softmax window and Hedgehog linear attention over the keys that left it, with one
/// shared denominator; returns (o). Sliding windows only so far.
llvm::Expected<mlir::SmallVector<mlir::Value>>
buildLoLCATs(mlir::OpBuilder &b, mlir::Location loc, const LayerConfig &c, mlir::Value q,
             mlir::Value k, mlir::Value v, mlir::Value wq, mlir::Value wk,
             mlir::Value windowLogit);

} // namespace linrec

#endif // LINREC_LIB_BUILDER_HYBRIDLAYERS_H
