//===- RecurrenceRewrite.cpp - rebuilding recurrences with new inputs -----===//

#include "RecurrenceRewrite.h"

using namespace mlir;

namespace linrec {

Type tokenType(Type tensor) {
  auto type = cast<RankedTensorType>(tensor);
  Type f32 = Float32Type::get(type.getContext());
  return type.getRank() == 3 ? f32 : Type(VectorType::get({type.getDimSize(3)}, f32));
}

/// The body type of a per-head param ([H] -> f32, [H, D] -> vector<D>, [H, D, F] ->
/// vector<D x F>).
Type paramType(Type tensor) {
  auto type = cast<RankedTensorType>(tensor);
  Type f32 = Float32Type::get(type.getContext());
  return type.getRank() == 1 ? f32 : Type(VectorType::get(type.getShape().drop_front(), f32));
}

void copyAttributes(RecurrenceOp from, RecurrenceOp to) {
  to->setDiscardableAttrs(from->getDiscardableAttrDictionary());
  to.setChunkSizeAttr(from.getChunkSizeAttr());
  to.setAlgorithmAttr(from.getAlgorithmAttr());
  to.setHeadsNormEpsAttr(from.getHeadsNormEpsAttr());
  to.setReverseAttr(from.getReverseAttr());
}

/// Sets `delays` on `op`, or removes the attribute when every delay is 0.
static void setDelays(RecurrenceOp op, ArrayRef<int64_t> delays) {
  if (llvm::all_of(delays, [](int64_t d) { return d == 0; }))
    op.removeDelaysAttr();
  else
    op.setDelays(delays);
}

std::optional<unsigned> findInput(RecurrenceOp op, Value value, int64_t delay,
                                  ArrayRef<unsigned> dropped) {
  for (auto [i, input] : llvm::enumerate(op.getInputs()))
    if (input == value && op.getInputDelay(i) == delay && !llvm::is_contained(dropped, i))
      return i;
  return std::nullopt;
}

RecurrenceOp rebuildWithOperands(OpBuilder &b, RecurrenceOp op, ArrayRef<unsigned> dropped,
                                 ValueRange extraInputs, ValueRange extraParams,
                                 int64_t extraDelay) {
  SmallVector<Value> inputs;
  SmallVector<int64_t> delays;
  for (auto [i, input] : llvm::enumerate(op.getInputs()))
    if (!llvm::is_contained(dropped, i)) {
      inputs.push_back(input);
      delays.push_back(op.getInputDelay(i));
    }
  llvm::append_range(inputs, extraInputs);
  delays.append(extraInputs.size(), extraDelay);
  SmallVector<Value> params(op.getParams());
  llvm::append_range(params, extraParams);
  unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
  unsigned numParams = op.getParams().size();
  auto fused = RecurrenceOp::create(b, op.getLoc(), op->getResultTypes(), inputs, params,
                                    op.getInits(), op.getCuSeqlens(),
                                    op.getStateIndices());
  copyAttributes(op, fused);
  setDelays(fused, delays);
  fused.getBody().takeBody(op.getBody());
  Block &block = fused.getBodyBlock();
  unsigned position = numStates + numInputs;
  for (Value extra : extraInputs)
    block.insertArgument(position++, tokenType(extra.getType()), op.getLoc());
  position += numParams;
  for (Value extra : extraParams)
    block.insertArgument(position++, paramType(extra.getType()), op.getLoc());
  return fused;
}

RecurrenceOp rebuildWithInputs(OpBuilder &b, RecurrenceOp op, ArrayRef<unsigned> dropped,
                               ValueRange extraInputs) {
  return rebuildWithOperands(b, op, dropped, extraInputs, ValueRange{});
}

void replaceRebuilt(RecurrenceOp &op, RecurrenceOp fused, ArrayRef<unsigned> dropped,
                    ArrayRef<Value> replacements) {
  Block &block = fused.getBodyBlock();
  unsigned numStates = fused.getNumStates();
  for (auto [i, value] : llvm::reverse(llvm::zip_equal(dropped, replacements))) {
    block.getArgument(numStates + i).replaceAllUsesWith(value);
    block.eraseArgument(numStates + i);
  }
  op->replaceAllUsesWith(fused);
  op->erase();
  op = fused;
}

void rewriteRecurrences(Operation *root, function_ref<bool(RecurrenceOp &)> rewrite) {
  SmallVector<RecurrenceOp> recurrences;
  root->walk([&](RecurrenceOp op) { recurrences.push_back(op); });
  for (RecurrenceOp op : recurrences)
    while (rewrite(op)) {
    }
}

RecurrenceOp dropUnusedOutputs(OpBuilder &b, RecurrenceOp op) {
  unsigned numOutputs = op.getNumOutputs();
  SmallVector<unsigned> kept;
  for (unsigned j = 0; j < op->getNumResults(); ++j)
    if (j >= numOutputs || !op->getResult(j).use_empty())
      kept.push_back(j);
  if (kept.size() == op->getNumResults())
    return op;
  SmallVector<Type> types;
  for (unsigned j : kept)
    types.push_back(op->getResult(j).getType());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op);
  auto trimmed = RecurrenceOp::create(b, op.getLoc(), types, op.getInputs(), op.getParams(),
                                      op.getInits(), op.getCuSeqlens(),
                                    op.getStateIndices());
  copyAttributes(op, trimmed);
  trimmed.setDelaysAttr(op.getDelaysAttr());
  trimmed.getBody().takeBody(op.getBody());
  YieldOp yield = trimmed.getYield();
  for (unsigned j = numOutputs; j-- > 0;)
    if (!llvm::is_contained(kept, j))
      yield.getOutputsMutable().erase(j);
  for (auto [newIndex, oldIndex] : llvm::enumerate(kept))
    op->getResult(oldIndex).replaceAllUsesWith(trimmed->getResult(newIndex));
  op->erase();
  return trimmed;
}

} // namespace linrec
