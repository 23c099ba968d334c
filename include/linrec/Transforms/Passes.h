//===- Passes.h - linrec transformation passes ------------------*- C++ -*-===//

#ifndef LINREC_TRANSFORMS_PASSES_H
#define LINREC_TRANSFORMS_PASSES_H

#include "linrec/Dialect/LinrecDialect.h"
#include "mlir/Pass/Pass.h"

namespace linrec {

#define GEN_PASS_DECL
#include "linrec/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "linrec/Transforms/Passes.h.inc"

} // namespace linrec

#endif // LINREC_TRANSFORMS_PASSES_H
