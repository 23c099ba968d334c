//===- Pipelines.h - named linrec pipelines ---------------------*- C++ -*-===//
//
// The pipelines the runtime runs, also registered for linrec-opt:
//   linrec-to-cpu: named ops -> generic -> classified -> CPU kernels -> LLVM dialect.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_PIPELINES_PIPELINES_H
#define LINREC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace linrec {

/// The schedule of the CPU kernels: every choice is a parameter the autotuner can search.
struct CpuPipelineOptions {
  /// Tokens per chunk of the chunked algorithms.
  int64_t chunkSize = 64;
  /// Register tile of the kernels' matmuls (rows x columns).
  int64_t matmulRows = 4;
  int64_t matmulColumns = 64;
  /// Split each (sequence, head) into value-dim tiles of separate work items, for
  /// parallelism when B·H is small (used where the recurrence allows).
  int64_t valueTiles = 1;
  /// Adjacent heads per work item, advanced together chunk by chunk (their token rows are
  /// adjacent in memory); fewer, larger work items.
  int64_t headsPerItem = 1;
};

/// linrec-normalize, linrec-classify, linrec-lower-cpu: every recurrence becomes a kernel
/// function on memrefs (and a call of it).
void buildCpuKernelPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// Kernel functions (scf, vector, memref, math, arith) to the LLVM dialect.
void buildCpuToLLVMPipeline(mlir::OpPassManager &pm);

/// Registers `linrec-to-cpu` (the whole module: kernels, bufferization of the functions that
/// call them, LLVM dialect).
void registerLinrecPipelines();

} // namespace linrec

#endif // LINREC_PIPELINES_PIPELINES_H
