//===- SelectAlgorithm.cpp - the algorithm asked for, on every recurrence -===//

#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Pipelines/ScheduleOptions.h"
#include "linrec/Transforms/Passes.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECSELECTALGORITHM
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecSelectAlgorithmPass
    : linrec::impl::LinrecSelectAlgorithmBase<LinrecSelectAlgorithmPass>,
      AlgorithmChoice<PassOption> {
  LinrecSelectAlgorithmPass() : AlgorithmChoice(static_cast<Pass &>(*this)) {}
  LinrecSelectAlgorithmPass(const LinrecSelectAlgorithmPass &other)
      : LinrecSelectAlgorithmBase(other), AlgorithmChoice(static_cast<Pass &>(*this)) {}

  void runOnOperation() override {
    if (!sequential && !chunkedProducts)
      return;
    getOperation()->walk([&](RecurrenceOp op) {
      if (sequential)
        op.setAlgorithmAttr(AlgorithmAttr::get(op.getContext(), Algorithm::Sequential));
      else if (RecurrenceAnalysis::analyze(op).productChunkable)
        op.setAlgorithmAttr(AlgorithmAttr::get(op.getContext(), Algorithm::ChunkedProduct));
    });
  }
};
} // namespace
