//===- ChunkWindow.h - a linrec.window_read inside the chunked kernel -*- C++ -*-===//
//
// The window term of a hybrid layer, computed from the chunk's own tiles: the windows of a
// chunk's C queries lie in the chunk and the tokens its window reaches before it, so
// the kernel keeps a span of keys and values — a history of the last tokens (rounded up to 16
// rows) followed by the chunk's rows, which the prologue stores with the recurrence's — and
// per block of 16 queries computes the scores against the band of the span their windows
// reach (one matmul), masks each row to its window, weighs it (softmax, relu, or e^{s − max}
// with the row sum as the denominator) and multiplies by the band's values. The history
// then shifts by C rows. Nothing is read from memory twice.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOCPU_CHUNKWINDOW_H
#define LINREC_LIB_CONVERSION_LINRECTOCPU_CHUNKWINDOW_H

#include "CpuKernels.h"

namespace linrec::cpu {

class ChunkWindow {
public:
  /// Allocates the buffers of `op` for chunks of `chunkSize` tokens.
  ChunkWindow(KernelEmitter &e, WindowReadOp op, int64_t chunkSize);

  /// The rows of history a span keeps before the chunk: the window's reach (size − 1, or
  /// 2·size − 1 terraced) rounded up to 16.
  static int64_t historyRows(WindowReadOp op) { return (op.getReach() + 15) / 16 * 16; }

  /// At the start of a sequence: no history.
  void clearHistory();
  /// Before the prologue: zero the span rows of the chunk's padding tokens [count, C).
  void clearPadding(mlir::Value count);
  /// In the prologue, token i of the chunk: its scaled query, key and value rows, from the
  /// body values in `mapping`.
  void storeTokenRows(mlir::IRMapping &mapping, mlir::Value i);
  /// After the prologue: the window term of the chunk's tokens, whose first is token `first` of
  /// `item` (the padding rows of a last chunk too: the epilogue does not store them).
  void emit(const WorkItem &item, mlir::Value first);
  /// In the epilogue: maps the op's result to its value at token i of the chunk.
  void mapResult(mlir::IRMapping &mapping, mlir::Value i);
  /// After the epilogue: the span's last rows become the next chunk's history.
  void shiftHistory();

private:
  /// Queries per block of the band matmuls.
  static constexpr int64_t kQueryBlock = 16;
  KernelEmitter &e;
  WindowReadOp op;
  int64_t C, size, history, span, dk, dv;
  mlir::Value queries; // C x dk, scaled
  mlir::Value keys;    // span x dk: history rows, then the chunk's
  mlir::Value keysT;   // dk x span
  mlir::Value values;  // span x dv
  mlir::Value scores;  // C x span: scores, then softmax weights
  mlir::Value out;     // C x dv
  mlir::Value denominators; // C (shifted_exp)
};

} // namespace linrec::cpu

#endif // LINREC_LIB_CONVERSION_LINRECTOCPU_CHUNKWINDOW_H
