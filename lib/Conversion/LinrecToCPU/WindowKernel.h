//===- WindowKernel.h - the CPU kernel of linrec.window_attention -*- C++ -*-===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H
#define LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace linrec::cpu {

/// Fills `kernel` (arguments: memrefs of q, k, v, then of the results, then the work items
/// [begin, end) over B · H) with the window attention of `op`.
void emitWindowKernel(WindowAttentionOp op, mlir::func::FuncOp kernel, int64_t matmulRows,
                      int64_t matmulColumns);

/// Replaces `op` by a call of `kernel` (of the signature above) over its work items: B · H, times
/// ⌈T / n⌉ when the kernel's `linrec.token_block` attribute says it takes blocks of n tokens.
void replaceWindowWithKernelCall(WindowAttentionOp op, mlir::func::FuncOp kernel);

/// The first position of the window of `kind` and `size` of the query at position `i`
/// (WindowAttentionOp's definition, on indices).
mlir::Value windowStart(mlir::ImplicitLocOpBuilder &b, WindowKind kind, int64_t size,
                        mlir::Value i);
/// The weights of a row of `scores` where `keep` holds (0 elsewhere): relu(s), softmax(s), or
/// e^{s − m} with m the largest kept score; for shifted_exp also their sum (the denominator),
/// else null. Masked scores never reach an exponential (they may exceed m); a softmax row must
/// keep at least one score.
std::pair<mlir::Value, mlir::Value> windowWeights(mlir::ImplicitLocOpBuilder &b,
                                                  WindowWeighting weighting, mlir::Value scores,
                                                  mlir::Value keep);

} // namespace linrec::cpu

#endif // LINREC_LIB_CONVERSION_LINRECTOCPU_WINDOWKERNEL_H
