//===- Passes.h - linrec conversion passes ----------------------*- C++ -*-===//

#ifndef LINREC_CONVERSION_PASSES_H
#define LINREC_CONVERSION_PASSES_H

#include "linrec/Dialect/LinrecDialect.h"
#include "linrec/Dialect/LinrecOps.h"
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

/// The heads per work item of a CPU kernel (chunked or scan) when the schedule leaves it open
/// (heads-per-item=0): the most adjacent heads, up to 8 and dividing `heads`, that leave at
/// least one work item per thread, and a multiple of `threads` unless there are 4 per thread
/// (equal items, so no thread waits on another). Grouped heads read each token's rows as one
/// stream: 3–12% faster at H = 8 (docs/CPU-codegen.md, "Work items"). 1 for dynamic dims.
int64_t autoHeadsPerItem(int64_t rows, int64_t heads, int64_t valueTiles, int64_t threads);

/// autoHeadsPerItem for `op`'s static shapes (rows: B, or N with cu_seqlens), and no more
/// heads than keep their states within 512 KB; `threads` 0 means the host's hardware threads.
int64_t autoHeadsPerItem(RecurrenceOp op, int64_t valueTiles, int64_t threads);

/// The prefix of the kernel functions linrec-lower-cpu and linrec-lower-gpu create.
inline constexpr llvm::StringLiteral kKernelPrefix = "__linrec_kernel_";

} // namespace linrec

#endif // LINREC_CONVERSION_PASSES_H
