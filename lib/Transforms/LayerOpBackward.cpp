//===- LayerOpBackward.cpp - adjoints of the ops around recurrences ------===//
//
// linalg.generic ops (element-wise maps and contractions such as per-head projections: the
// payload's adjoint per element), linrec.heads_rms_norm, and the tensor.pad and
// tensor.extract_slice pairs that delay tokens (LoLCATs' keys enter its state a window late).
//
//===----------------------------------------------------------------------===//

#include "AdjointTensors.h"
#include "Backward.h"
#include "TokenAdjoint.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace linrec;
using namespace linrec::adjoint;

/// The adjoint of y = x s, s = 1 / (r + eps), r = ‖x_t‖ / √N over each token's N = H·D
/// values: dx = s dy − s² ⟨dy, x_t⟩ x / (N r) (the second term 0 where x_t = 0).
Value linrec::emitHeadsRmsNormAdjoint(OpBuilder &b, Location loc, HeadsRmsNormOp norm,
                                      Value dy) {
  Value x = norm.getInput();
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  auto perToken = RankedTensorType::get({type.getDimSize(0), type.getDimSize(1)}, b.getF32Type());
  AffineMap all = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap token = dimsMap(4, {0, 1}, ctx);
  auto sumOfProducts = [&](Value u, Value w) {
    return buildGeneric(b, loc, perToken, {u, w}, {all, all}, 2,
                        [](OpBuilder &nb, Location l, ValueRange a) {
                          Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                          return arith::AddFOp::create(nb, l, a[2], p).getResult();
                        });
  };
  Value squares = sumOfProducts(x, x), dot = sumOfProducts(dy, x);
  double n = double(type.getDimSize(2) * type.getDimSize(3));
  double eps = norm.getEps().convertToDouble();
  return buildGeneric(
      b, loc, type, {x, dy, squares, dot}, {all, all, token, token}, 0,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        auto constant = [&](double c) {
          return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(static_cast<float>(c)));
        };
        Value r = math::SqrtOp::create(nb, l, arith::DivFOp::create(nb, l, a[2], constant(n)));
        Value s = arith::DivFOp::create(nb, l, constant(1.0),
                                        arith::AddFOp::create(nb, l, r, constant(eps)));
        Value direct = arith::MulFOp::create(nb, l, s, a[1]);
        Value coefficient = arith::DivFOp::create(
            nb, l, arith::MulFOp::create(nb, l, arith::MulFOp::create(nb, l, s, s), a[3]),
            arith::MulFOp::create(nb, l, r, constant(n)));
        Value along = arith::MulFOp::create(nb, l, coefficient, a[0]);
        Value positive =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, r, constant(0.0));
        along = arith::SelectOp::create(nb, l, positive, along, constant(0.0));
        return arith::SubFOp::create(nb, l, direct, along).getResult();
      });
}

/// The adjoint of a linalg.generic with one output whose payload is f(ins) (all loops
/// parallel) or out + f(ins) (a contraction: the loops its output map leaves out reduce):
/// per float input, a linalg.generic over the same loops that sums g · ∂f/∂in into a tensor
/// shaped like the input through its (projected-permutation) map, the payload's adjoint
/// emitted per element (projections' weights and inputs, gates, mixes).
LogicalResult linrec::emitGenericAdjoint(OpBuilder &b, linalg::GenericOp generic, Value g,
                                         Adjoints &adjoints) {
  Location loc = generic.getLoc();
  if (generic.getNumDpsInits() != 1 || generic->getNumResults() != 1)
    return generic.emitOpError("has no derived backward yet (several outputs)");
  Block &payload = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(payload.getTerminator());
  BlockArgument out = payload.getArguments().back();
  Value expr = yield.getOperand(0);
  bool accumulates = false;
  if (auto sum = expr.getDefiningOp<arith::AddFOp>();
      sum && (sum.getLhs() == out || sum.getRhs() == out)) {
    expr = sum.getLhs() == out ? sum.getRhs() : sum.getLhs();
    accumulates = true;
  }
  bool outUsed = llvm::any_of(out.getUsers(), [&](Operation *user) {
    return !accumulates || user != expr.getDefiningOp() && user != yield &&
                               !isa<arith::AddFOp>(user);
  });
  if ((!accumulates && !out.use_empty()) || (accumulates && outUsed))
    return generic.emitOpError("has no derived backward yet (a payload that reads its output "
                               "other than to accumulate into it)");
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  AffineMap outMap = maps.back();
  if (!accumulates && generic.getNumReductionLoops() != 0)
    return generic.emitOpError("has no derived backward yet (a reduction other than a sum)");
  unsigned loops = generic.getNumLoops();
  SmallVector<Value> inputs(generic.getDpsInputs());
  for (auto [i, input] : llvm::enumerate(inputs)) {
    auto type = dyn_cast<RankedTensorType>(input.getType());
    if (!type || !isa<FloatType>(type.getElementType()) ||
        input.getDefiningOp<arith::ConstantOp>())
      continue;
    if (!maps[i].isProjectedPermutation())
      return generic.emitOpError("has no derived backward yet (an input read through a map "
                                 "that is not a projected permutation)");
    SmallVector<utils::IteratorType> iterators;
    for (unsigned d = 0; d < loops; ++d)
      iterators.push_back(maps[i].isFunctionOfDim(d) ? utils::IteratorType::parallel
                                                      : utils::IteratorType::reduction);
    SmallVector<Value> operands = inputs;
    operands.push_back(g);
    SmallVector<AffineMap> newMaps(maps.begin(), maps.end() - 1);
    newMaps.push_back(outMap);
    newMaps.push_back(maps[i]);
    LogicalResult status = success();
    auto adjoint = linalg::GenericOp::create(
        b, loc, TypeRange{type}, operands, ValueRange{zerosLike(b, loc, type)}, newMaps,
        iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
          IRMapping map;
          for (unsigned k = 0; k < inputs.size(); ++k)
            map.map(payload.getArgument(k), args[k]);
          SmallVector<Operation *> cloned;
          for (Operation &op : payload.without_terminator())
            if (!llvm::is_contained(op.getOperands(), Value(out))) // not the accumulation
              cloned.push_back(nb.clone(op, map));
          DenseMap<Value, Value> cotangents;
          cotangents[map.lookupOrDefault(expr)] = args[inputs.size()];
          if (failed(emitTokenAdjoint(nb, nloc, cloned, cotangents)))
            status = failure();
          Value accumulated = args.back();
          if (auto it = cotangents.find(args[i]); it != cotangents.end())
            accumulated = arith::AddFOp::create(nb, nloc, accumulated, it->second);
          linalg::YieldOp::create(nb, nloc, accumulated);
        });
    if (failed(status))
      return failure();
    adjoints.add(b, loc, input, adjoint.getResult(0));
  }
  return success();
}


LogicalResult linrec::emitTensorPartAdjoint(OpBuilder &b, Operation *op, Adjoints &adjoints) {
  Location loc = op->getLoc();
  Value dy = adjoints.get(b, loc, op->getResult(0));
  auto staticInts = [](ArrayRef<int64_t> values) {
    return llvm::none_of(values, ShapedType::isDynamic);
  };
  if (auto pad = dyn_cast<tensor::PadOp>(op)) {
    // The padding value is a constant (no gradient): the source's part of the cotangent.
    auto source = cast<RankedTensorType>(pad.getSource().getType());
    if (!source.hasStaticShape() || !staticInts(pad.getStaticLow()))
      return op->emitOpError("has no derived backward yet: dynamic padding");
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (auto [low, size] : llvm::zip(pad.getStaticLow(), source.getShape())) {
      offsets.push_back(b.getIndexAttr(low));
      sizes.push_back(b.getIndexAttr(size));
      strides.push_back(b.getIndexAttr(1));
    }
    adjoints.add(b, loc, pad.getSource(),
                 tensor::ExtractSliceOp::create(b, loc, source, dy, offsets, sizes, strides));
    return success();
  }
  auto slice = cast<tensor::ExtractSliceOp>(op);
  auto source = cast<RankedTensorType>(slice.getSource().getType());
  auto result = cast<RankedTensorType>(slice.getType());
  if (!source.hasStaticShape() || result.getRank() != source.getRank() ||
      !staticInts(slice.getStaticOffsets()) ||
      llvm::any_of(slice.getStaticStrides(), [](int64_t s) { return s != 1; }))
    return op->emitOpError("has no derived backward yet: a dynamic, strided or "
                           "rank-reducing slice");
  // The cotangent padded back to the source's shape with zeros.
  SmallVector<OpFoldResult> low, high;
  for (auto [offset, size, full] :
       llvm::zip(slice.getStaticOffsets(), result.getShape(), source.getShape())) {
    low.push_back(b.getIndexAttr(offset));
    high.push_back(b.getIndexAttr(full - offset - size));
  }
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(source.getElementType()));
  adjoints.add(b, loc, slice.getSource(),
               tensor::PadOp::create(b, loc, source, dy, low, high, zero));
  return success();
}
