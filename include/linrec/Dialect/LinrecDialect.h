//===- LinrecDialect.h - the linrec dialect ---------------------*- C++ -*-===//

#ifndef LINREC_DIALECT_LINRECDIALECT_H
#define LINREC_DIALECT_LINRECDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dialect.h"

// The dialect's discardable attributes are typed with its enums and attributes.
#include "linrec/Dialect/LinrecTypes.h"

#include "linrec/Dialect/LinrecDialect.h.inc"

namespace linrec {
/// The names of the dialect's discardable attributes (declared and documented in
/// LinrecDialect.td, verified by LinrecDialect::verifyOperationAttribute).
inline constexpr llvm::StringLiteral kAlgorithmAttr =
    LinrecDialect::AlgorithmAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kValueTilesAttr =
    LinrecDialect::ValueTilesAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kHeadsPerItemAttr =
    LinrecDialect::HeadsPerItemAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kTokenBlockAttr =
    LinrecDialect::TokenBlockAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kGpuScheduleAttr =
    LinrecDialect::GpuScheduleAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kWindowReadsAttr =
    LinrecDialect::WindowReadsAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kSharedMemoryBytesAttr =
    LinrecDialect::SharedMemoryBytesAttrHelper::getNameStr();
} // namespace linrec

#endif // LINREC_DIALECT_LINRECDIALECT_H
