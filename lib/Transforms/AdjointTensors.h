//===- AdjointTensors.h - tensor pieces of derived backwards ----*- C++ -*-===//
//
// The tensor ops a derived backward is glued with: zeros, sums, transposes of states, the
// per-state sums that start the gates' cumulative sums, and the one-column views of
// normalizer states. Static shapes; f32.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_TRANSFORMS_ADJOINTTENSORS_H
#define LINREC_LIB_TRANSFORMS_ADJOINTTENSORS_H

#include "mlir/IR/Builders.h"

#include <optional>

namespace linrec::adjoint {

/// A zero-filled tensor of `type`.
mlir::Value zerosLike(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type);

/// A tensor of `type` filled with `value`.
mlir::Value filledLike(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type, double value);

/// A linalg.generic producing `resultType` from `inputs` read through `maps` (the result's
/// map is the identity of its rank over the leading loops; `reduced` trailing loops reduce,
/// from `init`).
mlir::Value buildGeneric(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType resultType,
                         mlir::ValueRange inputs, llvm::ArrayRef<mlir::AffineMap> maps,
                         unsigned reduced,
                         llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                                        mlir::ValueRange)> payload,
                         double init = 0.0);

/// x ([B, T, ...]) with `before` zero tokens before it and `after` after it.
mlir::Value padTokens(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, int64_t before,
                      int64_t after);

/// The map of `loops` loops onto the listed dims.
mlir::AffineMap dimsMap(unsigned loops, llvm::ArrayRef<unsigned> dims, mlir::MLIRContext *ctx);

/// x + y, element-wise.
mlir::Value add(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y);
/// x ⊙ y, element-wise.
mlir::Value multiply(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y);

/// [N, H, a, b] -> [N, H, b, a], and its type.
/// x with elements of float type `element` (extf or truncf).
mlir::Value convertElements(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                            mlir::Type element);
mlir::RankedTensorType transposedStatesType(mlir::Type states);
mlir::Value transposeStates(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// Σ S ⊙ dS over the state axes not in `kept` (0: key, 1: value) as [N, H, 1, n], S given
/// transposed ([N, H, dv, dk]).
mlir::Value stateProductSum(mlir::OpBuilder &b, mlir::Location loc, mlir::Value St,
                            mlir::Value dS, std::optional<unsigned> kept);

/// [N, H, n, 1] -> [N, H, n] and back: normalizer states as one-column matrices.
mlir::Value dropUnitDim(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);
mlir::Value appendUnitDim(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

} // namespace linrec::adjoint

#endif // LINREC_LIB_TRANSFORMS_ADJOINTTENSORS_H
