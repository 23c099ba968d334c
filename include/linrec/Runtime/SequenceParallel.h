//===- SequenceParallel.h - a model's forward over ranks that split the tokens -*- C++ -*-===//
//
// Sequence parallelism as LASP-2 does it: every rank holds a contiguous part of the tokens,
// reduces it to a summary per state whose size does not depend on the part's length (the
// transition L and the offset c of S = L(S_start) + c: linrec-build-sequence-parallel derives
// them from the layer), one all-gather exchanges the summaries, each rank combines those
// before it into the state its part starts from and runs its part from there. The
// communication comes from an engine that provides it (MPI, torch.distributed, threads in the
// tests) through SequenceGroup.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_SEQUENCEPARALLEL_H
#define LINREC_RUNTIME_SEQUENCEPARALLEL_H

#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Target.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace linrec {

class KernelCompiler;
struct KernelOptions;

/// The collectives of a sequence-parallel run. Every rank calls them in the same order.
class SequenceGroup {
public:
  virtual ~SequenceGroup();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Every rank's `local` block (the same size on every rank) in rank order, on every rank.
  virtual llvm::Error allGather(llvm::ArrayRef<char> local, std::vector<char> &all) = 0;
  /// Every rank's `local` block (sizes may differ) in rank order, on rank 0; other ranks get
  /// nothing.
  virtual llvm::Error gatherToRoot(llvm::ArrayRef<char> local,
                                   std::vector<std::vector<char>> &all) = 0;
};

/// A SequenceGroup whose collectives are functions: the bindings of other languages'
/// engines (linrec.distributed's torch.distributed) build one from theirs.
class FunctionGroup : public SequenceGroup {
public:
  using AllGather = std::function<llvm::Error(llvm::ArrayRef<char>, std::vector<char> &)>;
  using GatherToRoot =
      std::function<llvm::Error(llvm::ArrayRef<char>, std::vector<std::vector<char>> &)>;
  FunctionGroup(int rank, int size, AllGather allGather, GatherToRoot gatherToRoot);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  llvm::Error allGather(llvm::ArrayRef<char> local, std::vector<char> &all) override;
  llvm::Error gatherToRoot(llvm::ArrayRef<char> local,
                           std::vector<std::vector<char>> &all) override;

private:
  int rank_, size_;
  AllGather allGather_;
  GatherToRoot gatherToRoot_;
};

/// The part of `tokens` tokens that rank `rank` of `ranks` holds when they are split evenly:
/// tokens / ranks each, one more on the first tokens % ranks ranks (a rank may get none).
struct TokenPart {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
TokenPart tokenPart(int64_t tokens, int rank, int ranks);

/// Where a sequence-parallel forward spent its time on one rank (seconds), and what it sent.
struct SequenceParallelStats {
  double compile = 0;       // deriving and compiling the summary and resume functions
  double summary = 0;       // the part's summary (local compute)
  double communication = 0; // the all-gather of the summaries
  double combine = 0;       // the prefix combine into the part's starting states
  double resume = 0;        // the part's forward from them (local compute)
  double gather = 0;        // collecting the outputs on rank 0
  /// Bytes this rank contributed to the summary exchange (part sizes and summaries).
  int64_t summaryBytes = 0;
  /// Bytes this rank contributed to the halo exchange (its last tokens of every per-token
  /// input, for layers with windows, delays or block-start reads; 0 for the others).
  int64_t haloBytes = 0;
};

/// Where a sequence-parallel forward leaves its outputs.
enum class OutputPlacement {
  /// Gathered on rank 0, whole, as a single-process run gives them (the others get none).
  Rank0,
  /// Every rank keeps its part's: the per-token outputs of its tokens, and the per-sequence
  /// outputs (states) of the pieces of sequences it holds, as they are after its part (a
  /// sequence's final state on the rank where it ends). The ranks keep their shards, as
  /// training frameworks do.
  Local,
};

/// runModel over tokens split across `group`'s ranks. Every rank passes its part of the
/// per-token inputs (axis T of the model's shapes: `[B, T_r, ...]`, varlen `[1, T_r, ...]`;
/// the parts concatenate to the whole in rank order, any sizes, none allowed) and the whole of
/// every other input (weights, initial states `[B or N, ...]`, the global `cu_seqlens`:
/// sequences may cross parts). Rank 0 gets the outputs a single-process runModel gives on the
/// whole inputs (`o` gathered, final states from the ranks where their sequences end); the
/// other ranks an empty list (OutputPlacement::Local: each rank its part's outputs). With one rank it is runModel. Models whose tokens reach across
/// parts other than through their states (windows, delays) are an error naming the op.
llvm::Expected<std::vector<std::pair<std::string, Array>>>
runModelSequenceParallel(mlir::MLIRContext &context, llvm::StringRef model,
                         const llvm::json::Object &params,
                         const std::map<std::string, Array> &inputs, SequenceGroup &group,
                         Target target, KernelCompiler &compiler, const KernelOptions &options,
                         SequenceParallelStats *stats = nullptr,
                         OutputPlacement placement = OutputPlacement::Rank0);

/// Rank `rank`'s inputs of `ranks` from the whole `inputs` of `model`: the per-token inputs
/// cut to tokenPart's part, the others whole (what runModelSequenceParallel takes).
std::map<std::string, Array> partOfInputs(llvm::StringRef model,
                                          const std::map<std::string, Array> &inputs, int rank,
                                          int ranks);

/// The axis of tokens (T) of input or output `name` of `model`, or -1 when it has none.
int tokenAxis(llvm::StringRef model, llvm::StringRef name, bool output = false);

} // namespace linrec

#endif // LINREC_RUNTIME_SEQUENCEPARALLEL_H
