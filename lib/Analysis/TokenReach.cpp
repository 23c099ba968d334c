//===- TokenReach.cpp - how far back a layer's tokens reach ---------------===//

#include "linrec/Analysis/TokenReach.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <numeric>

using namespace mlir;

namespace linrec {

FailureOr<TokenReach> TokenReach::of(func::FuncOp func) {
  TokenReach reach;
  WalkResult result = func.walk([&](Operation *op) {
    if (auto window = dyn_cast<WindowAttentionOp>(op)) {
      reach.windows.push_back({window.getWindow(), static_cast<int64_t>(window.getSize())});
    } else if (auto pad = dyn_cast<tensor::PadOp>(op)) {
      ArrayRef<int64_t> low = pad.getStaticLow();
      if (low.size() > 1 && low[1] != ShapedType::kDynamic)
        reach.delay = std::max(reach.delay, low[1]);
    } else if (auto rec = dyn_cast<RecurrenceOp>(op)) {
      if (rec.getDelays()) {
        rec.emitOpError("has delayed inputs (`delays`): a part of its tokens cannot get their "
                        "rows from before it; give the delay as a tensor.pad instead");
        return WalkResult::interrupt();
      }
    } else if (auto read = dyn_cast<ReadOp>(op)) {
      if (std::optional<int64_t> block = read.getBlockStart())
        reach.stateBlock = std::lcm(reach.stateBlock, *block);
    }
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  return reach;
}

int64_t TokenReach::firstNeeded(int64_t begin) const {
  int64_t first = std::max<int64_t>(0, recurrenceStart(begin) - delay);
  for (auto [kind, size] : windows) {
    int64_t key = begin;
    switch (kind) {
    case WindowKind::Sliding:
      key = begin - (size - 1);
      break;
    case WindowKind::Block:
      key = begin - begin % size;
      break;
    case WindowKind::Terraced:
      key = begin - begin % size - size;
      break;
    }
    first = std::min(first, std::max<int64_t>(0, key));
  }
  return std::min(first, begin);
}

} // namespace linrec
