//===- FuseWindows.cpp - sliding-window attention into recurrence bodies --===//
//
// window_attention(q, k, v) feeding input #i of a recurrence becomes
// linrec.window_read(q_t, k_t, v_t) in the body, with q, k and v as inputs (an input that is
// already there, such as the shared v of Liger Attention, is reused, so the kernel loads each
// row once).
//
//===----------------------------------------------------------------------===//

#include "RecurrenceRewrite.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSEWINDOWS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// True for a window the chunked kernels compute inside a recurrence.
static bool isFusableWindow(WindowAttentionOp window) {
  return window.getWindow() == WindowKind::Sliding &&
         window.getWeighting() == WindowWeighting::Softmax && !window.getDenominator();
}

/// Replaces the first input of `op` that a fusable window computes; false if there is none.
static bool fuseWindow(RecurrenceOp &op) {
  if (op.getCuSeqlens())
    return false;
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    auto window = input.getDefiningOp<WindowAttentionOp>();
    if (!window || !isFusableWindow(window))
      continue;
    unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
    // q, k, v: existing inputs are reused, the others appended.
    SmallVector<Value> extra;
    SmallVector<int> positions; // per operand: an input index, or numInputs + extra index
    for (Value operand : {window.getQ(), window.getK(), window.getV()}) {
      auto existing = llvm::find(op.getInputs(), operand);
      if (existing != op.getInputs().end() &&
          std::distance(op.getInputs().begin(), existing) != static_cast<long>(i)) {
        positions.push_back(std::distance(op.getInputs().begin(), existing));
        continue;
      }
      auto repeated = llvm::find(extra, operand);
      positions.push_back(numInputs + std::distance(extra.begin(), repeated));
      if (repeated == extra.end())
        extra.push_back(operand);
    }
    OpBuilder b(op);
    RecurrenceOp fused = rebuildWithInputs(b, op, static_cast<int>(i), extra);
    Block &block = fused.getBodyBlock();
    SmallVector<Value> args;
    for (int position : positions)
      args.push_back(block.getArgument(numStates + position));
    b.setInsertionPointToStart(&block);
    Value term = WindowReadOp::create(b, window.getLoc(), args[2].getType(), args[0], args[1],
                                      args[2], window.getSizeAttr(), window.getScaleAttr());
    block.getArgument(numStates + i).replaceAllUsesWith(term);
    block.eraseArgument(numStates + i);
    op->replaceAllUsesWith(fused);
    op->erase();
    op = fused;
    if (window->use_empty())
      window->erase();
    return true;
  }
  return false;
}

namespace {
struct LinrecFuseWindowsPass : linrec::impl::LinrecFuseWindowsBase<LinrecFuseWindowsPass> {
  void runOnOperation() override {
    SmallVector<RecurrenceOp> recurrences;
    getOperation()->walk([&](RecurrenceOp op) { recurrences.push_back(op); });
    for (RecurrenceOp op : recurrences)
      while (fuseWindow(op)) {
      }
  }
};
} // namespace
