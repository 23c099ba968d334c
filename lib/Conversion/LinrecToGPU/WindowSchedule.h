//===- WindowSchedule.h - linrec.window_attention as a GPU schedule -*- C++ -*-===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWSCHEDULE_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWSCHEDULE_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace linrec::gpusched {

/// Fills `kernel` (the CPU window kernel's signature: q, k, v, the results, then the work
/// items [begin, end) over B · H) with the GPU schedule of `op`, queries in blocks of
/// `queryBlock`.
void emitWindowSchedule(WindowAttentionOp op, mlir::func::FuncOp kernel, int64_t queryBlock);

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWSCHEDULE_H
