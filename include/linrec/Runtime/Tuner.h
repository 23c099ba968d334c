//===- Tuner.h - searching a layer's schedule space -------------*- C++ -*-===//
//
// The tuner behind linrec-tune: for a function of kernel ops (a model's layer) on given inputs,
// it enumerates the target's schedule candidates, prunes them with a cost model (register tile
// against the vector registers, a work item's chunk in the L2 cache, value tiles and head
// groups against the work items and threads), times the survivors (a warm-up, then repeated
// runs until enough time has passed, the median; a spread between the 10th and 90th
// percentiles above 10% of it means the machine was busy: measured again), checks each against the float64 reference before it may win, and
// re-times the best against the default schedule alternately for the final comparison. The
// result holds one TuningDatabase entry per kernel op of the function, the runtime's key; a
// function that compiles as a whole layer (ops besides its kernels) gets one entry keyed on
// the function itself (layerTuningDigest), which compileFunction looks up for it.
//
// On the GPU (target cuda) the cost model is the assembler: every candidate (chunk size, value
// tile, fused or two-phase, block size, register budget, the token scan for short sequences) is lowered to PTX and assembled by
// `ptxas -v` (GpuResources.h); one that spills or needs more shared memory than a block has is
// pruned. The rest are checked against the reference and timed on the CUDA device; without one
// they are checked on the CPU (the GPU schedule run there, as CI tests it) and nothing is
// timed or recorded. Tensor cores round to f16 and are not searched for the f32 layers the
// tuner takes.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_TUNER_H
#define LINREC_RUNTIME_TUNER_H

#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/TuningDatabase.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace linrec {

/// Where a search stands, for progress lines.
struct TuneProgress {
  int64_t done = 0, total = 0;
  double elapsedSeconds = 0, remainingSeconds = 0; // remaining: an estimate
  double bestSeconds = 0;                          // 0: none valid yet
  std::string bestSchedule, lastSchedule, lastOutcome;
};

struct TuneRequest {
  mlir::ModuleOp module;
  std::string funcName = "layer";
  /// Its arguments (f32 arrays of the function's argument shapes).
  std::vector<Array> args;
  /// The target and the options the search keeps: options given explicitly here are never
  /// searched (the thread count, and any tunable option the caller fixed).
  KernelOptions base;
  /// Stop starting candidates after this many seconds / candidates (0: no limit); the default
  /// schedule and the final re-timing are always done.
  double budgetSeconds = 0;
  int64_t maxCandidates = 0;
  /// Time per measurement.
  double minSeconds = 0.2;
  /// The largest relative RMS error against the float64 reference a candidate may have.
  double tolerance = 1e-4;
  /// What the layer is, for the database's readers ("gla B=1 T=4096 H=8 d=128").
  std::string description;
  std::function<void(const TuneProgress &)> progress;
};

struct TuneCandidate {
  std::string schedule; // "name=value ..." (the options it sets beyond the base)
  double seconds = 0;   // median; 0 if it did not run
  double spread = 0;    // (90th − 10th percentile) / median of the repeats
  double error = 0;     // relative RMS against the reference, worst output
  std::string outcome;  // "ok", or why it was rejected or skipped
  std::string resources; // GPU: what ptxas reported (describeGpuResources)
};

struct TuneResult {
  /// The winner (the default schedule, "", when nothing beat it) and the final alternating
  /// re-timing of it and of the default.
  std::string bestSchedule;
  double bestSeconds = 0, defaultSeconds = 0;
  std::vector<TuneCandidate> candidates; // in the order tried; pruned ones last
  int64_t pruned = 0;
  /// Whether candidates were timed (false: a GPU search with no CUDA device, whose candidates
  /// were assembled and checked only; no winner and no entries).
  bool timed = true;
  /// One entry per kernel op of the function (the same schedule: it is one layer's).
  std::vector<TuningEntry> entries;
};

/// The CPU schedule candidates for a layer whose (first) kernel is `kernel` (static shapes),
/// keeping the options `options` sets (after pruning), most promising first; `pruned`
/// receives the rejected ones with the cost model's reason. The default schedule ("") is not
/// among them.
std::vector<std::string> cpuScheduleCandidates(RecurrenceOp kernel, const KernelOptions &options,
                                               std::vector<TuneCandidate> *pruned);

/// The GPU schedule candidates (target cuda) for a layer whose (first) kernel is `kernel`,
/// keeping the options `options` sets: those the static rules leave (a value tile other than
/// the default that divides dv, a block's registers within an SM's 64K, a chunk other than the
/// default no longer than the sequence), before ptxas sees them; `pruned` receives the rest
/// with the reason. Not the default ("").
std::vector<std::string> gpuScheduleCandidates(RecurrenceOp kernel, const KernelOptions &options,
                                               std::vector<TuneCandidate> *pruned);

/// Searches the schedule of @funcName for request.base.target (cpu or cuda). `compiler` must
/// not apply a tuning database (setTuningDatabase("")).
llvm::Expected<TuneResult> tuneFunction(KernelCompiler &compiler, const TuneRequest &request);

/// tuneFunction on the layer of `model` (the conformance format's names; `params` as in a
/// case's spec.json) built for the dimensions `dims` gives its required inputs ("B", "T", "H",
/// "dk", "dv" = dk unless given, ...), on random inputs that suit each argument's role
/// (RandomInputs.h). `request`'s base, limits and progress are used; its module and arguments
/// are the layer's.
llvm::Expected<TuneResult> tuneModel(mlir::MLIRContext &context, KernelCompiler &compiler,
                                     llvm::StringRef model, const llvm::json::Object &params,
                                     std::map<std::string, int64_t> dims, TuneRequest request);

/// tuneFunction on request.module's @funcName (static f32 tensors) with random arguments that
/// suit each one's role (RandomInputs.h): how an .mlir file is tuned.
llvm::Expected<TuneResult> tuneOnRandomInputs(KernelCompiler &compiler, TuneRequest request);

/// `dims` with the defaults tuneModel gives: dv = dk unless given.
std::map<std::string, int64_t> completeDims(std::map<std::string, int64_t> dims);

/// "B=1 T=4096 H=8 dk=128 dv=128": the dimensions in their usual order, then the rest.
std::string describeDims(const std::map<std::string, int64_t> &dims);

} // namespace linrec

#endif // LINREC_RUNTIME_TUNER_H
