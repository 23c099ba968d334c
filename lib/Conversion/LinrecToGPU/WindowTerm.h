//===- WindowTerm.h - a block of queries against their windows on a GPU -*- C++ -*-===//
//
// The part of window attention both GPU schedules share: a block of Cq queries whose windows
// lie in a span of Cq + reach keys, all in workgroup tiles. After the caller has loaded the
// tiles (queries scaled, keys transposed, values; zeros past the span's keys):
//
//   scores    (i, j)    s_ij = q_i · k_j inside query i's window, −inf (0 for relu) outside
//   weights   row i     softmax: e^{s − max} / Σ; shifted_exp: e^{s − max}, the row sum handed
//                       to the caller (the denominator); relu: the scores as they are
//   output    (i, v)    o_iv = Σ_j w_ij V_jv
//
// linrec.window_attention's schedule (WindowSchedule.cpp) loads its tiles from memory; the
// chunked schedule's window reads (ChunkedSchedule.cpp) from the body's values.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWTERM_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWTERM_H

#include "ScheduleBuilder.h"

namespace linrec::gpusched {

class WindowTerm : ScheduleBuilder {
public:
  /// Queries in blocks of `queries` against windows of `kind` and `size`.
  WindowTerm(codegen::KernelBuilder &k, WindowKind kind, int64_t size, WindowWeighting weighting,
             int64_t queries, int64_t dk, int64_t dv);

  /// The keys a block's windows reach: the block's queries and `reach` before the first.
  int64_t span() const { return Cq + windowReach(kind, size); }
  /// Allocates the tiles (see the members below) in `program`'s current block.
  void allocate(ScheduleBuilder &program);
  /// The first key position of the block whose first query is at `first`.
  mlir::Value keyStart(mlir::Value first);
  /// Scores masked to each query's window, then weighted in place: query i at position
  /// first + i (i < count), key j at keyStart + j. With shifted_exp, `denominator(i, sum)`
  /// receives each row's sum.
  void emitWeights(mlir::Value first, mlir::Value count, mlir::Value keyStart,
                   llvm::function_ref<void(mlir::Value, mlir::Value)> denominator);
  /// o_iv = Σ_j w_ij V_jv for each query i < count, handed to `store(i, v, o)`.
  void emitOutputs(mlir::Value count,
                   llvm::function_ref<void(mlir::Value, mlir::Value, mlir::Value)> store);

  mlir::Value queries; // Cq x dk, scaled
  mlir::Value keysT;   // dk x span
  mlir::Value values;  // span x dv
  mlir::Value weights; // Cq x span: scores, then weights

private:
  WindowKind kind;
  int64_t size;
  WindowWeighting weighting;
  int64_t Cq, dk, dv;

  bool relu() const { return weighting == WindowWeighting::Relu; }
};

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_WINDOWTERM_H
