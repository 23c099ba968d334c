//===- LinrecOps.h - linrec operations --------------------------*- C++ -*-===//

#ifndef LINREC_DIALECT_LINRECOPS_H
#define LINREC_DIALECT_LINRECOPS_H

#include "linrec/Dialect/LinrecDialect.h"
#include "linrec/Dialect/LinrecTypes.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace linrec {
class RecurrenceOp;

/// How many tokens before a query a window of `kind` and `size` can reach: size − 1, or
/// 2·size − 1 for a terraced window (its own block and the previous one).
inline int64_t windowReach(WindowKind kind, int64_t size) {
  return kind == WindowKind::Terraced ? 2 * size - 1 : size - 1;
}
} // namespace linrec

#include "linrec/Dialect/LinrecInterfaces.h.inc"

#define GET_OP_CLASSES
#include "linrec/Dialect/LinrecOps.h.inc"

#endif // LINREC_DIALECT_LINRECOPS_H
