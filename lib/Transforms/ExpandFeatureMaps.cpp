//===- ExpandFeatureMaps.cpp - feature maps to arith/math/vector ----------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <numeric>

namespace linrec {
#define GEN_PASS_DEF_LINRECEXPANDFEATUREMAPS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {

/// A constant of `type` (f32 or a vector of f32) filled with `value`.
Value constantLike(OpBuilder &b, Location loc, Type type, double value) {
  if (auto vec = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vec, float(value)));
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(value)));
}

struct ExpandFeatureMap : OpRewritePattern<FeatureMapOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FeatureMapOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Type type = x.getType();
    auto c = [&](double v) { return constantLike(rewriter, loc, type, v); };
    // e^{−|x|} and log1p of it: the stable pieces of sigmoid, logsigmoid and softplus.
    auto expNegAbs = [&] {
      return math::ExpOp::create(rewriter, loc,
                                 arith::NegFOp::create(rewriter, loc,
                                                       math::AbsFOp::create(rewriter, loc, x)));
    };
    Value result;
    switch (op.getKind()) {
    case FeatureMapKind::Identity:
      result = x;
      break;
    case FeatureMapKind::Relu:
      result = arith::MaximumFOp::create(rewriter, loc, x, c(0.0));
      break;
    case FeatureMapKind::Elu:
    case FeatureMapKind::EluPlusOne: {
      // e^{m} − 1 for m = min(x, 0) <= 0: a Taylor polynomial where e^{m} − 1 would cancel
      // (|m| < 0.1, truncation below 1.4e-9), one exp elsewhere (absolute error ~6e-8). The
      // polynomial expm1 approximation costs an exp and a log (measured: a fifth of a
      // TransNormer layer's time).
      Value m = arith::MinimumFOp::create(rewriter, loc, x, c(0.0));
      Value taylor = c(1.0 / 120.0);
      for (double coefficient : {1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0})
        taylor = math::FmaOp::create(rewriter, loc, taylor, m, c(coefficient));
      taylor = arith::MulFOp::create(rewriter, loc, taylor, m);
      Value viaExp = arith::SubFOp::create(rewriter, loc, math::ExpOp::create(rewriter, loc, m),
                                           c(1.0));
      Value small = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OGT, m, c(-0.1));
      Value negative = arith::SelectOp::create(rewriter, loc, small, taylor, viaExp);
      Value positive = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OGT, x, c(0.0));
      result = arith::SelectOp::create(rewriter, loc, positive, x, negative);
      if (op.getKind() == FeatureMapKind::EluPlusOne)
        result = arith::AddFOp::create(rewriter, loc, result, c(1.0));
      break;
    }
    case FeatureMapKind::Exp:
      result = math::ExpOp::create(rewriter, loc, x);
      break;
    case FeatureMapKind::Sigmoid: {
      // 1/(1+e^{−|x|}) for x >= 0, e^{−|x|}/(1+e^{−|x|}) otherwise.
      Value e = expNegAbs();
      Value denominator = arith::AddFOp::create(rewriter, loc, c(1.0), e);
      Value nonNegative = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OGE, x, c(0.0));
      Value numerator = arith::SelectOp::create(rewriter, loc, nonNegative, c(1.0), e);
      result = arith::DivFOp::create(rewriter, loc, numerator, denominator);
      break;
    }
    case FeatureMapKind::LogSigmoid:
    case FeatureMapKind::Softplus: {
      Value log1p = math::Log1pOp::create(rewriter, loc, expNegAbs());
      if (op.getKind() == FeatureMapKind::LogSigmoid)
        result = arith::SubFOp::create(rewriter, loc,
                                       arith::MinimumFOp::create(rewriter, loc, x, c(0.0)), log1p);
      else
        result = arith::AddFOp::create(rewriter, loc,
                                       arith::MaximumFOp::create(rewriter, loc, x, c(0.0)), log1p);
      break;
    }
    case FeatureMapKind::Softmax: {
      Value max = vector::ReductionOp::create(rewriter, loc, vector::CombiningKind::MAXIMUMF, x);
      Value shifted = arith::SubFOp::create(rewriter, loc, x,
                                            vector::BroadcastOp::create(rewriter, loc, type, max));
      Value e = math::ExpOp::create(rewriter, loc, shifted);
      Value sum = vector::ReductionOp::create(rewriter, loc, vector::CombiningKind::ADD, e);
      result = arith::DivFOp::create(rewriter, loc, e,
                                     vector::BroadcastOp::create(rewriter, loc, type, sum));
      break;
    }
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// [a, b]: two 1-D vectors concatenated by a shuffle.
Value concat(OpBuilder &b, Location loc, Value first, Value second) {
  SmallVector<int64_t> positions(cast<VectorType>(first.getType()).getDimSize(0) +
                                 cast<VectorType>(second.getType()).getDimSize(0));
  std::iota(positions.begin(), positions.end(), 0);
  return vector::ShuffleOp::create(b, loc, first, second, positions);
}

/// [f(u), f(−u)] as two feature maps and a concatenating shuffle.
struct ExpandHedgehogMap : OpRewritePattern<HedgehogMapOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(HedgehogMapOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value u = op.getInput();
    auto kind = op.getKindAttr();
    Value positive = FeatureMapOp::create(rewriter, loc, u.getType(), kind, u);
    Value negative = FeatureMapOp::create(rewriter, loc, u.getType(), kind,
                                          arith::NegFOp::create(rewriter, loc, u));
    rewriter.replaceOp(op, concat(rewriter, loc, positive, negative));
    return success();
  }
};

/// [1, c1 x, c2 x⊗x, ...] with shuffles: x^{⊗p} = (x^{⊗(p−1)} repeated d times per element) ⊙
/// (x tiled d^{p−1} times), then the pieces scaled and concatenated.
struct ExpandPolynomialMap : OpRewritePattern<PolynomialMapOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PolynomialMapOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t d = cast<VectorType>(x.getType()).getDimSize(0);
    Type f32 = rewriter.getF32Type();
    Value result = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(VectorType::get({1}, f32), 1.0f));
    Value power = x;
    double factorial = 1;
    for (int64_t p = 1; p <= op.getDegree(); ++p) {
      factorial *= double(p);
      int64_t width = cast<VectorType>(power.getType()).getDimSize(0);
      if (p > 1) {
        SmallVector<int64_t> repeat, tile;
        for (int64_t i = 0; i < width * d; ++i) {
          repeat.push_back(i / d);
          tile.push_back(i % d);
        }
        Value repeated = vector::ShuffleOp::create(rewriter, loc, power, power, repeat);
        Value tiled = vector::ShuffleOp::create(rewriter, loc, x, x, tile);
        power = arith::MulFOp::create(rewriter, loc, repeated, tiled);
        width *= d;
      }
      Value coefficient = constantLike(rewriter, loc, power.getType(),
                                       std::pow(factorial, -1.0 / 3.0));
      Value piece = arith::MulFOp::create(rewriter, loc, power, coefficient);
      result = concat(rewriter, loc, result, piece);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// x / sqrt(Σ x² + eps)
struct ExpandL2Norm : OpRewritePattern<L2NormOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(L2NormOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value squares = arith::MulFOp::create(rewriter, loc, x, x);
    Value sum = vector::ReductionOp::create(rewriter, loc, vector::CombiningKind::ADD, squares);
    Value eps = arith::ConstantOp::create(rewriter, loc, op.getEpsAttr());
    Value inverse = math::RsqrtOp::create(rewriter, loc, arith::AddFOp::create(rewriter, loc, sum, eps));
    rewriter.replaceOpWithNewOp<arith::MulFOp>(
        op, x, vector::BroadcastOp::create(rewriter, loc, x.getType(), inverse));
    return success();
  }
};

struct LinrecExpandFeatureMapsPass
    : linrec::impl::LinrecExpandFeatureMapsBase<LinrecExpandFeatureMapsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandFeatureMap, ExpandHedgehogMap, ExpandPolynomialMap, ExpandL2Norm>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
