//===- MixtureOfMemories.h - the routed-memory layer ------------*- C++ -*-===//

#ifndef LINREC_LIB_BUILDER_MIXTUREOFMEMORIES_H
#define LINREC_LIB_BUILDER_MIXTUREOFMEMORIES_H

#include "linrec/Builder/LayerBuilder.h"

namespace linrec {

/// Mixture-of-Memories: routing weights from router_logits [B, T, M] (softmax, top-k,
/// renormalized) as tensor ops, then one recurrence holding every memory (and the shared one):
/// a memory that a token does not route to neither decays nor writes (linrec.select).
/// `arg` looks up the layer's inputs by name; returns o, final_state[, final_state_shared].
mlir::SmallVector<mlir::Value>
buildMixtureOfMemories(mlir::OpBuilder &b, mlir::Location loc, const LayerConfig &c,
                       const LayerShapes &shapes,
                       llvm::function_ref<mlir::Value(llvm::StringRef)> arg);

} // namespace linrec

#endif // LINREC_LIB_BUILDER_MIXTUREOFMEMORIES_H
