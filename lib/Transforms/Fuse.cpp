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
#include "mlir/IR/IRMapping.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSE
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// True for a generic that is element-wise over one [B, T, H(, D)] iteration space with a
/// scalar arith/math payload that does not read its output.
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
  if (!llvm::all_of(generic.getIndexingMapsArray(), [](AffineMap m) { return m.isIdentity(); }))
    return false;
  // Bodies compute in f32: only f32 tensors of the result's shape fuse.
  if (!resultType.getElementType().isF32())
    return false;
  for (Value input : generic.getDpsInputs()) {
    auto type = cast<ShapedType>(input.getType());
    if (type.getShape() != resultType.getShape() || !type.getElementType().isF32())
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

/// Re-creates the payload of `generic` on per-token values: `args` are the values of its
/// inputs (f32 or vectors); returns the value of its result.
static Value clonePayload(OpBuilder &b, linalg::GenericOp generic, ValueRange args) {
  Block &body = generic.getRegion().front();
  Type tokenTy = tokenType(generic->getResult(0).getType());
  IRMapping mapping;
  for (auto [arg, value] : llvm::zip(body.getArguments(), args))
    mapping.map(arg, value);
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

/// Moves an element-wise producer of input #i into the body.
static bool fuseProducer(RecurrenceOp &op) {
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    auto generic = input.getDefiningOp<linalg::GenericOp>();
    if (!generic || !isFusableElementwise(generic))
      continue;
    OpBuilder b(op);
    unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
    SmallVector<Value> extra(generic.getDpsInputs());
    RecurrenceOp fused = rebuildWithInputs(b, op, {static_cast<unsigned>(i)}, extra);
    Block &block = fused.getBodyBlock();
    SmallVector<Value> args;
    for (unsigned k = 0; k < extra.size(); ++k)
      args.push_back(block.getArgument(numStates + numInputs + k));
    b.setInsertionPointToStart(&block);
    Value value = clonePayload(b, generic, args);
    block.getArgument(numStates + i).replaceAllUsesWith(value);
    block.eraseArgument(numStates + i);
    op->replaceAllUsesWith(fused);
    op->erase();
    op = fused;
    if (generic->use_empty())
      generic->erase();
    return true;
  }
  return false;
}

/// Moves an element-wise consumer of output #j (its only user) into the body.
static bool fuseConsumer(RecurrenceOp &op) {
  for (auto [j, output] : llvm::enumerate(op.getOutputs())) {
    if (!output.hasOneUse())
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(*output.getUsers().begin());
    if (!generic || !isFusableElementwise(generic))
      continue;
    // Every other input must be available before the recurrence.
    SmallVector<Value> extra;
    bool available = true;
    for (Value in : generic.getDpsInputs())
      if (in != output) {
        Operation *def = in.getDefiningOp();
        available &= !def || def->isBeforeInBlock(op);
        extra.push_back(in);
      }
    if (!available || output.getType() != generic->getResult(0).getType())
      continue;
    OpBuilder b(op);
    unsigned first = op.getNumStates() + op.getInputs().size();
    RecurrenceOp fused = rebuildWithInputs(b, op, /*dropped=*/{}, extra);
    Block &block = fused.getBodyBlock();
    YieldOp yield = fused.getYield();
    SmallVector<Value> args;
    unsigned k = 0;
    for (Value in : generic.getDpsInputs())
      args.push_back(in == output ? yield.getOutputs()[j] : block.getArgument(first + k++));
    b.setInsertionPoint(yield);
    Value value = clonePayload(b, generic, args);
    yield.getOutputsMutable()[j].set(value);
    generic->getResult(0).replaceAllUsesWith(fused->getResult(j));
    generic->erase();
    op->replaceAllUsesWith(fused);
    op->erase();
    op = fused;
    return true;
  }
  return false;
}

namespace {
struct LinrecFusePass : linrec::impl::LinrecFuseBase<LinrecFusePass> {
  void runOnOperation() override {
    SmallVector<RecurrenceOp> recurrences;
    getOperation()->walk([&](RecurrenceOp op) { recurrences.push_back(op); });
    for (RecurrenceOp op : recurrences)
      while (fuseProducer(op) || fuseConsumer(op)) {
      }
  }
};
} // namespace
