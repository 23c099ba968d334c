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
inline constexpr llvm::StringLiteral kValueChecksAttr =
    LinrecDialect::ValueChecksAttrHelper::getNameStr();
/// On a function's argument: the status word (memref<1xi32>) its kernels OR their value-check
/// failures into (linrec-lower-cpu's value-checks).
inline constexpr llvm::StringLiteral kValueStatusAttr = "linrec.value_status";

/// What a CPU kernel checks of an operand's values as it loads them (its linrec.value_checks
/// entry, the runtime's checked mode), and the bit its status word gets when one fails.
enum class ValueCheck : int32_t {
  None = 0,     // not checked
  Finite = 1,   // NaN and ±∞ fail
  LogDecay = 2, // NaN and positive values fail; −∞ (a full reset) passes
};
} // namespace linrec

#endif // LINREC_DIALECT_LINRECDIALECT_H
