//===- AdjointTensors.cpp - tensor pieces of derived backwards ------------===//

#include "AdjointTensors.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace linrec::adjoint {

Value zerosLike(OpBuilder &b, Location loc, Type type) {
  auto tensor = cast<RankedTensorType>(type);
  Value empty = tensor::EmptyOp::create(b, loc, tensor.getShape(), tensor.getElementType());
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(tensor.getElementType()));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

Value filledLike(OpBuilder &b, Location loc, Type type, double value) {
  auto tensor = cast<RankedTensorType>(type);
  Value empty = tensor::EmptyOp::create(b, loc, tensor.getShape(), tensor.getElementType());
  Value fill =
      arith::ConstantOp::create(b, loc, b.getFloatAttr(tensor.getElementType(), value));
  return linalg::FillOp::create(b, loc, fill, empty).getResult(0);
}

Value padTokens(OpBuilder &b, Location loc, Value x, int64_t before, int64_t after) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> low(type.getRank(), b.getIndexAttr(0)),
      high(type.getRank(), b.getIndexAttr(0));
  low[1] = b.getIndexAttr(before);
  high[1] = b.getIndexAttr(after);
  SmallVector<int64_t> shape(type.getShape());
  shape[1] += before + after;
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()), x,
                               low, high, zero);
}

/// A linalg.generic producing `resultType` from `inputs` read through `maps` (the result's
/// map is the identity of `resultType`'s rank plus `reduced` trailing reduction loops).
Value buildGeneric(OpBuilder &b, Location loc, RankedTensorType resultType,
                          ValueRange inputs, ArrayRef<AffineMap> maps, unsigned reduced,
                          function_ref<Value(OpBuilder &, Location, ValueRange)> payload,
                          double initValue) {
  unsigned rank = resultType.getRank(), loops = rank + reduced;
  // The result takes the leading `rank` loops: the reductions run innermost.
  SmallVector<AffineMap> all(maps);
  all.push_back(AffineMap::getMultiDimIdentityMap(loops, b.getContext()).getMajorSubMap(rank));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.append(reduced, utils::IteratorType::reduction);
  Value init = reduced ? filledLike(b, loc, resultType, initValue)
                       : tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                                 resultType.getElementType())
                             .getResult();
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{init}, all, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value value = payload(nb, nloc, args);
               linalg::YieldOp::create(nb, nloc, value);
             })
      .getResult(0);
}

AffineMap dimsMap(unsigned loops, ArrayRef<unsigned> dims, MLIRContext *ctx) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(loops, 0, exprs, ctx);
}

/// op(x, y) element by element (an arith binary op).
template <typename BinaryOp>
static Value elementwise(OpBuilder &b, Location loc, Value x, Value y) {
  auto type = cast<RankedTensorType>(x.getType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  return buildGeneric(b, loc, type, {x, y}, {id, id}, 0,
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        return BinaryOp::create(nb, l, a[0], a[1]).getResult();
                      });
}

Value add(OpBuilder &b, Location loc, Value x, Value y) {
  return elementwise<arith::AddFOp>(b, loc, x, y);
}

Value multiply(OpBuilder &b, Location loc, Value x, Value y) {
  return elementwise<arith::MulFOp>(b, loc, x, y);
}

RankedTensorType transposedStatesType(Type states) {
  auto type = cast<RankedTensorType>(states);
  auto shape = type.getShape();
  return RankedTensorType::get({shape[0], shape[1], shape[3], shape[2]}, type.getElementType());
}

Value convertElements(OpBuilder &b, Location loc, Value x, Type element) {
  auto type = cast<RankedTensorType>(x.getType());
  if (type.getElementType() == element)
    return x;
  auto resultType = RankedTensorType::get(type.getShape(), element);
  AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  bool widen = element.getIntOrFloatBitWidth() > type.getElementType().getIntOrFloatBitWidth();
  return buildGeneric(b, loc, resultType, {x}, {id}, 0,
                      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        if (widen)
                          return arith::ExtFOp::create(nb, l, element, a[0]);
                        return arith::TruncFOp::create(nb, l, element, a[0]);
                      });
}

/// [N, H, a, b] -> [N, H, b, a] (dynamic sizes too: a kernel source's N and H).
Value transposeStates(OpBuilder &b, Location loc, Value x) {
  RankedTensorType resultType = transposedStatesType(x.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  std::swap(sizes[2], sizes[3]);
  Value init = tensor::EmptyOp::create(b, loc, sizes, resultType.getElementType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, b.getContext());
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, ValueRange{x}, ValueRange{init},
             ArrayRef<AffineMap>{dimsMap(4, {0, 1, 3, 2}, b.getContext()), id}, iterators,
             [](OpBuilder &nb, Location nloc, ValueRange args) {
               linalg::YieldOp::create(nb, nloc, args[0]);
             })
      .getResult(0);
}

/// Σ S ⊙ dS over the state axes not in `kept` (0: key, 1: value), as an [N, H, 1, n]
/// tensor (n the kept axis' size, 1 when none is kept): the initial state of a cumulative sum.
/// S comes transposed ([N, H, dv, dk]: the final state of the dq recurrence).
Value stateProductSum(OpBuilder &b, Location loc, Value St, Value dS,
                             std::optional<unsigned> kept) {
  auto type = cast<RankedTensorType>(dS.getType());
  auto shape = type.getShape();
  MLIRContext *ctx = b.getContext();
  int64_t n = kept ? shape[2 + *kept] : 1;
  auto resultType = RankedTensorType::get({shape[0], shape[1], 1, n}, type.getElementType());
  // Loops: (row, head, one, kept, reduced...) with the state indexed by (row, head, i, j).
  SmallVector<unsigned> stateDims;
  unsigned reduced;
  if (!kept) {
    stateDims = {0, 1, 4, 5};
    reduced = 2;
  } else {
    stateDims = *kept == 0 ? SmallVector<unsigned>{0, 1, 3, 4} : SmallVector<unsigned>{0, 1, 4, 3};
    reduced = 1;
  }
  AffineMap map = dimsMap(4 + reduced, stateDims, ctx);
  AffineMap transposed =
      dimsMap(4 + reduced, {stateDims[0], stateDims[1], stateDims[3], stateDims[2]}, ctx);
  return buildGeneric(b, loc, resultType, {St, dS}, {transposed, map}, reduced,
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                        return arith::AddFOp::create(nb, l, a[2], p).getResult();
                      });
}

/// [N, H, n, 1] -> [N, H, n]: a matrix with one column as the vector it holds (a
/// normalizer's states, the initial normalizer of a scalar cumulative sum).
Value dropUnitDim(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  auto resultType = RankedTensorType::get(type.getShape().drop_back(), type.getElementType());
  MLIRContext *ctx = b.getContext();
  AffineMap map = AffineMap::get(3, 0,
                                 {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
                                  getAffineDimExpr(2, ctx), getAffineConstantExpr(0, ctx)},
                                 ctx);
  return buildGeneric(b, loc, resultType, {x}, {map}, 0,
                      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

/// [N, H, n] -> [N, H, n, 1]: normalizer states as the one-column matrices z 1ᵀ.
Value appendUnitDim(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape.push_back(1);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return buildGeneric(b, loc, resultType, {x}, {dimsMap(4, {0, 1, 2}, b.getContext())}, 0,
                      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

} // namespace linrec::adjoint
