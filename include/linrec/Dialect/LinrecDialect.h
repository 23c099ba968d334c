//===- LinrecDialect.h - the linrec dialect ---------------------*- C++ -*-===//

#ifndef LINREC_DIALECT_LINRECDIALECT_H
#define LINREC_DIALECT_LINRECDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dialect.h"

#include "linrec/Dialect/LinrecDialect.h.inc"

#endif // LINREC_DIALECT_LINRECDIALECT_H
