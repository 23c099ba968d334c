//===- LayerOpBackward.cpp - adjoints of the ops around recurrences ------===//
//
// linalg.generic ops (element-wise maps and contractions such as per-head projections: the
// payload's adjoint per element), linrec.heads_rms_norm, and tensor.pad, extract_slice and
// insert_slice (tokens delayed by a pad and a slice: LoLCATs' keys enter its state a window
// late; MoM's memories sliced out of and stacked into [M, ...] tensors).
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

/// y = max (or min) of x over one reduction loop r, x read through a map of every loop: the
/// cotangent goes to the last r where x = y (the reference's order: out = max(x_r, out) passes
/// it to x_r on ties).
static LogicalResult emitExtremumAdjoint(OpBuilder &b, linalg::GenericOp generic, Value g,
                                         unsigned input, Adjoints &adjoints) {
  Location loc = generic.getLoc();
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  AffineMap xMap = maps[input], yMap = maps.back();
  SmallVector<unsigned> reductions;
  generic.getReductionDims(reductions);
  if (reductions.size() != 1 || !xMap.isPermutation())
    return generic.emitOpError("has no derived backward yet (a max or min over several loops, "
                               "or of an input that does not take every loop)");
  unsigned r = reductions.front(), loops = generic.getNumLoops();
  Value x = generic.getDpsInputs()[input], y = generic->getResult(0);
  auto yType = cast<RankedTensorType>(y.getType());
  auto xType = cast<RankedTensorType>(x.getType());
  Type f32 = yType.getElementType();
  auto rIndex = [&](OpBuilder &nb, Location l) {
    Value i = linalg::IndexOp::create(nb, l, r);
    return arith::SIToFPOp::create(
        nb, l, f32, arith::IndexCastOp::create(nb, l, nb.getI64Type(), i));
  };
  // The last r where x = y.
  SmallVector<utils::IteratorType> iterators(generic.getIteratorTypesArray());
  auto last = linalg::GenericOp::create(
      b, loc, TypeRange{yType}, ValueRange{x, y}, ValueRange{filledLike(b, loc, yType, -1.0)},
      ArrayRef<AffineMap>{xMap, yMap, yMap}, iterators,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value hit = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
        Value minusOne = arith::ConstantOp::create(nb, l, nb.getFloatAttr(f32, -1.0));
        Value candidate = arith::SelectOp::create(nb, l, hit, rIndex(nb, l), minusOne);
        linalg::YieldOp::create(nb, l, ValueRange{arith::MaximumFOp::create(nb, l, a[2], candidate)});
      });
  SmallVector<utils::IteratorType> parallel(loops, utils::IteratorType::parallel);
  auto dx = linalg::GenericOp::create(
      b, loc, TypeRange{xType}, ValueRange{g, last.getResult(0)},
      ValueRange{tensor::EmptyOp::create(b, loc, xType.getShape(), f32)},
      ArrayRef<AffineMap>{yMap, yMap, xMap}, parallel,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value at = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, rIndex(nb, l), a[1]);
        Value zero = arith::ConstantOp::create(nb, l, nb.getFloatAttr(f32, 0.0));
        linalg::YieldOp::create(nb, l, ValueRange{arith::SelectOp::create(nb, l, at, a[0], zero)});
      });
  adjoints.add(b, loc, x, dx.getResult(0));
  return success();
}

/// The index of the input a payload `max(in, out)` or `min(in, out)` reduces, if it is one.
static std::optional<unsigned> extremumInput(linalg::GenericOp generic) {
  Block &payload = generic.getRegion().front();
  if (payload.getOperations().size() != 2)
    return std::nullopt;
  Operation &op = payload.front();
  if (!isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp>(op))
    return std::nullopt;
  BlockArgument out = payload.getArguments().back();
  if (op.getResult(0) != payload.getTerminator()->getOperand(0))
    return std::nullopt;
  Value other = op.getOperand(0) == out ? op.getOperand(1) : op.getOperand(0);
  auto arg = dyn_cast<BlockArgument>(other);
  if (!llvm::is_contained(op.getOperands(), Value(out)) || !arg || arg == out)
    return std::nullopt;
  return arg.getArgNumber();
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
  if (std::optional<unsigned> input = extremumInput(generic))
    return emitExtremumAdjoint(b, generic, g, *input, adjoints);
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
    // Constant indices (a fixed slice: MoM's weight of memory m) are left out of the
    // adjoint's map; its values go into that slice of zeros.
    SmallVector<AffineExpr> kept;
    SmallVector<int64_t> keptShape;
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (auto [r, e] : llvm::enumerate(maps[i].getResults())) {
      auto constant = dyn_cast<AffineConstantExpr>(e);
      offsets.push_back(b.getIndexAttr(constant ? constant.getValue() : 0));
      sizes.push_back(b.getIndexAttr(constant ? 1 : type.getDimSize(r)));
      strides.push_back(b.getIndexAttr(1));
      if (!constant) {
        kept.push_back(e);
        keptShape.push_back(type.getDimSize(r));
      }
    }
    AffineMap keptMap = AffineMap::get(loops, 0, kept, b.getContext());
    if (!keptMap.isProjectedPermutation())
      return generic.emitOpError("has no derived backward yet (an input read through a map "
                                 "that is not a projected permutation and constants)");
    auto adjointType = RankedTensorType::get(keptShape, type.getElementType());
    SmallVector<utils::IteratorType> iterators;
    for (unsigned d = 0; d < loops; ++d)
      iterators.push_back(keptMap.isFunctionOfDim(d) ? utils::IteratorType::parallel
                                                     : utils::IteratorType::reduction);
    SmallVector<Value> operands = inputs;
    operands.push_back(g);
    SmallVector<AffineMap> newMaps(maps.begin(), maps.end() - 1);
    newMaps.push_back(outMap);
    newMaps.push_back(keptMap);
    LogicalResult status = success();
    auto adjoint = linalg::GenericOp::create(
        b, loc, TypeRange{adjointType}, operands, ValueRange{zerosLike(b, loc, adjointType)},
        newMaps,
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
    Value gradient = adjoint.getResult(0);
    if (adjointType != type)
      gradient = tensor::InsertSliceOp::create(b, loc, gradient, zerosLike(b, loc, type),
                                               offsets, sizes, strides);
    adjoints.add(b, loc, input, gradient);
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
  if (auto insert = dyn_cast<tensor::InsertSliceOp>(op)) {
    // The source's part of the cotangent goes to the source; the rest to the destination,
    // whose values there were overwritten.
    auto source = cast<RankedTensorType>(insert.getSourceType());
    adjoints.add(b, loc, insert.getSource(),
                 tensor::ExtractSliceOp::create(b, loc, source, dy, insert.getMixedOffsets(),
                                                insert.getMixedSizes(),
                                                insert.getMixedStrides()));
    adjoints.add(b, loc, insert.getDest(),
                 tensor::InsertSliceOp::create(b, loc, zerosLike(b, loc, source), dy,
                                               insert.getMixedOffsets(), insert.getMixedSizes(),
                                               insert.getMixedStrides()));
    return success();
  }
  // An extracted slice (rank-reducing too): its cotangent inserted into zeros.
  auto slice = cast<tensor::ExtractSliceOp>(op);
  adjoints.add(b, loc, slice.getSource(),
               tensor::InsertSliceOp::create(b, loc, dy,
                                             zerosLike(b, loc, slice.getSource().getType()),
                                             slice.getMixedOffsets(), slice.getMixedSizes(),
                                             slice.getMixedStrides()));
  return success();
}
