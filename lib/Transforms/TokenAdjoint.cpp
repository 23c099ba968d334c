//===- TokenAdjoint.cpp - adjoints of per-token body computations ---------===//

#include "TokenAdjoint.h"
#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace linrec;

namespace {
/// Emits the rules; `g` is the cotangent of the op's (single) result.
class TokenAdjoint {
public:
  TokenAdjoint(OpBuilder &b, Location loc, DenseMap<Value, Value> &cotangents)
      : b(b), loc(loc), cotangents(cotangents) {}

  LogicalResult run(ArrayRef<Operation *> ops) {
    for (Operation *op : llvm::reverse(ops)) {
      if (op->getNumResults() != 1)
        continue;
      auto it = cotangents.find(op->getResult(0));
      if (it == cotangents.end())
        continue; // nothing downstream depends on it
      if (failed(adjoint(op, it->second)))
        return failure();
    }
    return success();
  }

private:
  OpBuilder &b;
  Location loc;
  DenseMap<Value, Value> &cotangents;

  void add(Value x, Value g) {
    if (!isa<FloatType>(getElementTypeOrSelf(x.getType())))
      return;
    Value &slot = cotangents[x];
    slot = slot ? arith::AddFOp::create(b, loc, slot, g).getResult() : g;
  }
  Value constant(Type type, double value) {
    if (auto vector = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vector, b.getF32FloatAttr(static_cast<float>(value))));
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(value)));
  }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value sum(Value x) { return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, x); }
  Value splat(Value scalar, Type like) {
    return isa<VectorType>(like) ? vector::BroadcastOp::create(b, loc, like, scalar).getResult()
                                 : scalar;
  }
  Value sigmoid(Value x) {
    return FeatureMapOp::create(b, loc, x.getType(),
                                FeatureMapKindAttr::get(b.getContext(), FeatureMapKind::Sigmoid), x);
  }
  /// g where x > 0, else `otherwise` (a value of g's type).
  Value wherePositive(Value x, Value g, Value otherwise) {
    Value positive =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, constant(x.getType(), 0));
    return arith::SelectOp::create(b, loc, positive, g, otherwise);
  }

  LogicalResult adjoint(Operation *op, Value g) {
    Value y = op->getResult(0);
    auto x = [&](unsigned i) { return op->getOperand(i); };
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case([&](arith::ConstantOp) { return success(); })
        .Case([&](arith::AddFOp) { return add(x(0), g), add(x(1), g), success(); })
        .Case([&](arith::SubFOp) { return add(x(0), g), add(x(1), neg(g)), success(); })
        .Case([&](arith::MulFOp) {
          return add(x(0), mul(g, x(1))), add(x(1), mul(g, x(0))), success();
        })
        .Case([&](arith::DivFOp) {
          return add(x(0), div(g, x(1))), add(x(1), neg(div(mul(g, y), x(1)))), success();
        })
        .Case([&](arith::NegFOp) { return add(x(0), neg(g)), success(); })
        .Case([&](arith::SelectOp select) {
          Value zero = constant(g.getType(), 0);
          add(select.getTrueValue(), arith::SelectOp::create(b, loc, select.getCondition(), g, zero));
          add(select.getFalseValue(), arith::SelectOp::create(b, loc, select.getCondition(), zero, g));
          return success();
        })
        .Case([&](math::ExpOp) { return add(x(0), mul(g, y)), success(); })
        .Case([&](math::ExpM1Op) {
          return add(x(0), mul(g, arith::AddFOp::create(b, loc, y, constant(y.getType(), 1)))),
                 success();
        })
        .Case([&](math::LogOp) { return add(x(0), div(g, x(0))), success(); })
        .Case([&](math::Log1pOp) {
          return add(x(0), div(g, arith::AddFOp::create(b, loc, x(0), constant(y.getType(), 1)))),
                 success();
        })
        .Case([&](math::SqrtOp) {
          return add(x(0), div(g, mul(constant(y.getType(), 2), y))), success();
        })
        .Case([&](math::RsqrtOp) { // d x^{-1/2} = −½ y³
          return add(x(0), mul(g, mul(constant(y.getType(), -0.5), mul(y, mul(y, y))))), success();
        })
        .Case([&](math::TanhOp) {
          return add(x(0), mul(g, sub(constant(y.getType(), 1), mul(y, y)))), success();
        })
        .Case([&](vector::BroadcastOp) {
          return add(x(0), isa<VectorType>(x(0).getType()) ? g : sum(g)), success();
        })
        .Case([&](vector::ExtractOp) { // a one-element vector's element
          return add(x(0), splat(g, x(0).getType())), success();
        })
        .Case([&](vector::ReductionOp reduction) -> LogicalResult {
          if (reduction.getKind() != vector::CombiningKind::ADD || reduction.getAcc())
            return op->emitOpError("has no derived backward yet (reductions other than a sum)");
          add(x(0), splat(g, x(0).getType()));
          return success();
        })
        .Case([&](FeatureMapOp map) { return featureMap(map, g); })
        .Case([&](HedgehogMapOp map) { return hedgehogMap(map, g); })
        .Case([&](PolynomialMapOp map) { return polynomialMap(map, g), success(); })
        .Case([&](L2NormOp norm) {
          // y = x / n, n = √(Σx² + eps): dx = (g − y ⟨y, g⟩) / n.
          Value input = norm.getInput();
          Value squares = sum(mul(input, input));
          Value eps = arith::ConstantOp::create(b, loc, norm.getEpsAttr());
          Value n = math::SqrtOp::create(b, loc, arith::AddFOp::create(b, loc, squares, eps));
          Value along = mul(y, splat(sum(mul(y, g)), y.getType()));
          add(input, div(sub(g, along), splat(n, y.getType())));
          return success();
        })
        .Default([&](Operation *other) {
          return other->emitOpError("has no derived backward yet (per-token op without an "
                                    "adjoint rule)");
        });
  }

  /// Elements [offset, offset + n) of a vector.
  Value half(Value v, int64_t offset, int64_t n) {
    return gather(v, [&](int64_t i) { return offset + i; }, n);
  }
  /// The vector<n> of v's elements at index(0), …, index(n − 1).
  Value gather(Value v, function_ref<int64_t(int64_t)> index, int64_t n) {
    SmallVector<int64_t> indices;
    for (int64_t i = 0; i < n; ++i)
      indices.push_back(index(i));
    return vector::ShuffleOp::create(b, loc, v, v, indices);
  }

  /// φ(x) = [1, c₁ P₁, …, c_g P_g] with P₁ = x, P_p = repeat(P_{p−1}) ⊙ tile(x) (element
  /// m·d + j of P_p is P_{p−1}[m] x_j) and c_p = (p!)^{−1/3}: the powers again, then from the
  /// highest down, dP_{p−1}[m] += Σ_j (dP_p ⊙ tile(x))[m·d + j] and
  /// dx_j += Σ_m (dP_p ⊙ repeat(P_{p−1}))[m·d + j].
  void polynomialMap(PolynomialMapOp map, Value g) {
    Value x = map.getInput();
    int64_t d = cast<VectorType>(x.getType()).getDimSize(0), degree = map.getDegree();
    if (degree < 1)
      return; // φ = [1]
    SmallVector<Value> repeated = {Value(), Value()}, tiled = {Value(), Value()};
    SmallVector<Value> powers = {Value(), x}; // P_p at index p
    SmallVector<int64_t> widths = {1, d};     // d^p
    for (int64_t p = 2; p <= degree; ++p) {
      int64_t width = widths.back() * d;
      repeated.push_back(gather(powers.back(), [&](int64_t i) { return i / d; }, width));
      tiled.push_back(gather(x, [&](int64_t i) { return i % d; }, width));
      powers.push_back(mul(repeated.back(), tiled.back()));
      widths.push_back(width);
    }
    double factorial = 1;
    int64_t offset = 1; // of segment p in φ
    SmallVector<Value> dPowers = {Value()};
    for (int64_t p = 1; p <= degree; ++p) {
      factorial *= double(p);
      Value segment = half(g, offset, widths[p]);
      dPowers.push_back(mul(segment, constant(segment.getType(), std::pow(factorial, -1.0 / 3.0))));
      offset += widths[p];
    }
    Value dx;
    auto accumulate = [&](Value &into, Value term) {
      into = into ? arith::AddFOp::create(b, loc, into, term).getResult() : term;
    };
    for (int64_t p = degree; p >= 2; --p) {
      int64_t lower = widths[p - 1];
      Value viaLower = mul(dPowers[p], tiled[p]), viaX = mul(dPowers[p], repeated[p]);
      for (int64_t j = 0; j < d; ++j)
        accumulate(dPowers[p - 1], gather(viaLower, [&](int64_t m) { return m * d + j; }, lower));
      for (int64_t m = 0; m < lower; ++m)
        accumulate(dx, gather(viaX, [&](int64_t j) { return m * d + j; }, d));
    }
    accumulate(dx, dPowers[1]);
    add(x, dx);
  }

  /// y = [f(u), f(−u)]: du = f'(u)ᵀ g₁ − f'(−u)ᵀ g₂ (softmax: y ⊙ (g − ⟨g, y⟩) per half;
  /// exp: g ⊙ y per half).
  LogicalResult hedgehogMap(HedgehogMapOp map, Value g) {
    Value y = map.getResult();
    int64_t n = cast<VectorType>(map.getInput().getType()).getDimSize(0);
    Value y1 = half(y, 0, n), y2 = half(y, n, n), g1 = half(g, 0, n), g2 = half(g, n, n);
    auto slope = [&](Value yh, Value gh) -> Value {
      if (map.getKind() == FeatureMapKind::Exp)
        return mul(gh, yh);
      return mul(yh, sub(gh, splat(sum(mul(gh, yh)), yh.getType())));
    };
    if (map.getKind() != FeatureMapKind::Exp && map.getKind() != FeatureMapKind::Softmax)
      return map.emitOpError("has no derived backward yet (a Hedgehog map other than softmax "
                             "or exp)");
    add(map.getInput(), sub(slope(y1, g1), slope(y2, g2)));
    return success();
  }

  LogicalResult featureMap(FeatureMapOp map, Value g) {
    Value in = map.getInput(), y = map.getResult();
    Type type = y.getType();
    Value gx;
    switch (map.getKind()) {
    case FeatureMapKind::Identity:
      gx = g;
      break;
    case FeatureMapKind::Relu:
      gx = wherePositive(in, g, constant(type, 0));
      break;
    case FeatureMapKind::Elu: // expm1(x) below 0: slope y + 1
      gx = wherePositive(in, g, mul(g, arith::AddFOp::create(b, loc, y, constant(type, 1))));
      break;
    case FeatureMapKind::EluPlusOne: // e^x below 0: slope y
      gx = wherePositive(in, g, mul(g, y));
      break;
    case FeatureMapKind::Exp:
      gx = mul(g, y);
      break;
    case FeatureMapKind::Sigmoid:
      gx = mul(g, mul(y, sub(constant(type, 1), y)));
      break;
    case FeatureMapKind::LogSigmoid: // slope σ(−x)
      gx = mul(g, sigmoid(neg(in)));
      break;
    case FeatureMapKind::Softplus: // slope σ(x)
      gx = mul(g, sigmoid(in));
      break;
    case FeatureMapKind::Softmax: // y ⊙ (g − ⟨g, y⟩)
      gx = mul(y, sub(g, splat(sum(mul(g, y)), type)));
      break;
    }
    add(in, gx);
    return success();
  }
};
} // namespace

LogicalResult linrec::emitTokenAdjoint(OpBuilder &b, Location loc, ArrayRef<Operation *> ops,
                                       DenseMap<Value, Value> &cotangents) {
  return TokenAdjoint(b, loc, cotangents).run(ops);
}
