//===- TensorParts.cpp - tensor-level pieces of layers --------------------===//

#include "TensorParts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"

using namespace mlir;

namespace linrec {

Value buildFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, float value) {
  Value empty = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  Value constant = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  return linalg::FillOp::create(b, loc, constant, empty).getResult(0);
}

/// u[b, t, h, f] = Σ_d x[b, t, h, d] W[h, d, f] (+ bias[h, f]): the per-head projection of
/// Hedgehog's feature map, as linalg.generic ops on f32 tensors.
Value buildProjection(OpBuilder &b, Location loc, Value x, Value weights, Value bias) {
  MLIRContext *ctx = b.getContext();
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t features = cast<RankedTensorType>(weights.getType()).getDimSize(2);
  SmallVector<int64_t> shape(xType.getShape());
  shape.back() = features;
  Value init = buildFilled(b, loc, shape, 0.0f);
  // Loops (b, t, h, d, f); d is the reduction. f innermost: lowered to loops, the inner loop
  // is an FMA over a contiguous row of W and of u, which LLVM vectorizes (with d innermost it
  // walked W with a stride of F: 10x slower).
  AffineExpr B, T, H, D, F;
  bindDims(ctx, B, T, H, D, F);
  auto map = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(5, 0, results, ctx); };
  using utils::IteratorType;
  auto project = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{x, weights}, ValueRange{init},
      ArrayRef<AffineMap>{map({B, T, H, D}), map({H, D, F}), map({B, T, H, F})},
      ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                             IteratorType::parallel, IteratorType::reduction,
                             IteratorType::parallel},
      [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value product = arith::MulFOp::create(nested, nestedLoc, args[0], args[1]);
        linalg::YieldOp::create(nested, nestedLoc,
                                ValueRange{arith::AddFOp::create(nested, nestedLoc, args[2],
                                                                 product)});
      });
  Value u = project.getResult(0);
  if (!bias)
    return u;
  auto map4 = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(4, 0, results, ctx); };
  AffineExpr B4, T4, H4, F4;
  bindDims(ctx, B4, T4, H4, F4);
  auto addBias = linalg::GenericOp::create(
      b, loc, TypeRange{u.getType()}, ValueRange{u, bias},
      ValueRange{tensor::EmptyOp::create(b, loc, shape, b.getF32Type())},
      ArrayRef<AffineMap>{map4({B4, T4, H4, F4}), map4({H4, F4}), map4({B4, T4, H4, F4})},
      SmallVector<IteratorType>(4, IteratorType::parallel),
      [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                ValueRange{arith::AddFOp::create(nested, nestedLoc, args[0],
                                                                 args[1])});
      });
  return addBias.getResult(0);
}

Value buildTokenShift(OpBuilder &b, Location loc, Value x, int64_t tokens) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> low(type.getRank(), b.getIndexAttr(0)),
      high(type.getRank(), b.getIndexAttr(0));
  low[1] = b.getIndexAttr(tokens);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  SmallVector<int64_t> paddedShape(type.getShape());
  paddedShape[1] += tokens;
  auto paddedType = RankedTensorType::get(paddedShape, type.getElementType());
  Value padded = tensor::PadOp::create(b, loc, paddedType, x, low, high, zero, /*nofold=*/false);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)),
      strides(type.getRank(), b.getIndexAttr(1)), sizes;
  for (int64_t d : type.getShape())
    sizes.push_back(b.getIndexAttr(d));
  return tensor::ExtractSliceOp::create(b, loc, type, padded, offsets, sizes, strides);
}

Value buildTokenMask(OpBuilder &b, Location loc, int64_t batch, int64_t tokens, int64_t heads,
                     llvm::function_ref<bool(int64_t)> predicate) {
  auto type = RankedTensorType::get({batch, tokens, heads}, b.getF32Type());
  SmallVector<float> values;
  values.reserve(batch * tokens * heads);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t t = 0; t < tokens; ++t)
      values.append(heads, predicate(t) ? 1.0f : 0.0f);
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, ArrayRef(values)));
}

Value buildElementwise(OpBuilder &b, Location loc, Value like, ValueRange inputs,
                       ArrayRef<bool> headOnly,
                       llvm::function_ref<Value(OpBuilder &, Location, ValueRange)> payload) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(like.getType());
  unsigned rank = type.getRank();
  SmallVector<AffineMap> maps;
  for (auto [i, input] : llvm::enumerate(inputs)) {
    unsigned inputRank = cast<RankedTensorType>(input.getType()).getRank();
    if (i < headOnly.size() && headOnly[i])
      maps.push_back(AffineMap::get(rank, 0, {getAffineDimExpr(2, ctx)}, ctx));
    else
      maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx).getMajorSubMap(inputRank));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  auto resultType = RankedTensorType::get(type.getShape(), b.getF32Type());
  Value empty = tensor::EmptyOp::create(b, loc, resultType.getShape(), b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{empty}, maps,
             SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(nested, nestedLoc,
                                       ValueRange{payload(nested, nestedLoc,
                                                          args.drop_back())});
             })
      .getResult(0);
}

Value buildLeadingSlice(OpBuilder &b, Location loc, Value x, int64_t index) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)),
      strides(type.getRank(), b.getIndexAttr(1)), sizes = {b.getIndexAttr(1)};
  offsets[0] = b.getIndexAttr(index);
  for (int64_t d : type.getShape().drop_front())
    sizes.push_back(b.getIndexAttr(d));
  auto partType = RankedTensorType::get(type.getShape().drop_front(), type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, partType, x, offsets, sizes, strides);
}

/// Offsets, sizes and unit strides of a block of `type`'s shape with `length` tokens from `at`.
static void tokenBlock(OpBuilder &b, RankedTensorType type, int64_t at, int64_t length,
                       SmallVector<OpFoldResult> &offsets, SmallVector<OpFoldResult> &sizes,
                       SmallVector<OpFoldResult> &strides) {
  offsets.assign(type.getRank(), b.getIndexAttr(0));
  strides.assign(type.getRank(), b.getIndexAttr(1));
  offsets[1] = b.getIndexAttr(at);
  sizes.clear();
  for (int64_t d : type.getShape())
    sizes.push_back(b.getIndexAttr(d));
  sizes[1] = b.getIndexAttr(length);
}

Value buildTokenSlice(OpBuilder &b, Location loc, Value x, int64_t start, int64_t length) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> offsets, sizes, strides;
  tokenBlock(b, type, start, length, offsets, sizes, strides);
  SmallVector<int64_t> shape(type.getShape());
  shape[1] = length;
  return tensor::ExtractSliceOp::create(b, loc, RankedTensorType::get(shape, type.getElementType()),
                                        x, offsets, sizes, strides);
}

Value buildTokenInsert(OpBuilder &b, Location loc, Value part, Value dest, int64_t at) {
  auto partType = cast<RankedTensorType>(part.getType());
  SmallVector<OpFoldResult> offsets, sizes, strides;
  tokenBlock(b, partType, at, partType.getDimSize(1), offsets, sizes, strides);
  return tensor::InsertSliceOp::create(b, loc, part, dest, offsets, sizes, strides);
}

Value buildStack(OpBuilder &b, Location loc, ValueRange parts) {
  auto partType = cast<RankedTensorType>(parts.front().getType());
  SmallVector<int64_t> shape = {static_cast<int64_t>(parts.size())};
  llvm::append_range(shape, partType.getShape());
  Value stacked = tensor::EmptyOp::create(b, loc, shape, partType.getElementType());
  SmallVector<OpFoldResult> offsets(shape.size(), b.getIndexAttr(0)),
      strides(shape.size(), b.getIndexAttr(1)), sizes = {b.getIndexAttr(1)};
  for (int64_t d : partType.getShape())
    sizes.push_back(b.getIndexAttr(d));
  for (auto [i, part] : llvm::enumerate(parts)) {
    offsets[0] = b.getIndexAttr(i);
    stacked = tensor::InsertSliceOp::create(b, loc, part, stacked, offsets, sizes, strides);
  }
  return stacked;
}

} // namespace linrec
