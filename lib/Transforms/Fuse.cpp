//===- Fuse.cpp - element-wise tensor ops into recurrence bodies ----------===//
//
// A per-token element-wise linalg.generic next to a recurrence is one body op per payload op:
// its tensors become body arguments (vectors over the head dim, or f32 for [B, T, H]) and its
// scalar arith/math payload is re-created on those values.
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"
#include "RecurrenceRewrite.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSE
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// How a generic input is indexed over the [B, T, H(, D)] iteration space of its result.
enum class Operand {
  Token,   // [B, T, H(, D)]: a body argument per token (an input)
  Scalar,  // [B, T, H] in a 4-D space: a per-token f32, broadcast over D (an input)
  PerHead, // [H] or [H, D]: a per-head value (a param)
};

static std::optional<Operand> classify(AffineMap map, ShapedType type,
                                       ArrayRef<int64_t> resultShape) {
  MLIRContext *ctx = map.getContext();
  unsigned rank = resultShape.size();
  auto dims = [&](ArrayRef<unsigned> positions) {
    SmallVector<AffineExpr> exprs;
    for (unsigned p : positions)
      exprs.push_back(getAffineDimExpr(p, ctx));
    return AffineMap::get(rank, 0, exprs, ctx);
  };
  if (map.isIdentity() && type.getShape() == resultShape)
    return Operand::Token;
  if (rank == 4 && map == dims({0, 1, 2}) && type.getShape() == resultShape.take_front(3))
    return Operand::Scalar;
  if (map == dims({2}) && type.getShape() == ArrayRef<int64_t>{resultShape[2]})
    return Operand::PerHead;
  if (rank == 4 && map == dims({2, 3}) && type.getShape() == resultShape.drop_front(2))
    return Operand::PerHead;
  return std::nullopt;
}

/// True for a generic that is element-wise over one [B, T, H(, D)] iteration space (inputs may
/// be broadcast: [B, T, H] over D, per-head [H] or [H, D]) with a scalar arith/math payload
/// that does not read its output.
static bool isFusableElementwise(linalg::GenericOp generic) {
  if (generic.getNumDpsInits() != 1 || generic->getNumResults() != 1)
    return false;
  auto resultType = dyn_cast<RankedTensorType>(generic->getResult(0).getType());
  if (!resultType || (resultType.getRank() != 3 && resultType.getRank() != 4) ||
      (resultType.getRank() == 4 && resultType.isDynamicDim(3)))
    return false;
  if (!llvm::all_of(generic.getIteratorTypesArray(),
                    [](utils::IteratorType t) { return t == utils::IteratorType::parallel; }))
    return false;
  if (!generic.getMatchingIndexingMap(generic.getDpsInitOperand(0)).isIdentity())
    return false;
  // Bodies compute in f32: only f32 tensors fuse.
  if (!resultType.getElementType().isF32())
    return false;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    auto type = cast<ShapedType>(input->get().getType());
    if (!type.getElementType().isF32() ||
        !classify(generic.getMatchingIndexingMap(input), type, resultType.getShape()))
      return false;
  }
  Block &body = generic.getRegion().front();
  if (!body.getArgument(body.getNumArguments() - 1).use_empty())
    return false;
  for (Operation &op : body.without_terminator()) {
    // The recurrence is isolated from above: the payload may use only its own values.
    for (Value operand : op.getOperands())
      if (operand.getParentBlock() != &body)
        return false;
    StringRef ns = op.getDialect() ? op.getDialect()->getNamespace() : "";
    if ((ns != "arith" && ns != "math") || op.getNumRegions() || op.getNumResults() != 1)
      return false;
    if (!llvm::all_of(op.getResultTypes(), [](Type t) { return t.isF32() || t.isInteger(1); }))
      return false;
  }
  return true;
}

static Operand classify(linalg::GenericOp generic, OpOperand *input) {
  auto resultType = cast<RankedTensorType>(generic->getResult(0).getType());
  return *classify(generic.getMatchingIndexingMap(input),
                   cast<ShapedType>(input->get().getType()), resultType.getShape());
}

/// Re-creates the payload of `generic` on per-token values: `args` are the values of its
/// inputs (f32 or vectors; f32 values are broadcast when the result is a vector); returns the
/// value of its result.
static Value clonePayload(OpBuilder &b, linalg::GenericOp generic, ValueRange args) {
  Block &body = generic.getRegion().front();
  Type tokenTy = tokenType(generic->getResult(0).getType());
  IRMapping mapping;
  for (auto [arg, value] : llvm::zip(body.getArguments(), args)) {
    if (isa<VectorType>(tokenTy) && !isa<VectorType>(value.getType()))
      value = vector::BroadcastOp::create(b, generic.getLoc(), tokenTy, value);
    mapping.map(arg, value);
  }
  auto vectorOf = [&](Type scalar) -> Type {
    if (auto vec = dyn_cast<VectorType>(tokenTy))
      return VectorType::get(vec.getShape(), scalar);
    return scalar;
  };
  for (Operation &op : body.without_terminator()) {
    if (auto constant = dyn_cast<arith::ConstantOp>(op); constant && isa<VectorType>(tokenTy)) {
      auto splatType = cast<ShapedType>(vectorOf(constant.getType()));
      Value splat = arith::ConstantOp::create(
          b, op.getLoc(), DenseElementsAttr::get(splatType, constant.getValue()));
      mapping.map(constant.getResult(), splat);
      continue;
    }
    Operation *copy = b.clone(op, mapping);
    for (Value result : copy->getResults())
      result.setType(vectorOf(result.getType()));
  }
  return mapping.lookup(body.getTerminator()->getOperand(0));
}

/// The body values of a generic's inputs once they are operands of the recurrence: inputs
/// and params it already has are reused, the others become new inputs or params, and outputs
/// of the recurrence itself (`outputs`, consumer fusion) are the values the body yields.
struct PayloadOperands {
  SmallVector<Value> extraInputs, extraParams;
  /// Where a generic input comes from once fused.
  enum class Place { Input, ExtraInput, Param, ExtraParam, Output };
  SmallVector<std::pair<Place, unsigned>> places; // per generic input: (place, index)
  unsigned numStates, numInputs, numParams; // of the recurrence before the rebuild

  PayloadOperands(RecurrenceOp op, linalg::GenericOp generic, ArrayRef<unsigned> dropped)
      : numStates(op.getNumStates()), numInputs(op.getInputs().size()),
        numParams(op.getParams().size()) {
    auto add = [](SmallVector<Value> &list, Value v) {
      auto it = llvm::find(list, v);
      if (it == list.end()) {
        list.push_back(v);
        return unsigned(list.size() - 1);
      }
      return unsigned(it - list.begin());
    };
    for (OpOperand *input : generic.getDpsInputOperands()) {
      Value v = input->get();
      if (auto result = dyn_cast<OpResult>(v); result && result.getOwner() == op) {
        places.push_back({Place::Output, result.getResultNumber()});
        continue;
      }
      if (classify(generic, input) == Operand::PerHead) {
        auto existing = llvm::find(op.getParams(), v);
        if (existing != op.getParams().end())
          places.push_back({Place::Param, unsigned(existing - op.getParams().begin())});
        else
          places.push_back({Place::ExtraParam, add(extraParams, v)});
        continue;
      }
      if (std::optional<unsigned> existing = findInput(op, v, /*delay=*/0, dropped))
        places.push_back({Place::Input, *existing});
      else
        places.push_back({Place::ExtraInput, add(extraInputs, v)});
    }
  }

  /// The body values in `fused` (rebuilt with these extras, the dropped inputs' arguments
  /// still in place).
  SmallVector<Value> values(RecurrenceOp fused) const {
    Block &block = fused.getBodyBlock();
    unsigned firstParam = numStates + numInputs + extraInputs.size();
    SmallVector<Value> args;
    for (auto [place, index] : places) {
      switch (place) {
      case Place::Input:
        args.push_back(block.getArgument(numStates + index));
        break;
      case Place::ExtraInput:
        args.push_back(block.getArgument(numStates + numInputs + index));
        break;
      case Place::Param:
        args.push_back(block.getArgument(firstParam + index));
        break;
      case Place::ExtraParam:
        args.push_back(block.getArgument(firstParam + numParams + index));
        break;
      case Place::Output:
        args.push_back(fused.getYield().getOutputs()[index]);
        break;
      }
    }
    return args;
  }
};

/// Moves an element-wise producer of input #i into the body.
static bool fuseProducer(RecurrenceOp &op) {
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    auto generic = input.getDefiningOp<linalg::GenericOp>();
    // A delayed input is zero for its first tokens; its producer computed at zero inputs
    // need not be (a bias, exp, a feature map), so it stays outside.
    if (!generic || !isFusableElementwise(generic) || op.getInputDelay(i) != 0)
      continue;
    OpBuilder b(op);
    SmallVector<unsigned> dropped = {static_cast<unsigned>(i)};
    PayloadOperands operands(op, generic, dropped);
    RecurrenceOp fused =
        rebuildWithOperands(b, op, dropped, operands.extraInputs, operands.extraParams);
    b.setInsertionPointToStart(&fused.getBodyBlock());
    Value value = clonePayload(b, generic, operands.values(fused));
    replaceRebuilt(op, fused, dropped, {value});
    if (generic->use_empty())
      generic->erase();
    return true;
  }
  return false;
}

/// Moves an element-wise consumer of output #j into the body, when it is the only user of every
/// output of the recurrence it reads; the outputs it alone read are dropped.
static bool fuseConsumer(RecurrenceOp &op) {
  for (auto [j, output] : llvm::enumerate(op.getOutputs())) {
    if (!output.hasOneUse())
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(*output.getUsers().begin());
    if (!generic || !isFusableElementwise(generic) ||
        output.getType() != generic->getResult(0).getType())
      continue;
    // Every other input must be available before the recurrence, or be one of its outputs
    // that only this generic reads.
    bool available = true;
    for (Value in : generic.getDpsInputs()) {
      if (auto result = dyn_cast<OpResult>(in); result && result.getOwner() == op) {
        available &= result.getResultNumber() < op.getNumOutputs() &&
                     llvm::all_of(in.getUsers(), [&](Operation *u) { return u == generic; });
        continue;
      }
      Operation *def = in.getDefiningOp();
      available &= !def || (def->getBlock() == op->getBlock() && def->isBeforeInBlock(op));
    }
    if (!available)
      continue;
    OpBuilder b(op);
    PayloadOperands operands(op, generic, /*dropped=*/{});
    RecurrenceOp fused =
        rebuildWithOperands(b, op, /*dropped=*/{}, operands.extraInputs, operands.extraParams);
    YieldOp yield = fused.getYield();
    SmallVector<Value> args = operands.values(fused);
    b.setInsertionPoint(yield);
    Value value = clonePayload(b, generic, args);
    yield.getOutputsMutable()[j].set(value);
    generic->getResult(0).replaceAllUsesWith(fused->getResult(j));
    generic->erase();
    op->replaceAllUsesWith(fused);
    op->erase();
    op = dropUnusedOutputs(b, fused);
    return true;
  }
  return false;
}

namespace {
struct LinrecFusePass : linrec::impl::LinrecFuseBase<LinrecFusePass> {
  void runOnOperation() override {
    rewriteRecurrences(getOperation(),
                       [](RecurrenceOp &op) { return fuseProducer(op) || fuseConsumer(op); });
  }
};
} // namespace
