//===- CpuKernels.h - the bodies of the CPU kernels -------------*- C++ -*-===//
//
// What linrec-lower-cpu fills a kernel function with (KernelCommon/ builds the function, the
// call and the per-token pieces): the chunked algorithms, the chunked product form, the exact
// scan, and window attention.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOCPU_CPUKERNELS_H
#define LINREC_LIB_CONVERSION_LINRECTOCPU_CPUKERNELS_H

#include "KernelCommon/KernelEmitter.h"

namespace linrec::cpu {

using codegen::KernelBuilder;
using codegen::KernelEmitter;
using codegen::WorkItem;

/// The chunked algorithm (analysis.algorithm is chunked_diagonal or chunked_delta).
void emitChunkedKernel(KernelEmitter &emitter);
/// The chunked product form (analysis.algorithm is chunked_product): reads of products of
/// plain-written states, per chunk (ChunkedProductKernel.cpp).
void emitChunkedProductKernel(KernelEmitter &emitter);
/// The exact token-by-token scan; correct for every body the verifier accepts.
void emitSequentialKernel(KernelEmitter &emitter);

/// Fills `kernel` (arguments: memrefs of q, k, v, then of the results, then the work items
/// [begin, end) over B · H) with the window attention of `op`.
void emitWindowKernel(WindowAttentionOp op, mlir::func::FuncOp kernel, int64_t matmulRows,
                      int64_t matmulColumns);

} // namespace linrec::cpu

#endif // LINREC_LIB_CONVERSION_LINRECTOCPU_CPUKERNELS_H
