//===- FuseHeadsNorms.cpp - norms over all heads into recurrence kernels ---===//
//
// linrec.heads_rms_norm(output #0 of a recurrence) becomes the recurrence's heads_norm_eps:
// the chunked CPU kernel then groups every head of a batch row into one work item and
// normalizes each chunk's outputs in place (LinrecToCPU/ChunkedKernel.cpp).
//
//===----------------------------------------------------------------------===//

#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Transforms/Passes.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSEHEADSNORMS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecFuseHeadsNormsPass
    : linrec::impl::LinrecFuseHeadsNormsBase<LinrecFuseHeadsNormsPass> {
  using Base::Base;

  /// Whether the norm can run inside `op`'s chunked kernel with enough work items.
  bool fusable(RecurrenceOp op, HeadsRmsNormOp norm) {
    auto type = cast<RankedTensorType>(norm.getInput().getType());
    if (!type.hasStaticShape() || type.getDimSize(0) < minBatch)
      return false;
    // (Result #0 is output #0 only when there are outputs; else it is a final state.)
    if (op.getNumOutputs() == 0 || !op->getResult(0).hasOneUse() || op.getCuSeqlens() ||
        op.getReverse() ||
        op.getHeadsNormEps() || op.getAlgorithm() == Algorithm::Sequential)
      return false;
    return RecurrenceAnalysis::analyze(op).algorithm != Algorithm::Sequential;
  }

  void runOnOperation() override {
    SmallVector<HeadsRmsNormOp> norms;
    getOperation()->walk([&](HeadsRmsNormOp op) { norms.push_back(op); });
    for (HeadsRmsNormOp norm : norms) {
      auto op = norm.getInput().getDefiningOp<RecurrenceOp>();
      if (!op || norm.getInput() != op->getResult(0) || !fusable(op, norm))
        continue;
      op.setHeadsNormEpsAttr(norm.getEpsAttr());
      norm.getResult().replaceAllUsesWith(op->getResult(0));
      norm.erase();
    }
  }
};
} // namespace
