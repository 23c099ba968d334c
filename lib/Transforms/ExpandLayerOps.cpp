//===- ExpandLayerOps.cpp - linrec's layer-level tensor ops as linalg -----===//
//
// linrec.heads_rms_norm becomes two linalg.generics: the sum of squares over the heads and the
// head dim per token, then the division by RMS + eps.
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECEXPANDLAYEROPS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;
using utils::IteratorType;

static Value expandHeadsRmsNorm(OpBuilder &b, HeadsRmsNormOp norm) {
  Location loc = norm.getLoc();
  MLIRContext *ctx = b.getContext();
  Value x = norm.getInput();
  auto type = cast<RankedTensorType>(x.getType());
  float width = float(type.getDimSize(2) * type.getDimSize(3));
  float eps = float(norm.getEps().convertToDouble());
  Type f32 = b.getF32Type();
  AffineExpr B, T, H, C;
  bindDims(ctx, B, T, H, C);
  auto map = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(4, 0, results, ctx); };
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value sumsInit = linalg::FillOp::create(
                       b, loc, zero,
                       tensor::EmptyOp::create(b, loc, ArrayRef(sizes).take_front(2), f32).getResult())
                       .getResult(0);
  Value sums =
      linalg::GenericOp::create(
          b, loc, TypeRange{sumsInit.getType()}, ValueRange{x}, ValueRange{sumsInit},
          ArrayRef<AffineMap>{map({B, T, H, C}), map({B, T})},
          ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                                 IteratorType::reduction, IteratorType::reduction},
          [](OpBuilder &n, Location l, ValueRange args) {
            Value square = arith::MulFOp::create(n, l, args[0], args[0]);
            linalg::YieldOp::create(n, l, ValueRange{arith::AddFOp::create(n, l, args[1], square)});
          })
          .getResult(0);
  Value outEmpty = tensor::EmptyOp::create(b, loc, sizes, f32);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{x, sums}, ValueRange{outEmpty},
             ArrayRef<AffineMap>{map({B, T, H, C}), map({B, T}), map({B, T, H, C})},
             SmallVector<IteratorType>(4, IteratorType::parallel),
             [&](OpBuilder &n, Location l, ValueRange args) {
               Value meanSquare = arith::DivFOp::create(
                   n, l, args[1], arith::ConstantOp::create(n, l, n.getF32FloatAttr(width)));
               Value rms = math::SqrtOp::create(n, l, meanSquare);
               Value denominator = arith::AddFOp::create(
                   n, l, rms, arith::ConstantOp::create(n, l, n.getF32FloatAttr(eps)));
               linalg::YieldOp::create(n, l,
                                       ValueRange{arith::DivFOp::create(n, l, args[0], denominator)});
             })
      .getResult(0);
}

namespace {
struct LinrecExpandLayerOpsPass
    : linrec::impl::LinrecExpandLayerOpsBase<LinrecExpandLayerOpsPass> {
  void runOnOperation() override {
    SmallVector<HeadsRmsNormOp> norms;
    getOperation()->walk([&](HeadsRmsNormOp op) { norms.push_back(op); });
    for (HeadsRmsNormOp norm : norms) {
      OpBuilder b(norm);
      norm.getResult().replaceAllUsesWith(expandHeadsRmsNorm(b, norm));
      norm.erase();
    }
  }
};
} // namespace
