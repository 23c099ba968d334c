//===- ApproximateMath.cpp - vectorizable math functions ------------------===//

#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECAPPROXIMATEMATH
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;

namespace {
struct LinrecApproximateMathPass
    : linrec::impl::LinrecApproximateMathBase<LinrecApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
