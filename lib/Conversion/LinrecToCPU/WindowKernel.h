//===- WindowKernel.h - the CPU kernel of linrec.window_attention -*- C++ -*-===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H
#define LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace linrec::cpu {

/// Fills `kernel` (arguments: memrefs of q, k, v, then of the results, then the work items
/// [begin, end) over B · H) with the window attention of `op`.
void emitWindowKernel(WindowAttentionOp op, mlir::func::FuncOp kernel, int64_t matmulRows,
                      int64_t matmulColumns);

} // namespace linrec::cpu

#endif // LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H
