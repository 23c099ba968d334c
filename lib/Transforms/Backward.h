//===- Backward.h - the pieces of linrec-build-backward ---------*- C++ -*-===//
//
// The adjoints linrec-build-backward emits, op by op, into a backward function: each adds
// its operands' cotangents to `Adjoints`.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_TRANSFORMS_BACKWARD_H
#define LINREC_LIB_TRANSFORMS_BACKWARD_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/ADT/DenseSet.h"

namespace linrec {

/// Adjoints of the values of the function being differentiated.
struct Adjoints {
  llvm::DenseMap<mlir::Value, mlir::Value> map;
  /// Values used as log-decays or betas: their gradients carry cumulative sums and
  /// cancellations (f32 error about ten times that of q, k, v).
  llvm::DenseSet<mlir::Value> gates;
  /// Adds `contribution` to the adjoint of `forward`.
  void add(mlir::OpBuilder &b, mlir::Location loc, mlir::Value forward, mlir::Value contribution);
  /// The adjoint of `forward` (zeros if nothing contributed).
  mlir::Value get(mlir::OpBuilder &b, mlir::Location loc, mlir::Value forward);
};

/// How a recurrence's adjoint is built.
struct RecurrenceAdjointOptions {
  /// Read forward and cotangent states along both axes (transposed reads) instead of keeping
  /// transposed copies of them.
  bool transposedReads = true;
};

/// A recurrence's adjoint as recurrences (RecurrenceBackward.cpp), from the adjoints of its
/// results; an error naming the op where the body has no derived backward yet.
mlir::LogicalResult emitRecurrenceAdjoint(mlir::OpBuilder &b, RecurrenceOp op, Adjoints &adjoints,
                                          const RecurrenceAdjointOptions &options);

/// The adjoint of a linalg.generic whose payload is f(ins) or out + f(ins), given its
/// result's adjoint `g` (LayerOpBackward.cpp).
mlir::LogicalResult emitGenericAdjoint(mlir::OpBuilder &b, mlir::linalg::GenericOp generic,
                                       mlir::Value g, Adjoints &adjoints);

/// The adjoint of linrec.window_attention from the adjoints of its results
/// (WindowAttentionBackward.cpp).
mlir::LogicalResult emitWindowAttentionAdjoint(mlir::OpBuilder &b, WindowAttentionOp op,
                                               Adjoints &adjoints);

/// The adjoints of tensor.pad (static), tensor.extract_slice and tensor.insert_slice: slices
/// of the cotangent, and cotangents inserted into zeros.
mlir::LogicalResult emitTensorPartAdjoint(mlir::OpBuilder &b, mlir::Operation *op,
                                          Adjoints &adjoints);

/// The adjoint of linrec.heads_rms_norm at its result's adjoint `dy`.
mlir::Value emitHeadsRmsNormAdjoint(mlir::OpBuilder &b, mlir::Location loc, HeadsRmsNormOp norm,
                                    mlir::Value dy);

} // namespace linrec

#endif // LINREC_LIB_TRANSFORMS_BACKWARD_H
