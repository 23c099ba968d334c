//===- ShapeChecks.h - shared shape diagnostics for linrec ops --*- C++ -*-===//
//
// Verifiers of the generic and the named ops state the same kind of fact: "operand X must be
// [B, T, H, dk] = [2, ?, 4, 16]". These helpers say it once.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_DIALECT_SHAPECHECKS_H
#define LINREC_DIALECT_SHAPECHECKS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

namespace linrec::detail {

/// One expected dimension: its symbolic name ("B", "dk") and its value (or kDynamic when a
/// dynamic dim of another operand left it unknown).
struct NamedDim {
  llvm::StringRef name;
  int64_t size;
};

/// Checks that `type` is a ranked float tensor with the given dims (a dynamic dim on either
/// side matches anything) and emits "'what' must be [B, T, H] = [2, ?, 4], got ..." if not.
mlir::LogicalResult checkTensorShape(mlir::Operation *op, llvm::Twine what, mlir::Type type,
                                     llvm::ArrayRef<NamedDim> dims);

/// Refines `known` with `size` (the first static value seen wins); returns false on a clash.
bool unifyDim(int64_t &known, int64_t size);

} // namespace linrec::detail

#endif // LINREC_DIALECT_SHAPECHECKS_H
