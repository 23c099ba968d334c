//===- TensorParts.h - tensor-level pieces of layers ------------*- C++ -*-===//
//
// The tensor ops around recurrences that layers are assembled from: projections, norms over
// all heads, token shifts, constant masks. Written as linalg/tensor ops, which the reference
// evaluates and linrec-fuse moves into recurrence bodies where they are element-wise.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_BUILDER_TENSORPARTS_H
#define LINREC_LIB_BUILDER_TENSORPARTS_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace linrec {

/// A new f32 tensor of `shape` filled with `value` (the init of a reduction).
mlir::Value buildFilled(mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<int64_t> shape,
                        float value);

/// u[b, t, h, f] = Σ_d x[b, t, h, d] W[h, d, f] (+ bias[h, f]).
mlir::Value buildProjection(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                            mlir::Value weights, mlir::Value bias);

/// x delayed by `tokens` along T: out[b, t] = x[b, t − tokens], zeros for t < tokens.
mlir::Value buildTokenShift(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                            int64_t tokens);

/// A constant f32 [B, T, H] tensor: 1 where `predicate(t)` holds, else 0 (static shapes).
mlir::Value buildTokenMask(mlir::OpBuilder &b, mlir::Location loc, int64_t batch, int64_t tokens,
                           int64_t heads, llvm::function_ref<bool(int64_t)> predicate);

/// An element-wise linalg.generic over the shape of `like` (f32 result). Each input is indexed
/// by the leading dims of the iteration space its rank covers ([B, T, H] inputs of a
/// [B, T, H, D] result are broadcast along D), or by the head alone when `headOnly` says so.
mlir::Value buildElementwise(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value like, mlir::ValueRange inputs,
    llvm::ArrayRef<bool> headOnly,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)> payload);

/// x[index] along the leading dim, that dim dropped (a rank-reducing tensor.extract_slice).
mlir::Value buildLeadingSlice(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                              int64_t index);

/// x[:, start : start + length] along the token dim (dim 1).
mlir::Value buildTokenSlice(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, int64_t start,
                            int64_t length);

/// `dest` with `part` written at token `at` (dim 1).
mlir::Value buildTokenInsert(mlir::OpBuilder &b, mlir::Location loc, mlir::Value part,
                             mlir::Value dest, int64_t at);

/// The parts (all of one static type) stacked along a new leading dim (tensor.insert_slice).
mlir::Value buildStack(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange parts);

} // namespace linrec

#endif // LINREC_LIB_BUILDER_TENSORPARTS_H
