//===- LinrecTypes.h - linrec types and attributes --------------*- C++ -*-===//

#ifndef LINREC_DIALECT_LINRECTYPES_H
#define LINREC_DIALECT_LINRECTYPES_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"

#include "linrec/Dialect/LinrecEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "linrec/Dialect/LinrecAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "linrec/Dialect/LinrecTypes.h.inc"

#endif // LINREC_DIALECT_LINRECTYPES_H
