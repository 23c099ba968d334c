//===- RecurrenceRewrite.cpp - rebuilding recurrences with new inputs -----===//

#include "RecurrenceRewrite.h"

using namespace mlir;

namespace linrec {

Type tokenType(Type tensor) {
  auto type = cast<RankedTensorType>(tensor);
  Type f32 = Float32Type::get(type.getContext());
  return type.getRank() == 3 ? f32 : Type(VectorType::get({type.getDimSize(3)}, f32));
}

RecurrenceOp rebuildWithInputs(OpBuilder &b, RecurrenceOp op, ArrayRef<unsigned> dropped,
                               ValueRange extraInputs) {
  SmallVector<Value> inputs;
  for (auto [i, input] : llvm::enumerate(op.getInputs()))
    if (!llvm::is_contained(dropped, i))
      inputs.push_back(input);
  llvm::append_range(inputs, extraInputs);
  unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
  auto fused = RecurrenceOp::create(b, op.getLoc(), op->getResultTypes(), inputs,
                                    op.getParams(), op.getInits(), op.getCuSeqlens());
  fused->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  fused.setChunkSizeAttr(op.getChunkSizeAttr());
  fused.setAlgorithmAttr(op.getAlgorithmAttr());
  fused.getBody().takeBody(op.getBody());
  Block &block = fused.getBodyBlock();
  unsigned position = numStates + numInputs;
  for (Value extra : extraInputs)
    block.insertArgument(position++, tokenType(extra.getType()), op.getLoc());
  return fused;
}

} // namespace linrec
