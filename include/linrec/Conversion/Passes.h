//===- Passes.h - linrec conversion passes ----------------------*- C++ -*-===//

#ifndef LINREC_CONVERSION_PASSES_H
#define LINREC_CONVERSION_PASSES_H

#include "linrec/Dialect/LinrecDialect.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"

namespace linrec {

#define GEN_PASS_DECL
#include "linrec/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "linrec/Conversion/Passes.h.inc"

/// The prefix of the kernel functions linrec-lower-cpu and linrec-lower-gpu create.
inline constexpr llvm::StringLiteral kKernelPrefix = "__linrec_kernel_";

} // namespace linrec

#endif // LINREC_CONVERSION_PASSES_H
