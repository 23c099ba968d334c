//===- TokenReach.h - how far back a layer's tokens reach --------*- C++ -*-===//
//
// A layer's token t depends on the tokens before it through its states and, in hybrid
// layers, directly: window attention reads the keys of a window, delayed inputs read the row
// of an earlier token, and block-start reads use the state at the start of the token's block.
// A part of the tokens (sequence parallelism) then needs a halo: the tokens before it that
// these reach, and recurrences that start at a block boundary.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_ANALYSIS_TOKENREACH_H
#define LINREC_ANALYSIS_TOKENREACH_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace linrec {

struct TokenReach {
  /// The windows of the layer's linrec.window_attention ops.
  llvm::SmallVector<std::pair<WindowKind, int64_t>> windows;
  /// The longest delay of a recurrence input (a zero tensor.pad before the first token).
  int64_t delay = 0;
  /// Recurrences with block-start reads start at a multiple of this (1 without any).
  int64_t stateBlock = 1;

  /// Analyzes `func`; an error (emitted) for a recurrence whose `delays` attribute or
  /// cu_seqlens with a window would leave a part without its halo.
  static mlir::FailureOr<TokenReach> of(mlir::func::FuncOp func);

  /// Where a recurrence of a part starting at token `begin` of its sequence starts: the
  /// block start at or before it.
  int64_t recurrenceStart(int64_t begin) const { return begin - begin % stateBlock; }
  /// The first token a part starting at `begin` needs: its windows' first keys, and the
  /// delayed rows of its recurrences from recurrenceStart(begin).
  int64_t firstNeeded(int64_t begin) const;
};

} // namespace linrec

#endif // LINREC_ANALYSIS_TOKENREACH_H
