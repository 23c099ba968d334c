//===- Normalize.cpp - named recurrences to linrec.recurrence -------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECNORMALIZE
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecNormalizePass : linrec::impl::LinrecNormalizeBase<LinrecNormalizePass> {
  void runOnOperation() override {
    SmallVector<ModelOpInterface> named;
    getOperation()->walk([&](ModelOpInterface op) { named.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (ModelOpInterface op : named) {
      rewriter.setInsertionPoint(op);
      SmallVector<Value> replacements = op.buildRecurrence(rewriter);
      rewriter.replaceOp(op, replacements);
    }
  }
};
} // namespace
