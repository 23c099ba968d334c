//===- FuseWindows.cpp - window attention into recurrence bodies ----------===//
//
// A window_attention(q, k, v) (sliding, terraced or block) whose results are inputs of a
// recurrence becomes linrec.window_read(q_t, k_t, v_t) in the body, with q, k and v as inputs
// (an input that is already there, such as the shared v of Liger Attention, is reused, so
// the kernel loads each row once). Its denominator (shifted_exp: LoLCATs) becomes the read's
// second result.
//
//===----------------------------------------------------------------------===//

#include "RecurrenceRewrite.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSEWINDOWS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// The first window whose results feed `op` (a result used elsewhere too keeps the window op
/// alive), or null.
static WindowAttentionOp feedingWindow(RecurrenceOp op) {
  for (Value input : op.getInputs())
    if (auto window = input.getDefiningOp<WindowAttentionOp>())
      return window;
  return {};
}

/// The longest history a fused window may keep: the chunked kernel's span (history + a chunk
/// of at most 256 tokens) holds at most 1024 rows.
constexpr int64_t kMaxHistory = 768;

/// Replaces the inputs of `op` that a window computes by a window read; false if there
/// is none, or if the fused form would not lower: the window reads need the chunked kernel
/// and a bounded span, and an input the window computes must not be delayed.
static bool fuseWindow(RecurrenceOp &op) {
  if (op.getCuSeqlens() || op.getReverse()) // window reads look back in forward order
    return false;
  WindowAttentionOp window = feedingWindow(op);
  if (!window || (window.getReach() + 15) / 16 * 16 > kMaxHistory)
    return false;
  for (auto [i, input] : llvm::enumerate(op.getInputs()))
    if (input.getDefiningOp() == window.getOperation() && op.getInputDelay(i) != 0)
      return false;
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
  if (analysis.algorithm == Algorithm::Sequential ||
      op.getAlgorithm() == std::optional<Algorithm>(Algorithm::Sequential))
    return false;
  unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
  // The inputs the window computes (its output, and its denominator with shifted_exp).
  SmallVector<unsigned> dropped;
  for (auto [i, input] : llvm::enumerate(op.getInputs()))
    if (input.getDefiningOp() == window.getOperation())
      dropped.push_back(i);
  // q, k, v: inputs that stay are reused, the others appended.
  SmallVector<Value> extra;
  SmallVector<unsigned> positions; // per operand: an input index, or numInputs + extra index
  for (Value operand : {window.getQ(), window.getK(), window.getV()}) {
    if (std::optional<unsigned> existing = findInput(op, operand, /*delay=*/0, dropped)) {
      positions.push_back(*existing);
      continue;
    }
    auto repeated = llvm::find(extra, operand);
    positions.push_back(numInputs + std::distance(extra.begin(), repeated));
    if (repeated == extra.end())
      extra.push_back(operand);
  }
  OpBuilder b(op);
  RecurrenceOp fused = rebuildWithInputs(b, op, dropped, extra);
  Block &block = fused.getBodyBlock();
  SmallVector<Value> args;
  for (unsigned position : positions)
    args.push_back(block.getArgument(numStates + position));
  b.setInsertionPointToStart(&block);
  Type denominatorType = window.getDenominator() ? b.getF32Type() : Type();
  auto read = WindowReadOp::create(b, window.getLoc(), args[2].getType(), denominatorType,
                                   args[0], args[1], args[2], window.getWindowAttr(),
                                   b.getI64IntegerAttr(window.getEffectiveSize()),
                                   window.getScaleAttr(), window.getWeightingAttr());
  SmallVector<Value> terms;
  for (unsigned i : dropped)
    terms.push_back(op.getInputs()[i] == window.getO() ? Value(read.getResult())
                                                       : Value(read.getDenominator()));
  replaceRebuilt(op, fused, dropped, terms);
  if (window->use_empty())
    window->erase();
  return true;
}

namespace {
struct LinrecFuseWindowsPass : linrec::impl::LinrecFuseWindowsBase<LinrecFuseWindowsPass> {
  void runOnOperation() override { rewriteRecurrences(getOperation(), fuseWindow); }
};
} // namespace
