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
} // namespace linrec

#include "linrec/Dialect/LinrecInterfaces.h.inc"

#define GET_OP_CLASSES
#include "linrec/Dialect/LinrecOps.h.inc"

#endif // LINREC_DIALECT_LINRECOPS_H
