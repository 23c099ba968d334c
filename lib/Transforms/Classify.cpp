//===- Classify.cpp - choose the algorithm of each recurrence -------------===//

#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Transforms/Passes.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECCLASSIFY
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecClassifyPass : linrec::impl::LinrecClassifyBase<LinrecClassifyPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation()->walk([&](RecurrenceOp op) {
      // A recurrence already marked sequential (decode kernels, cross-checks) stays so: the
      // scan is correct for every body.
      if (op.getAlgorithm() == Algorithm::Sequential)
        return;
      RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
      // The chunked product form is never the analysis's choice; a mark asks for it.
      if (op.getAlgorithm() == Algorithm::ChunkedProduct) {
        if (!analysis.productChunkable) {
          op.emitOpError("is marked chunked_product, but ") << analysis.reason;
          signalPassFailure();
        }
        return;
      }
      if (analysis.algorithm != Algorithm::Sequential && analysis.runningSumsOnly()) {
        analysis.algorithm = Algorithm::Sequential;
        analysis.reason = "every state has a single key row (running sums): the token scan "
                          "costs less than chunk matmuls that contract over one row";
      }
      op.setAlgorithmAttr(AlgorithmAttr::get(op.getContext(), analysis.algorithm));
      if (remarkSequential && analysis.algorithm == Algorithm::Sequential)
        op.emitRemark("sequential: ") << analysis.reason;
    });
  }
};
} // namespace
