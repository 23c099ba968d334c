//===- RecurrenceAnalysis.h - the state algebra of a recurrence -*- C++ -*-===//
//
// Reads a recurrence body as the chunked algorithms need it: per state, which decays scale
// it (scalar, key-vector, value-vector), whether a delta transition precedes the write, and
// which per-token values (keys, values, betas, queries) feed it. Everything the chunked form
// cannot express makes the recurrence sequential, with the reason recorded.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_ANALYSIS_RECURRENCEANALYSIS_H
#define LINREC_ANALYSIS_RECURRENCEANALYSIS_H

#include "linrec/Dialect/LinrecOps.h"

#include <string>

namespace linrec {

/// The update of one state in one token step, in the form
///   S_t = D_t(S_{t-1}) + β_t k_t (v_t − D_t(S_{t-1})ᵀ k_t)ᵀ   (delta)   or
///   S_t = D_t(S_{t-1}) + β_t k_t v_tᵀ                          (plain),
/// D_t = e^{Σ scalar} · diag(e^{Σ key}) · S · diag(e^{Σ value}).
struct StateUpdate {
  unsigned index = 0;
  StateType type;
  llvm::SmallVector<mlir::Value> scalarDecays; // f32 body values
  llvm::SmallVector<mlir::Value> keyDecays;    // vector<dk>
  llvm::SmallVector<mlir::Value> valueDecays;  // vector<dv>
  bool delta = false;
  mlir::Value key;   // null when the state is never written (a delta rule's: its delta key)
  mlir::Value value; // null for a normalizer (the value is 1)
  mlir::Value beta;  // null when 1 (a delta rule's: its delta β)
  /// A delta rule whose write takes its own key (and β, null when 1):
  /// S_t = D_t(S') − β k (D_t(S')ᵀk)ᵀ + β_w c vᵀ, the delta rule's backward (the reverse delta
  /// rule writes s q doᵀ). Null for S' + β k (v − S'ᵀk)ᵀ. Scalar decays only: the CPU chunked
  /// kernel runs it, the GPU the token scan.
  mlir::Value writeKey, writeBeta;
  llvm::SmallVector<ReadOp> reads;
  /// Reads of this state's product with another (read_product, as its first or second).
  llvm::SmallVector<ReadProductOp> productReads;
};

/// The single op that updates `state` next (reads, yields and Hadamard factors only read
/// it), or null at the end of its chain; `forked` when two ops update it.
mlir::Operation *nextStateOp(mlir::Value state, bool &forked);

struct RecurrenceAnalysis {
  Algorithm algorithm = Algorithm::Sequential;
  /// Why the recurrence is sequential; empty otherwise.
  std::string reason;
  std::vector<StateUpdate> states;
  /// Sliding-window softmax terms of the body (hybrid layers), in body order.
  llvm::SmallVector<WindowReadOp> windows;
  /// The block of the body's block-start reads (one size for all), 0 without any: chunks
  /// must then hold a whole number of blocks.
  int64_t readBlock = 0;
  static constexpr int64_t kMaxReadBlock = 256;
  /// Whether the body's reads are products of states (read_product) that the chunked product
  /// form evaluates: every state written plainly (no decay, delta or mask), product reads
  /// only, keys, values, betas and queries independent of the reads. The analysis still
  /// records `sequential` (the cheaper form on the CPU); `states` are filled.
  bool productChunkable = false;
  /// Chunks of the chunked product form hold at most this many tokens: its in-chunk pairs
  /// cost C·r per token and query.
  static constexpr int64_t kMaxProductChunk = 16;

  /// The chunk size a chunked kernel uses when `requested` is asked for: the largest multiple
  /// of readBlock up to it (at least readBlock), at most kMaxProductChunk for the chunked
  /// product form, or `requested` itself.
  int64_t chunkSizeFor(int64_t requested) const;

  /// Whether every state is a running sum: one key row, no delta transition (a backward's
  /// gate sums). The chunked forms run such a recurrence, but the token scan's few vector ops
  /// per token cost far less than chunk matmuls that contract over that one row (the
  /// intra-chunk mix alone is C·dv multiply-adds per token): linrec-classify picks the scan.
  bool runningSumsOnly() const;

  static RecurrenceAnalysis analyze(RecurrenceOp op);

private:
  static RecurrenceAnalysis &analyzeProducts(RecurrenceOp op, RecurrenceAnalysis &result);
  static bool driversIndependentOfReads(RecurrenceOp op, RecurrenceAnalysis &result);
};

} // namespace linrec

#endif // LINREC_ANALYSIS_RECURRENCEANALYSIS_H
