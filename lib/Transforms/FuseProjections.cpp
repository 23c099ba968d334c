//===- FuseProjections.cpp - per-head projections into recurrence bodies --===//
//
// u[b, t, h, f] = Σ_d x[b, t, h, d] W[h, d, f], a linalg.generic contraction that feeds a
// recurrence (Hedgehog's and LoLCATs' feature-map projections), becomes
// linrec.project(x_t, W[h]) in the body: x becomes an input (with the delay of the input u
// was) and W a [H, D, F] param. The kernel computes u in its loads instead of a separate pass
// writing u to memory.
//
//===----------------------------------------------------------------------===//

#include "RecurrenceRewrite.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSEPROJECTIONS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct Projection {
  Value input, weight; // x [B, T, H, D], W [H, D, F]
};
} // namespace

/// The projection `value` is computed by, if it is one: a generic over (b, t, h, f) x (d)
/// with maps x(b, t, h, d), W(h, d, f) -> u(b, t, h, f), payload u + x · W, init zeros.
static std::optional<Projection> matchProjection(Value value) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 || generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != 5 || generic.getNumReductionLoops() != 1)
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  auto dimsOf = [](AffineMap map) -> std::optional<SmallVector<unsigned>> {
    if (!map.isProjectedPermutation())
      return std::nullopt;
    SmallVector<unsigned> dims;
    for (AffineExpr e : map.getResults())
      dims.push_back(cast<AffineDimExpr>(e).getPosition());
    return dims;
  };
  auto x = dimsOf(maps[0]), w = dimsOf(maps[1]), u = dimsOf(maps[2]);
  if (!x || !w || !u || x->size() != 4 || w->size() != 3 || u->size() != 4)
    return std::nullopt;
  unsigned bDim = (*u)[0], tDim = (*u)[1], hDim = (*u)[2], fDim = (*u)[3], dDim = (*x)[3];
  if (*x != SmallVector<unsigned>{bDim, tDim, hDim, dDim} ||
      *w != SmallVector<unsigned>{hDim, dDim, fDim} ||
      generic.getIteratorTypesArray()[dDim] != utils::IteratorType::reduction)
    return std::nullopt;
  // Payload: yield out + a · b over the two inputs.
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || body.getOperations().size() != 3)
    return std::nullopt;
  Value out = body.getArgument(2);
  Value product = add.getLhs() == out   ? add.getRhs()
                  : add.getRhs() == out ? add.getLhs()
                                        : Value();
  auto mul = product ? product.getDefiningOp<arith::MulFOp>() : arith::MulFOp();
  if (!mul ||
      !((mul.getLhs() == body.getArgument(0) && mul.getRhs() == body.getArgument(1)) ||
        (mul.getLhs() == body.getArgument(1) && mul.getRhs() == body.getArgument(0))))
    return std::nullopt;
  // Starting from zeros.
  auto fill = generic.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return std::nullopt;
  Value input = generic.getDpsInputs()[0], weight = generic.getDpsInputs()[1];
  for (Value v : {input, weight, value})
    if (!cast<ShapedType>(v.getType()).getElementType().isF32() ||
        !cast<ShapedType>(v.getType()).hasStaticShape())
      return std::nullopt;
  return Projection{input, weight};
}

/// Replaces the first input of `op` that a projection computes; false if there is none.
static bool fuseProjection(RecurrenceOp &op) {
  for (auto [i, value] : llvm::enumerate(op.getInputs())) {
    std::optional<Projection> projection = matchProjection(value);
    if (!projection)
      continue;
    int64_t delay = op.getInputDelay(i);
    unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
    unsigned numParams = op.getParams().size();
    SmallVector<unsigned> dropped = {static_cast<unsigned>(i)};
    std::optional<unsigned> existing = findInput(op, projection->input, delay, dropped);
    auto existingParam = llvm::find(op.getParams(), projection->weight);
    SmallVector<Value> extraInputs, extraParams;
    if (!existing)
      extraInputs.push_back(projection->input);
    if (existingParam == op.getParams().end())
      extraParams.push_back(projection->weight);
    Operation *generic = value.getDefiningOp();
    OpBuilder b(op);
    RecurrenceOp fused = rebuildWithOperands(b, op, dropped, extraInputs, extraParams, delay);
    Block &block = fused.getBodyBlock();
    Value x = block.getArgument(numStates + (existing ? *existing : numInputs));
    unsigned firstParam = numStates + numInputs + extraInputs.size();
    unsigned paramIndex = existingParam != op.getParams().end()
                              ? unsigned(existingParam - op.getParams().begin())
                              : numParams;
    Value weight = block.getArgument(firstParam + paramIndex);
    b.setInsertionPointToStart(&block);
    Value u = ProjectOp::create(b, generic->getLoc(), block.getArgument(numStates + i).getType(),
                                x, weight);
    replaceRebuilt(op, fused, dropped, {u});
    if (generic->use_empty())
      generic->erase();
    return true;
  }
  return false;
}

namespace {
struct LinrecFuseProjectionsPass
    : linrec::impl::LinrecFuseProjectionsBase<LinrecFuseProjectionsPass> {
  void runOnOperation() override { rewriteRecurrences(getOperation(), fuseProjection); }
};
} // namespace
