//===- KernelEmitter.h - what every recurrence kernel is made of -*- C++ -*-===//
//
// A kernel (CPU kernel or GPU schedule) processes the (sequence, head) work items
// [begin, end) of one recurrence.
// Its arguments are memrefs of the recurrence's operands (inputs, params, inits,
// cu_seqlens), then of its results (outputs, final states), then begin and end. This file
// holds what the CPU kernels and the GPU schedules share: the work decomposition, loads
// and stores of token rows, the cloning of the body's per-token ops, and state buffers (on
// top of KernelBuilder's loops, buffers and matmul).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELEMITTER_H
#define LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELEMITTER_H

#include "KernelBuilder.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace linrec::codegen {

/// The (sequence, head) one loop iteration works on, and its tokens.
struct WorkItem {
  mlir::Value head;
  mlir::Value row;        // the batch row of the inputs (0 with cu_seqlens)
  mlir::Value stateRow;   // the sequence
  mlir::Value stateSlot;  // its row of the init and final states (state_indices[stateRow])
  mlir::Value tokenBegin; // [tokenBegin, tokenEnd) along T
  mlir::Value tokenEnd;
  mlir::Value valueTile;  // which of the value-dim tiles (0 without tiling)
  mlir::Value numHeads;   // heads of this item from `head` on (a head group; 1 without)
};

class KernelEmitter : public KernelBuilder {
public:
  KernelEmitter(RecurrenceOp op, const RecurrenceAnalysis &analysis, mlir::func::FuncOp kernel,
                int64_t chunkSize, int64_t valueTiles = 1, int64_t headsPerItem = 1);

  /// Emits `for w in [begin, end)`, decoding each w into a WorkItem: w = ((sequence · G) +
  /// group) · valueTiles + tile, with G = ⌈H / headsPerItem⌉ head groups per sequence.
  void forEachWorkItem(llvm::function_ref<void(const WorkItem &)> body);
  /// Decodes work item `w` (emitted at the insertion point).
  WorkItem workItemAt(mlir::Value w);
  /// The row along T that the token at `position` (in the order the tokens run) reads and
  /// writes: the position itself, or mirrored inside its sequence for a reverse recurrence
  /// (tokenBegin + tokenEnd − 1 − position), so that the kernels run a backward scan without
  /// copies of reversed tensors.
  mlir::Value memoryToken(const WorkItem &item, mlir::Value position);
  /// Emits the loop over `item`'s chunks of `chunk` tokens: body(c, first, count) with the
  /// chunk's index, first token and token count (chunk, or fewer at the sequence's end).
  void forEachChunk(const WorkItem &item, int64_t chunk,
                    llvm::function_ref<void(mlir::Value, mlir::Value, mlir::Value)> body);

  // Kernel arguments.
  mlir::Value input(unsigned i) { return kernel.getArgument(i); }
  mlir::Value param(unsigned i) { return kernel.getArgument(numInputs + i); }
  mlir::Value init(unsigned i) { return kernel.getArgument(numInputs + numParams + i); }
  mlir::Value output(unsigned i) { return kernel.getArgument(numOperands + i); }
  mlir::Value finalState(unsigned i) {
    return kernel.getArgument(numOperands + numOutputs + i);
  }

  /// Maps the body's input and param arguments (those `needed` accepts, all without it) to
  /// their values at `token` of `item`.
  void mapTokenArguments(mlir::IRMapping &mapping, const WorkItem &item, mlir::Value token,
                         llvm::function_ref<bool(mlir::Value)> needed = nullptr);
  /// Whether `token` is the first of a block of `block` tokens of `item`'s sequence (an i1).
  mlir::Value startsBlock(const WorkItem &item, mlir::Value token, int64_t block);
  /// Prefetches the input rows (and, for writing, the output rows) of `token`, a later
  /// chunk's, into the cache: consecutive tokens of one head are H·D apart, too far apart for
  /// the hardware prefetcher.
  /// `locality`: 3 = L1, 2 = L2 (chunkPrefetchLocality).
  void prefetchTokenRows(const WorkItem &item, mlir::Value token, int64_t locality = 3);
  /// Where a chunk's worth of one head's rows, prefetched a head ahead, should go: L1 while it
  /// is small, else L2 (docs/CPU-codegen.md, "Prefetching").
  int64_t chunkPrefetchLocality();
  /// Prefetches the input rows of `token`, a few tokens ahead of the prologue's loads, into L1.
  /// The rows of one head (a power-of-two stride apart) share a few L1 sets, so a whole chunk
  /// prefetched ahead does not stay there (docs/CPU-codegen.md, "Prefetching").
  void prefetchInputRowsToL1(const WorkItem &item, mlir::Value token);
  /// Clones one per-token body op (a projection becomes FMAs over its weight's rows).
  void cloneBodyOp(mlir::Operation &bodyOp, mlir::IRMapping &mapping);
  /// Clones the non-state body ops needed to compute `values` (in body order). Arguments and
  /// reads must already be mapped.
  void cloneSlice(llvm::ArrayRef<mlir::Value> values, mlir::IRMapping &mapping);
  /// cloneSlice after loading only the arguments at `token` the slice reads: a GPU thread then
  /// holds one token row at a time instead of every input row at once.
  void cloneSliceAt(llvm::ArrayRef<mlir::Value> values, mlir::IRMapping &mapping,
                    const WorkItem &item, mlir::Value token);

  /// Copies init #i of `item` into `state` (a dk x width buffer: the value columns
  /// [column0, column0 + width)), or zeros when not given.
  void loadInitialState(unsigned i, const WorkItem &item, mlir::Value state,
                        mlir::Value column0 = {});
  void storeFinalState(unsigned i, const WorkItem &item, mlir::Value state,
                       mlir::Value column0 = {});

  /// Whether a kernel may update its states where they lie, in the final-state buffers,
  /// without copying them in and out: with state pools the final-state pools already hold
  /// the initial states when a kernel starts (the caller copied them there, or they are the
  /// very same buffers), for whole matrix states (no value tiles) of the pools' element type,
  /// or f32 states kept in bf16/f16 pools (computed in f32 row by row, rounded as stored: a
  /// scan over several tokens rounds after each, as that many decode steps would). A decode
  /// step then reads and writes each state once, as a streaming update does.
  bool updatesStatesInPlace();
  /// Final state #i of `item` (its slot and head) as a dk x dv view.
  mlir::Value finalStateView(unsigned i, const WorkItem &item);
  /// The value checks loadInitialState does, on a state updated in place (`view`).
  void checkStateInPlace(unsigned i, mlir::Value view);
  /// Whether the kernel checks values (it was created with a status word).
  bool checksValues() const { return static_cast<bool>(valueStatus); }
  /// Those checks for one row of initial state #i, as a kernel that updates it in place
  /// first loads it.
  void checkStateRow(unsigned i, mlir::Value row) { checkValues(numInputs + numParams + i, row); }
  /// Stores the yielded outputs of the body, mapped through `mapping`, at `token`.
  void storeOutputs(mlir::IRMapping &mapping, const WorkItem &item, mlir::Value token);
  /// Stores `value` as output #j at `token`.
  void storeOutput(unsigned j, mlir::Value value, const WorkItem &item, mlir::Value token);

  // Value checks: a kernel created with a status word (createKernelFunction's valueStatus)
  // checks the f32 input rows and initial states it loads as it loads them
  // (loadInitialState checks the states), so that the runtime's checked mode costs no pass
  // of its own over them.
  /// Folds the input rows `mapping` holds (mapTokenArguments's) into the checks; a kernel
  /// calls it once per token of every work item, where it first loads the token's rows.
  void checkTokenArguments(const mlir::IRMapping &mapping);
  /// At the kernel's end: ORs the ValueCheck of every check that failed into the status word,
  /// and records what the kernel checked of each operand (linrec.value_checks).
  void finishValueChecks();

  RecurrenceOp op;
  const RecurrenceAnalysis &analysis;
  int64_t chunkSize;
  /// Work items split the value dim into this many tiles (1: no split).
  int64_t valueTiles;
  /// Heads per work item: a group of adjacent heads of one sequence, processed chunk by chunk
  /// in lockstep so that their token rows (adjacent in memory) are loaded together.
  int64_t headsPerItem;

private:
  /// An operand's check: accumulators (stack buffers of `width` lanes) that its rows fold into.
  /// Finite: f32 lanes acc += x · 0, which stay 0 unless some x was NaN or ±∞ (no fast-math
  /// flag lets LLVM fold x · 0). LogDecay: i32 lanes of the bits' signed max (> 0: a
  /// positive value or +NaN) and unsigned max (> 0xff800000, the bits of −∞: a −NaN).
  struct OperandCheck {
    unsigned operand;
    ValueCheck kind;
    int64_t width;
    mlir::Value first, second;
  };
  void setUpValueChecks();
  /// Checks operand #operand's values in `row` (a float or float vector of f32), if the
  /// kernel checks that operand.
  void checkValues(unsigned operand, mlir::Value row);

  unsigned numInputs, numParams, numInits, numOperands, numOutputs;
  mlir::Value valueStatus; // the status word, when the kernel checks values
  llvm::SmallVector<OperandCheck> operandChecks;
  /// Per projection: a row holding its input, read back element by element.
  llvm::DenseMap<mlir::Operation *, mlir::Value> projectionScratch;
  mlir::Value cuSeqlens;    // null without varlen
  mlir::Value stateIndices; // null without state pools
};

/// How many value-dim tiles the chunked kernel of `op` can use, at most `requested`: the
/// columns of every state are independent, so any chunked recurrence splits, provided every
/// state is a matrix with the same dv (divisible by the count) and every output is a read.
int64_t valueTilesFor(RecurrenceOp op, const RecurrenceAnalysis &analysis, int64_t requested);

/// The algorithm `op` runs, in analysis.algorithm: the analysis's, unless the op forces
/// `sequential`; a forced chunked algorithm that the body does not allow is an error.
mlir::LogicalResult resolveAlgorithm(RecurrenceOp op, RecurrenceAnalysis &analysis);
/// An error on `op`'s first transposed read, if any: `kernel` reads along the key axis only.
mlir::LogicalResult checkNoTransposedReads(RecurrenceOp op, llvm::StringRef kernel);
/// The floor of a token's log-decay in the chunked forms. They take differences of cumulative
/// log-decays, b_i − b_j, which −∞ (a full reset, conformance README §3) turns into NaN and
/// −1e30 into garbage. e^{−20} ≈ 2e−9 of a state survives a floored token, below f32
/// resolution unless the state before the reset is 10⁴ times the one after. The token scans
/// multiply by e^{g} and need no floor.
inline constexpr double kLogDecayFloor = -20.0;

/// A token's log-decay of one kind in a chunked form: the sum of the mapped values of
/// `values` (the body's decays of that kind), at least kLogDecayFloor.
mlir::Value chunkLogDecay(mlir::ImplicitLocOpBuilder &b, llvm::ArrayRef<mlir::Value> values,
                          mlir::IRMapping &mapping);

/// The chunked forms keep each cumulative log-decay b_i = Σ_{i' <= i} g_{i'} as a pair of
/// floats hi + lo (addToDecaySum). One f32 rounds b at its own size: after a strong decay
/// early in a chunk (|b| ~ 100), the weak ones after it (−1e−3) lose their digits, and so
/// does every b_i − b_j between those tokens, though the reference weighs those pairs by
/// e^{b_i − b_j} ≈ 1. This is b_i − b_j from the pairs: hi_i − hi_j is rounded at the size of
/// the difference, lo_i − lo_j restores what the sums of hi rounded away.
mlir::Value decayDifference(mlir::ImplicitLocOpBuilder &b, mlir::Value hiI, mlir::Value loI,
                            mlir::Value hiJ, mlir::Value loJ);

/// One step of the pairs' prefix sum, (hi, lo) + g: Neumaier's compensated sum (the rounding
/// error of hi + g, exact by TwoSum, added to lo), renormalized so that hi is the sum rounded
/// to f32 and lo what that rounding left out: f64 sums' accuracy in f32 registers (f64 ones
/// made the GPU schedule spill). Floats or float vectors, elementwise; it relies on the
/// arithmetic not being reassociated (no fast-math flags).
std::pair<mlir::Value, mlir::Value> addToDecaySum(mlir::ImplicitLocOpBuilder &b,
                                                  mlir::Value hi, mlir::Value lo,
                                                  mlir::Value g);

} // namespace linrec::codegen

#endif // LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELEMITTER_H
