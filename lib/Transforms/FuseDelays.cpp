//===- FuseDelays.cpp - token shifts into recurrence inputs ---------------===//
//
// extract_slice(pad(x, low = [0, w, 0(, 0)], 0.0), [0, 0, 0(, 0)], shape(x)) is x moved w
// tokens later, zeros first: the recurrence reads x with a delay of w instead of a copy of it.
//
//===----------------------------------------------------------------------===//

#include "RecurrenceRewrite.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECFUSEDELAYS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// The tensor `value` is a delayed copy of and the delay, if it is one.
static std::optional<std::pair<Value, int64_t>> matchDelay(Value value) {
  auto slice = value.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice)
    return std::nullopt;
  auto pad = slice.getSource().getDefiningOp<tensor::PadOp>();
  if (!pad || pad.getNofold())
    return std::nullopt;
  Value source = pad.getSource();
  auto type = cast<RankedTensorType>(source.getType());
  if (!type.hasStaticShape() || slice.getType() != type)
    return std::nullopt;
  Value padding = pad.getConstantPaddingValue();
  if (!padding || !matchPattern(padding, m_AnyZeroFloat()))
    return std::nullopt;
  ArrayRef<int64_t> low = pad.getStaticLow(), high = pad.getStaticHigh();
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (high[d] != 0 || (d != 1 && low[d] != 0) || ShapedType::isDynamic(low[d]))
      return std::nullopt;
  if (!llvm::all_of(slice.getStaticOffsets(), [](int64_t o) { return o == 0; }) ||
      !llvm::all_of(slice.getStaticStrides(), [](int64_t s) { return s == 1; }) ||
      slice.getStaticSizes() != type.getShape())
    return std::nullopt;
  return std::make_pair(source, low[1]);
}

/// Replaces the first delayed copy among the inputs of `op`; false if there is none.
static bool fuseDelay(RecurrenceOp &op) {
  // A pad of packed sequences crosses their boundaries; a reverse recurrence's delays look
  // forward in the tensor, a pad shifts it back.
  if (op.getCuSeqlens() || op.getReverse())
    return false;
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    std::optional<std::pair<Value, int64_t>> delayed = matchDelay(input);
    if (!delayed)
      continue;
    auto [source, shift] = *delayed;
    int64_t delay = op.getInputDelay(i) + shift;
    unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
    SmallVector<unsigned> dropped = {static_cast<unsigned>(i)};
    std::optional<unsigned> existing = findInput(op, source, delay, dropped);
    SmallVector<Value> extra;
    if (!existing)
      extra.push_back(source);
    OpBuilder b(op);
    Operation *slice = input.getDefiningOp();
    RecurrenceOp fused = rebuildWithOperands(b, op, dropped, extra, ValueRange{}, delay);
    Value arg = fused.getBodyBlock().getArgument(numStates + (existing ? *existing : numInputs));
    replaceRebuilt(op, fused, dropped, {arg});
    if (slice->use_empty()) {
      Operation *pad = slice->getOperand(0).getDefiningOp();
      slice->erase();
      if (pad->use_empty())
        pad->erase();
    }
    return true;
  }
  return false;
}

namespace {
struct LinrecFuseDelaysPass : linrec::impl::LinrecFuseDelaysBase<LinrecFuseDelaysPass> {
  void runOnOperation() override { rewriteRecurrences(getOperation(), fuseDelay); }
};
} // namespace
