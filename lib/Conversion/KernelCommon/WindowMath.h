//===- WindowMath.h - window positions and weights of window attention -*- C++ -*-===//
//
// The definition of WindowAttentionOp on indices and score rows, shared by the CPU window
// kernel, the chunked kernels' window reads and the GPU window schedules.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_KERNELCOMMON_WINDOWMATH_H
#define LINREC_LIB_CONVERSION_KERNELCOMMON_WINDOWMATH_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace linrec::codegen {

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

} // namespace linrec::codegen

#endif // LINREC_LIB_CONVERSION_KERNELCOMMON_WINDOWMATH_H
