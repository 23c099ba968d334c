//===- TokenAdjoint.h - adjoints of per-token body computations -*- C++ -*-===//
//
// The reverse mode of the ops a recurrence body computes one token's values with (feature
// maps, norms, gate activations, arith and math), emitted as the same kinds of ops, so that
// a backward recurrence can carry a driver's cotangent back to the inputs it was computed
// from inside its own body.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_TRANSFORMS_TOKENADJOINT_H
#define LINREC_LIB_TRANSFORMS_TOKENADJOINT_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace linrec {

/// Emits at b's insertion point the vector-Jacobian products of `ops` (in program order,
/// each op's operands in scope), given the cotangents in `cotangents` of some of their
/// results; the operands' cotangents are added to the map (summed over uses). An op without
/// a rule fails with an error that names it.
mlir::LogicalResult emitTokenAdjoint(mlir::OpBuilder &b, mlir::Location loc,
                                     llvm::ArrayRef<mlir::Operation *> ops,
                                     llvm::DenseMap<mlir::Value, mlir::Value> &cotangents);

} // namespace linrec

#endif // LINREC_LIB_TRANSFORMS_TOKENADJOINT_H
