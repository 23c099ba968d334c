//===- WindowMath.cpp - window positions and weights of window attention --===//

#include "KernelCommon/WindowMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;

namespace linrec::codegen {

Value windowStart(ImplicitLocOpBuilder &b, WindowKind kind, int64_t size, Value i) {
  auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v).getResult(); };
  Value s = index(size);
  switch (kind) {
  case WindowKind::Sliding: {
    Value reached = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, i, s);
    Value startIfReached = arith::SubIOp::create(b, arith::AddIOp::create(b, i, index(1)), s);
    return arith::SelectOp::create(b, reached, startIfReached, index(0));
  }
  case WindowKind::Block:
    return arith::MulIOp::create(b, arith::DivUIOp::create(b, i, s), s);
  case WindowKind::Terraced: {
    Value blockStart = arith::MulIOp::create(b, arith::DivUIOp::create(b, i, s), s);
    Value reached = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, blockStart, s);
    return arith::SelectOp::create(b, reached, arith::SubIOp::create(b, blockStart, s),
                                   index(0));
  }
  }
  return index(0);
}

std::pair<Value, Value> windowWeights(ImplicitLocOpBuilder &b, WindowWeighting weighting,
                                      Value scores, Value keep) {
  auto type = cast<VectorType>(scores.getType());
  Value zero = arith::ConstantOp::create(b, DenseElementsAttr::get(type, 0.0f));
  if (weighting == WindowWeighting::Relu)
    return {arith::SelectOp::create(b, keep, arith::MaximumFOp::create(b, scores, zero), zero),
            Value()};
  Value lowest = arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, -std::numeric_limits<float>::infinity()));
  Value max = vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF,
                                          arith::SelectOp::create(b, keep, scores, lowest));
  Value shifted = arith::SubFOp::create(b, scores, vector::BroadcastOp::create(b, type, max));
  Value weights = arith::SelectOp::create(
      b, keep, math::ExpOp::create(b, arith::SelectOp::create(b, keep, shifted, zero)), zero);
  Value sum = vector::ReductionOp::create(b, vector::CombiningKind::ADD, weights);
  if (weighting == WindowWeighting::ShiftedExp)
    return {weights, sum};
  return {arith::DivFOp::create(b, weights, vector::BroadcastOp::create(b, type, sum)), Value()};
}

} // namespace linrec::codegen
