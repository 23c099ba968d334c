//===- WindowAttentionBackward.cpp - the adjoint of linrec.window_attention ===//
//
// A window attention's adjoint over the band of keys each query sees, as linalg on
// [B, T, H, W] tensors: W = reach + 1 offsets w, offset w of query t the key j = t − reach + w.
// With s = scale q·k_j (−∞ outside the window), the weights a(s) the forward applies and
// g = do · v_j:
//
//   softmax      a = e^{s − m} / Σ e^{s − m},  ∂s = a (g − Σ_w a g)
//   shifted_exp  a = e^{s − m},               ∂s = a (g + dd), and −Σ_w of those at the
//                                              arg-max (the max is differentiated as the max)
//   relu         a = max(s, 0),               ∂s = g where s > 0
//
//   dq_t = scale Σ_w ∂s k_j,  dk_j = scale Σ ∂s q_t,  dv_j = Σ a do_t
//
// over the queries t whose window holds j. Keys and values are padded by `reach` zero tokens
// before the sequence (k_pad[t + w] = k_j), queries and band tensors by `reach` after it
// (t = j + reach − w), so every index is an affine function of the loops. The ops are plain
// linalg, which every target runs as loops; a window backward kernel is a later step.
//
//===----------------------------------------------------------------------===//

#include "AdjointTensors.h"
#include "Backward.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace linrec;
using namespace linrec::adjoint;

namespace {
/// The band tensors of one window attention and the ops that build them.
class WindowAttentionAdjoint {
public:
  WindowAttentionAdjoint(OpBuilder &b, WindowAttentionOp op)
      : b(b), loc(op.getLoc()), op(op), ctx(b.getContext()), f32(b.getF32Type()) {
    auto q = cast<RankedTensorType>(op.getQ().getType());
    auto v = cast<RankedTensorType>(op.getV().getType());
    B = q.getDimSize(0), T = q.getDimSize(1), H = q.getDimSize(2);
    dk = q.getDimSize(3), dv = v.getDimSize(3);
    reach = op.getReach();
    scale = op.getScale().convertToDouble();
    band = RankedTensorType::get({B, T, H, reach + 1}, f32);
    rows = RankedTensorType::get({B, T, H}, f32);
  }

  void run(Value dO, Value dD, Adjoints &adjoints) {
    Value kPad = padTokens(b, loc, op.getK(), reach, 0);
    Value vPad = padTokens(b, loc, op.getV(), reach, 0);
    Value scores = windowScores(kPad);
    Value g = bandProducts(dO, vPad); // do · v_j
    Value max = rowReduce(scores, -std::numeric_limits<double>::infinity(),
                          [](OpBuilder &nb, Location l, Value acc, Value x) {
                            return arith::MaximumFOp::create(nb, l, acc, x).getResult();
                          });
    Value weights, dScores;
    weightsAndScoreAdjoint(scores, max, g, dD, weights, dScores);
    adjoints.add(b, loc, op.getQ(), bandTimesTokens(dScores, kPad, dk, scale));
    adjoints.add(b, loc, op.getK(), tokensTimesBand(dScores, op.getQ(), dk, scale));
    adjoints.add(b, loc, op.getV(), tokensTimesBand(weights, dO, dv, 1.0));
  }

private:
  OpBuilder &b;
  Location loc;
  WindowAttentionOp op;
  MLIRContext *ctx;
  Type f32;
  int64_t B, T, H, dk, dv, reach;
  double scale;
  RankedTensorType band, rows;

  AffineExpr dim(unsigned i) { return getAffineDimExpr(i, ctx); }
  AffineMap map(unsigned loops, ArrayRef<AffineExpr> exprs) {
    return AffineMap::get(loops, 0, exprs, ctx);
  }
  AffineMap identity(unsigned loops) { return AffineMap::getMultiDimIdentityMap(loops, ctx); }
  Value constant(OpBuilder &nb, Location l, double value) {
    return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(static_cast<float>(value)));
  }
  /// acc + x·y; the sum may be reassociated, so that the loops vectorize.
  static Value mulAdd(OpBuilder &nb, Location l, ValueRange a) {
    return arith::AddFOp::create(nb, l, a[2], arith::MulFOp::create(nb, l, a[0], a[1]),
                                 arith::FastMathFlags::reassoc);
  }

  /// x[b, t, h, :] · yPad[b, t + w, h, :] for every (b, t, h, w): loops (b, t, h, w, d).
  Value bandProducts(Value x, Value yPad) {
    return buildGeneric(b, loc, band, {x, yPad},
                        {map(5, {dim(0), dim(1), dim(2), dim(4)}),
                         map(5, {dim(0), dim(1) + dim(3), dim(2), dim(4)})},
                        1, mulAdd);
  }

  /// scale q·k_j inside the window, −∞ outside it.
  Value windowScores(Value kPad) {
    Value dots = bandProducts(op.getQ(), kPad);
    return buildGeneric(b, loc, band, {dots}, {identity(4)}, 0,
                        [&](OpBuilder &nb, Location l, ValueRange a) {
                          Value s = arith::MulFOp::create(nb, l, a[0], constant(nb, l, scale));
                          Value inf = constant(nb, l, -std::numeric_limits<double>::infinity());
                          return arith::SelectOp::create(nb, l, inWindow(nb, l), s, inf)
                              .getResult();
                        });
  }

  /// Whether offset w of query t (the loops' dims 1 and 3) is a key of its window:
  /// j = t − reach + w ≥ 0 and j ≥ the window's first key (windowStart).
  Value inWindow(OpBuilder &nb, Location l) {
    auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(nb, l, v).getResult(); };
    Value t = linalg::IndexOp::create(nb, l, 1), w = linalg::IndexOp::create(nb, l, 3);
    Value tw = arith::AddIOp::create(nb, l, t, w);
    // j ≥ first  ⇔  t + w ≥ first + reach (all unsigned-safe: both sides are ≥ 0).
    auto atLeast = [&](Value first) {
      return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, tw,
                                   arith::AddIOp::create(nb, l, first, index(reach)));
    };
    Value valid = atLeast(index(0));
    int64_t size = static_cast<int64_t>(op.getSize());
    if (op.getWindow() != WindowKind::Sliding) { // sliding: j ≥ t − size + 1 always holds
      Value blockStart = arith::MulIOp::create(
          nb, l, arith::DivUIOp::create(nb, l, t, index(size)), index(size));
      if (op.getWindow() == WindowKind::Terraced) {
        // (⌊t/size⌋ − 1)·size, written so that it never goes below 0 in unsigned terms:
        // t + w ≥ blockStart − size + reach ⇔ t + w + size ≥ blockStart + reach.
        Value shifted = arith::AddIOp::create(nb, l, tw, index(size));
        valid = arith::AndIOp::create(
            nb, l, valid,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, shifted,
                                  arith::AddIOp::create(nb, l, blockStart, index(reach))));
      } else {
        valid = arith::AndIOp::create(nb, l, valid, atLeast(blockStart));
      }
    }
    return valid;
  }

  /// Σ_w of a band tensor (or another reduction `combine` from `init`), per (b, t, h).
  Value rowReduce(Value x, double init,
                  function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
    return buildGeneric(
        b, loc, rows, {x}, {identity(4)}, 1,
        [&](OpBuilder &nb, Location l, ValueRange a) { return combine(nb, l, a[1], a[0]); },
        init);
  }
  Value rowSum(Value x) {
    return rowReduce(x, 0.0, [](OpBuilder &nb, Location l, Value acc, Value v) {
      return arith::AddFOp::create(nb, l, acc, v).getResult();
    });
  }

  /// f(band values, row values) per band element.
  Value bandMap(ValueRange bandInputs, ValueRange rowInputs,
                function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
    SmallVector<Value> inputs(bandInputs);
    llvm::append_range(inputs, rowInputs);
    SmallVector<AffineMap> maps(bandInputs.size(), identity(4));
    maps.append(rowInputs.size(), map(4, {dim(0), dim(1), dim(2)}));
    return buildGeneric(b, loc, band, inputs, maps, 0, f);
  }

  /// The weights the forward applies to the values, and the scores' adjoint.
  void weightsAndScoreAdjoint(Value scores, Value max, Value g, Value dD, Value &weights,
                              Value &dScores) {
    auto exp = [&](OpBuilder &nb, Location l, Value s, Value m) {
      return math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, s, m)).getResult();
    };
    switch (op.getWeighting()) {
    case WindowWeighting::Softmax: {
      Value e = bandMap({scores}, {max}, [&](OpBuilder &nb, Location l, ValueRange a) {
        return exp(nb, l, a[0], a[1]);
      });
      weights = bandMap({e}, {rowSum(e)}, [](OpBuilder &nb, Location l, ValueRange a) {
        return arith::DivFOp::create(nb, l, a[0], a[1]).getResult();
      });
      Value dot = rowSum(multiply(b, loc, weights, g));
      dScores = bandMap({weights, g}, {dot}, [](OpBuilder &nb, Location l, ValueRange a) {
        return arith::MulFOp::create(nb, l, a[0], arith::SubFOp::create(nb, l, a[1], a[2]))
            .getResult();
      });
      return;
    }
    case WindowWeighting::ShiftedExp: {
      weights = bandMap({scores}, {max}, [&](OpBuilder &nb, Location l, ValueRange a) {
        return exp(nb, l, a[0], a[1]);
      });
      Value direct = dD ? bandMap({weights, g}, {dD},
                                  [](OpBuilder &nb, Location l, ValueRange a) {
                                    return arith::MulFOp::create(
                                               nb, l, a[0], arith::AddFOp::create(nb, l, a[1], a[2]))
                                        .getResult();
                                  })
                        : multiply(b, loc, weights, g);
      // The shift m = max_w s moves every term: −Σ_w ∂s at the first arg-max.
      Value first = rowReduce(
          bandMap({scores}, {max},
                  [&](OpBuilder &nb, Location l, ValueRange a) {
                    Value w = arith::SIToFPOp::create(
                        nb, l, f32,
                        arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                                   linalg::IndexOp::create(nb, l, 3)));
                    Value isMax =
                        arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
                    return arith::SelectOp::create(nb, l, isMax, w,
                                                   constant(nb, l, double(reach + 1)))
                        .getResult();
                  }),
          double(reach + 1), [](OpBuilder &nb, Location l, Value acc, Value x) {
            return arith::MinimumFOp::create(nb, l, acc, x).getResult();
          });
      Value total = rowSum(direct);
      dScores = bandMap({direct}, {first, total}, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value w = arith::SIToFPOp::create(
            nb, l, f32,
            arith::IndexCastOp::create(nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, 3)));
        Value atMax = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, w, a[1]);
        Value shifted = arith::SubFOp::create(nb, l, a[0], a[2]);
        return arith::SelectOp::create(nb, l, atMax, shifted, a[0]).getResult();
      });
      return;
    }
    case WindowWeighting::Relu: {
      weights = bandMap({scores}, {}, [&](OpBuilder &nb, Location l, ValueRange a) {
        return arith::MaximumFOp::create(nb, l, a[0], constant(nb, l, 0.0)).getResult();
      });
      dScores = bandMap({scores, g}, {}, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value positive =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, a[0], constant(nb, l, 0.0));
        return arith::SelectOp::create(nb, l, positive, a[1], constant(nb, l, 0.0)).getResult();
      });
      return;
    }
    }
  }

  /// out[b, t, h, d] = factor · Σ_w x[b, t, h, w] y[b, row(t, w), h, d] over loops
  /// (b, t, h, w, d): the offsets reduce outside the feature loop, so the innermost loop runs
  /// along contiguous rows.
  Value bandContraction(Value x, AffineMap xMap, Value y, AffineMap yMap, int64_t width,
                        double factor) {
    auto type = RankedTensorType::get({B, T, H, width}, f32);
    using utils::IteratorType;
    SmallVector<IteratorType> iterators = {IteratorType::parallel, IteratorType::parallel,
                                           IteratorType::parallel, IteratorType::reduction,
                                           IteratorType::parallel};
    AffineMap out = map(5, {dim(0), dim(1), dim(2), dim(4)});
    return linalg::GenericOp::create(
               b, loc, TypeRange{type}, ValueRange{x, y}, ValueRange{zerosLike(b, loc, type)},
               ArrayRef<AffineMap>{xMap, yMap, out}, iterators,
               [&](OpBuilder &nb, Location l, ValueRange a) {
                 Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                 if (factor != 1.0)
                   p = arith::MulFOp::create(nb, l, p, constant(nb, l, factor));
                 linalg::YieldOp::create(nb, l, ValueRange{arith::AddFOp::create(nb, l, a[2], p)});
               })
        .getResult(0);
  }

  /// factor · Σ_w x[b, t, h, w] yPad[b, t + w, h, :] (dq from the keys).
  Value bandTimesTokens(Value x, Value yPad, int64_t width, double factor) {
    return bandContraction(x, map(5, {dim(0), dim(1), dim(2), dim(3)}), yPad,
                           map(5, {dim(0), dim(1) + dim(3), dim(2), dim(4)}), width, factor);
  }

  /// factor · Σ_w x[b, t, h, w] y[b, t, h, :] with t = j + reach − w, per key j (dk and dv
  /// from the queries whose windows hold j): band and tokens padded after the sequence.
  Value tokensTimesBand(Value x, Value y, int64_t width, double factor) {
    Value xEnd = padTokens(b, loc, x, 0, reach), yEnd = padTokens(b, loc, y, 0, reach);
    AffineExpr query = dim(1) + reach - dim(3);
    return bandContraction(xEnd, map(5, {dim(0), query, dim(2), dim(3)}), yEnd,
                           map(5, {dim(0), query, dim(2), dim(4)}), width, factor);
  }
};
} // namespace

LogicalResult linrec::emitWindowAttentionAdjoint(OpBuilder &b, WindowAttentionOp op,
                                                 Adjoints &adjoints) {
  for (Value operand : op->getOperands())
    if (!cast<RankedTensorType>(operand.getType()).hasStaticShape())
      return op.emitOpError("has no derived backward yet: dynamic shapes");
  Location loc = op.getLoc();
  Value dO = adjoints.get(b, loc, op.getO());
  Value dD;
  if (Value denominator = op.getDenominator(); denominator && adjoints.map.count(denominator))
    dD = adjoints.map.lookup(denominator);
  WindowAttentionAdjoint(b, op).run(dO, dD, adjoints);
  return success();
}
