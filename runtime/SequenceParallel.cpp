//===- SequenceParallel.cpp - a model's forward over ranks that split the tokens ----===//
//
// One rank's steps: learn every rank's part size (all-gather), cut the global sequences into
// the pieces this part holds, summarize them (@layer_summary), exchange the summaries of the
// pieces that continue into the next part (all-gather of fixed-size blocks), fold those of
// the parts before into each continuing piece's carry, run the part from it
// (@layer_resume), and gather the outputs on rank 0.
//
//===----------------------------------------------------------------------===//

#include "linrec/Runtime/SequenceParallel.h"
#include "linrec/Analysis/TokenReach.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/InputChecks.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringExtras.h"

#include <chrono>
#include <cmath>
#include <cstring>

using namespace mlir;

namespace linrec {

SequenceGroup::~SequenceGroup() = default;

FunctionGroup::FunctionGroup(int rank, int size, AllGather allGather, GatherToRoot gatherToRoot)
    : rank_(rank), size_(size), allGather_(std::move(allGather)),
      gatherToRoot_(std::move(gatherToRoot)) {}

llvm::Error FunctionGroup::allGather(llvm::ArrayRef<char> local, std::vector<char> &all) {
  return allGather_(local, all);
}

llvm::Error FunctionGroup::gatherToRoot(llvm::ArrayRef<char> local,
                                        std::vector<std::vector<char>> &all) {
  return gatherToRoot_(local, all);
}

TokenPart tokenPart(int64_t tokens, int rank, int ranks) {
  int64_t base = tokens / ranks, extra = tokens % ranks;
  TokenPart part;
  part.begin = rank * base + std::min<int64_t>(rank, extra);
  part.end = part.begin + base + (rank < extra ? 1 : 0);
  return part;
}

/// The axes of a model tensor's shape description ("[B, T, H, dk]").
static std::vector<std::string> shapeAxes(llvm::StringRef shape) {
  std::vector<std::string> axes;
  llvm::SmallVector<llvm::StringRef> parts;
  shape.trim().trim("[]").split(parts, ',');
  for (llvm::StringRef part : parts)
    axes.push_back(part.trim().str());
  return axes;
}

static const TensorDescription *describe(llvm::StringRef model, llvm::StringRef name,
                                         bool output) {
  const ModelInfo *info = modelInfo(model);
  if (!info)
    return nullptr;
  for (const TensorDescription &t : output ? info->outputs : info->inputs)
    if (t.name == name)
      return &t;
  return nullptr;
}

static int axisNamed(llvm::StringRef model, llvm::StringRef name, bool output,
                     llvm::ArrayRef<llvm::StringRef> axisNames) {
  const TensorDescription *t = describe(model, name, output);
  if (!t)
    return -1;
  std::vector<std::string> axes = shapeAxes(t->shape);
  for (auto [i, axis] : llvm::enumerate(axes))
    if (llvm::is_contained(axisNames, axis))
      return static_cast<int>(i);
  return -1;
}

int tokenAxis(llvm::StringRef model, llvm::StringRef name, bool output) {
  return axisNamed(model, name, output, {"T"});
}

/// The axis of sequences (B, or N in varlen) of a tensor without tokens: initial and final
/// states; -1 for the others.
static int sequenceAxis(llvm::StringRef model, llvm::StringRef name, bool output) {
  if (tokenAxis(model, name, output) >= 0 || name == "cu_seqlens")
    return -1;
  return axisNamed(model, name, output, {"B", "N"});
}

//===----------------------------------------------------------------------===//
// Arrays cut along an axis
//===----------------------------------------------------------------------===//

/// Sizes before, along and after `axis`.
static std::array<int64_t, 3> around(const std::vector<int64_t> &shape, int axis) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i)
    outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i)
    inner *= shape[i];
  return {outer, shape[axis], inner};
}

/// Rows `rows` of `a` along `axis`; a row index of -1 gives zeros.
static Array takeRows(const Array &a, int axis, llvm::ArrayRef<int64_t> rows) {
  auto [outer, n, inner] = around(a.shape, axis);
  std::vector<int64_t> shape = a.shape;
  shape[axis] = static_cast<int64_t>(rows.size());
  Array out(a.dtype, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (auto [r, row] : llvm::enumerate(rows))
      if (row >= 0)
        std::copy_n(a.data.begin() + (o * n + row) * inner, inner,
                    out.data.begin() + (o * rows.size() + r) * inner);
  return out;
}

/// `parts` concatenated along `axis` (all of the same shape elsewhere).
static Array concatenate(llvm::ArrayRef<const Array *> parts, int axis) {
  std::vector<int64_t> shape = parts.front()->shape;
  shape[axis] = 0;
  for (const Array *p : parts)
    shape[axis] += p->shape[axis];
  Array out(parts.front()->dtype, shape);
  auto [outer, n, inner] = around(shape, axis);
  int64_t offset = 0;
  for (const Array *p : parts) {
    int64_t rows = p->shape[axis];
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(p->data.begin() + o * rows * inner, rows * inner,
                  out.data.begin() + (o * n + offset) * inner);
    offset += rows;
  }
  return out;
}

std::map<std::string, Array> partOfInputs(llvm::StringRef model,
                                          const std::map<std::string, Array> &inputs, int rank,
                                          int ranks) {
  std::map<std::string, Array> part;
  for (const auto &[name, array] : inputs) {
    int axis = tokenAxis(model, name);
    if (axis < 0 || axis >= array.rank()) {
      part[name] = array;
      continue;
    }
    TokenPart tokens = tokenPart(array.shape[axis], rank, ranks);
    std::vector<int64_t> rows;
    for (int64_t t = tokens.begin; t < tokens.end; ++t)
      rows.push_back(t);
    part[name] = takeRows(array, axis, rows);
  }
  return part;
}

//===----------------------------------------------------------------------===//
// Byte blocks
//===----------------------------------------------------------------------===//

namespace {
struct Writer {
  std::vector<char> bytes;
  template <typename T> void put(T value) {
    const char *p = reinterpret_cast<const char *>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void putArray(const Array &a) {
    put<int64_t>(static_cast<int64_t>(a.dtype));
    put<int64_t>(a.rank());
    for (int64_t d : a.shape)
      put<int64_t>(d);
    for (double x : a.data)
      put<double>(x);
  }
};

struct Reader {
  llvm::ArrayRef<char> bytes;
  size_t at = 0;
  size_t stride = 0; // of an all-gather's blocks
  template <typename T> T get() {
    T value{};
    if (at + sizeof(T) <= bytes.size())
      std::memcpy(&value, bytes.data() + at, sizeof(T));
    at += sizeof(T);
    return value;
  }
  Array getArray() {
    Array a;
    a.dtype = static_cast<DType>(get<int64_t>());
    a.shape.resize(get<int64_t>());
    for (int64_t &d : a.shape)
      d = get<int64_t>();
    a.data.resize(a.numElements());
    for (double &x : a.data)
      x = get<double>();
    return a;
  }
};

/// A piece of a global sequence that this part holds: tokens [begin, end) of the part.
struct Piece {
  int64_t sequence = 0;
  int64_t begin = 0, end = 0;
  bool startsSequence = false; // its first token is the sequence's (or the sequence is empty)
  bool endsSequence = false;   // its last token is the sequence's
};

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
} // namespace

/// Global offsets of `cu_seqlens`.
static std::vector<int64_t> offsetsOf(const Array &cu) {
  std::vector<int64_t> offsets;
  for (double x : cu.data)
    offsets.push_back(static_cast<int64_t>(x));
  return offsets;
}

/// The pieces of part `p` (of `parts`): the sequences of `offsets` it overlaps in order,
/// and the empty sequences at its positions (at the end of the tokens: the last part with
/// tokens). Without varlen (`offsets` empty) every one of `batch` rows is a sequence, whose
/// recurrences start at `recurrenceBegin[p]` (a block start at or before the part's first
/// token).
static std::vector<Piece> piecesOf(const std::vector<TokenPart> &parts, size_t p,
                                   const std::vector<int64_t> &offsets, int64_t batch,
                                   const std::vector<int64_t> &recurrenceBegin) {
  const TokenPart &part = parts[p];
  std::vector<Piece> pieces;
  if (part.size() == 0)
    return pieces;
  int64_t total = parts.back().end;
  bool lastWithTokens = part.end == total;
  if (offsets.empty()) {
    for (int64_t b = 0; b < batch; ++b)
      pieces.push_back({b, 0, part.size(), recurrenceBegin[p] == 0, lastWithTokens});
    return pieces;
  }
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    int64_t first = offsets[s], last = offsets[s + 1];
    bool owned = first == last ? (part.begin <= first && (first < part.end ||
                                                          (first == total && lastWithTokens)))
                               : first < part.end && last > part.begin;
    if (!owned)
      continue;
    int64_t begin = std::max(first, part.begin), end = std::min(last, part.end);
    pieces.push_back({static_cast<int64_t>(s), begin - part.begin, std::max(begin, end) - part.begin,
                      first >= part.begin, last <= part.end});
  }
  return pieces;
}

//===----------------------------------------------------------------------===//
// Summaries and their combine
//===----------------------------------------------------------------------===//

namespace {
/// The summary results of one state, by kind ("offset", "transition", "scalar_log_decay",
/// "key_log_decay", "value_log_decay"): indices into the summary's results.
struct StateSummary {
  std::string prefix; // "r0.s1"
  std::map<std::string, size_t> parts;
};

/// One slot's summary of one state: rows (one sequence, every head) of its parts.
using SlotSummary = std::map<std::string, std::vector<double>>;
} // namespace

/// X ← L(X) + c for one sequence's rows (every head) of a state of `heads` × dk × dv
/// (dv = 1 for a normalizer).
static void applySummary(std::vector<double> &X, const SlotSummary &s, int64_t heads,
                         int64_t dk, int64_t dv) {
  auto part = [&](const char *name) -> const std::vector<double> * {
    auto it = s.find(name);
    return it == s.end() ? nullptr : &it->second;
  };
  if (const std::vector<double> *P = part("transition")) {
    std::vector<double> next(X.size(), 0.0);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t l = 0; l < dk; ++l) {
          double p = (*P)[(h * dk + i) * dk + l];
          if (p == 0)
            continue;
          for (int64_t j = 0; j < dv; ++j)
            next[(h * dk + i) * dv + j] += p * X[(h * dk + l) * dv + j];
        }
    X = std::move(next);
  } else {
    const std::vector<double> *g = part("scalar_log_decay"), *a = part("key_log_decay"),
                              *w = part("value_log_decay");
    if (g || a || w)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < dk; ++i)
          for (int64_t j = 0; j < dv; ++j) {
            double logDecay = (g ? (*g)[h] : 0.0) + (a ? (*a)[h * dk + i] : 0.0) +
                              (w ? (*w)[h * dv + j] : 0.0);
            // A −∞ sum is a reset: its factor is 0 whatever X holds.
            double &x = X[(h * dk + i) * dv + j];
            x = logDecay == -INFINITY ? 0.0 : x * std::exp(logDecay);
          }
  }
  const std::vector<double> &c = s.at("offset");
  for (size_t e = 0; e < X.size(); ++e)
    X[e] += c[e];
}

//===----------------------------------------------------------------------===//
// The distributed forward
//===----------------------------------------------------------------------===//

/// The summary and resume functions of `module`'s @layer.
static llvm::Error deriveSequenceParallel(ModuleOp module, int64_t recurrenceBegin,
                                          int64_t summaryEnd) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  LinrecBuildSequenceParallelOptions options;
  options.function = "layer";
  options.recurrenceBegin = recurrenceBegin;
  options.summaryEnd = summaryEnd;
  pm.addPass(createLinrecBuildSequenceParallel(options));
  pm.addPass(createCanonicalizerPass());
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    os << d << "\n";
    return success();
  });
  if (failed(pm.run(module)))
    return llvm::createStringError("no sequence-parallel form: " +
                                   llvm::StringRef(diagnostics).trim());
  return llvm::Error::success();
}

static std::string resultName(func::FuncOp func, unsigned i) {
  auto name = func.getResultAttrOfType<StringAttr>(i, "linrec.name");
  return name ? name.str() : "";
}

static std::vector<int64_t> shapeOf(Type type) {
  auto shape = cast<RankedTensorType>(type).getShape();
  return {shape.begin(), shape.end()};
}

static llvm::Error spError(llvm::StringRef model, const llvm::Twine &message) {
  return llvm::createStringError(model + ": sequence-parallel: " + message);
}

/// The reach of `model`'s layer (TokenReach), built for the shapes of the whole tokens.
static llvm::Expected<TokenReach> layerReach(MLIRContext &context, llvm::StringRef model,
                                             const llvm::json::Object &params,
                                             const std::map<std::string, Array> &inputs,
                                             int64_t totalTokens) {
  std::map<std::string, TensorInfo> infos;
  for (const auto &[name, array] : inputs) {
    TensorInfo info{array.dtype, array.shape};
    if (int axis = tokenAxis(model, name); axis >= 0 && axis < info.rank())
      info.shape[axis] = totalTokens;
    infos[name] = info;
  }
  llvm::Expected<PreparedModel> prepared = prepareModel(context, model, params, infos, Target::CPU);
  if (!prepared)
    return prepared.takeError();
  PassManager pm(&context, ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    os << d << "\n";
    return success();
  });
  if (failed(pm.run(*prepared->module)))
    return llvm::createStringError(llvm::StringRef(diagnostics).trim());
  FailureOr<TokenReach> reach =
      TokenReach::of(prepared->module->lookupSymbol<func::FuncOp>("layer"));
  if (failed(reach))
    return llvm::createStringError("no sequence-parallel form: " +
                                   llvm::StringRef(diagnostics).trim());
  return *reach;
}

/// Exchanges the halos: every rank's last `haloRows` tokens (fewer when its part is shorter)
/// of every per-token input go to every rank (one all-gather: the ranks after it take what
/// they need); `extended` gets this rank's per-token inputs from token `firstNeeded` on.
static llvm::Error exchangeHalos(llvm::StringRef model,
                                 const std::map<std::string, Array> &inputs,
                                 const std::vector<TokenPart> &parts, int rank,
                                 int64_t haloRows, int64_t firstNeeded, SequenceGroup &group,
                                 std::map<std::string, Array> &extended,
                                 SequenceParallelStats &st) {
  auto tailRows = [&](int r) { return std::min(parts[r].size(), haloRows); };
  // Per-token inputs in name order, and the values of one token row of each.
  std::vector<std::pair<std::string, int>> perToken;
  int64_t rowValues = 0;
  for (const auto &[name, array] : inputs)
    if (int axis = tokenAxis(model, name); axis >= 0) {
      perToken.push_back({name, axis});
      auto [outer, n, inner] = around(array.shape, axis);
      rowValues += outer * inner;
    }
  Writer w;
  int64_t own = tailRows(rank);
  for (auto [name, axis] : perToken) {
    const Array &a = inputs.at(name);
    std::vector<int64_t> rows;
    for (int64_t t = a.shape[axis] - own; t < a.shape[axis]; ++t)
      rows.push_back(t);
    for (double x : takeRows(a, axis, rows).data)
      w.put<double>(x);
  }
  w.bytes.resize(haloRows * rowValues * sizeof(double), 0);
  std::vector<char> all;
  if (llvm::Error e = group.allGather(w.bytes, all))
    return e;
  st.haloBytes += static_cast<int64_t>(w.bytes.size());
  size_t stride = w.bytes.size();
  const TokenPart &part = parts[rank];
  for (auto [i, entry] : llvm::enumerate(perToken)) {
    auto [name, axis] = entry;
    const Array &a = inputs.at(name);
    std::vector<Array> pieces;
    for (int r = 0; r < rank; ++r) {
      int64_t rows = tailRows(r), tailBegin = parts[r].end - rows;
      int64_t lo = std::max(tailBegin, firstNeeded), hi = std::min(parts[r].end, part.begin);
      if (rows == 0 || lo >= hi)
        continue;
      // Rank r's tail of this input: the inputs before it in name order come first.
      Reader rd{llvm::ArrayRef<char>(all).slice(r * stride, stride)};
      for (size_t j = 0; j < i; ++j) {
        auto [outer, n, inner] = around(inputs.at(perToken[j].first).shape, perToken[j].second);
        rd.at += outer * rows * inner * sizeof(double);
      }
      std::vector<int64_t> shape = a.shape;
      shape[axis] = rows;
      Array tail(a.dtype, shape);
      for (double &x : tail.data)
        x = rd.get<double>();
      std::vector<int64_t> wanted;
      for (int64_t t = lo; t < hi; ++t)
        wanted.push_back(t - tailBegin);
      pieces.push_back(takeRows(tail, axis, wanted));
    }
    std::vector<const Array *> ordered;
    for (const Array &piece : pieces)
      ordered.push_back(&piece);
    ordered.push_back(&a);
    extended[name] = concatenate(ordered, axis);
  }
  return llvm::Error::success();
}

/// Runs @funcName on the layer's arguments followed by `more` (appended to `layerArgs` and
/// taken off again: the arguments are the part's whole inputs, not copied), its inputs
/// already checked.
static llvm::Expected<std::vector<Array>>
runWithMoreArguments(ModuleOp module, llvm::StringRef funcName, std::vector<Array> &layerArgs,
                     std::vector<Array> more, Target target, KernelCompiler &compiler,
                     const KernelOptions &options) {
  size_t numLayerArgs = layerArgs.size();
  for (Array &a : more)
    layerArgs.push_back(std::move(a));
  KernelOptions unchecked = options;
  unchecked.checkInputValues = false;
  llvm::Expected<std::vector<Array>> results =
      runFunction(module, funcName, layerArgs, target, compiler, unchecked);
  layerArgs.resize(numLayerArgs);
  return results;
}

/// Derives the summary and resume of this part's pieces (`partInputs`, with the halo
/// before `recurrenceBegin`) and runs the summary of tokens [recurrenceBegin, summaryEnd):
/// the layer `module` (with @layer_summary and @layer_resume), its outputs' names and
/// arguments, the summary's results and which state and part each is.
static llvm::Error summarizePart(MLIRContext &context, llvm::StringRef model,
                                 const llvm::json::Object &params,
                                 std::map<std::string, Array> &partInputs, Target target,
                                 KernelCompiler &compiler, const KernelOptions &options,
                                 SequenceParallelStats &st, OwningOpRef<ModuleOp> &module,
                                 std::vector<std::string> &outputNames,
                                 std::vector<Array> &layerArgs, std::vector<Array> &summary,
                                 std::vector<StateSummary> &states,
                                 std::vector<int64_t> &rowValues, int64_t recurrenceBegin,
                                 int64_t summaryEnd) {
  auto start = Clock::now();
  std::map<std::string, TensorInfo> infos;
  for (const auto &[name, array] : partInputs)
    infos[name] = TensorInfo{array.dtype, array.shape};
  llvm::Expected<PreparedModel> prepared = prepareModel(context, model, params, infos, target);
  if (!prepared)
    return prepared.takeError();
  module = std::move(prepared->module);
  outputNames = prepared->outputNames;
  // (An empty summary is never run: its function is derived for the whole part, which has
  // the same results, so that this rank reads the others' summaries.)
  if (llvm::Error e = deriveSequenceParallel(*module, recurrenceBegin,
                                             summaryEnd > recurrenceBegin ? summaryEnd : -1))
    return e;
  for (const std::string &name : prepared->inputNames)
    layerArgs.push_back(std::move(partInputs.at(name))); // (the part's inputs: not copied)
  st.compile += secondsSince(start);
  auto summaryFunc = module->lookupSymbol<func::FuncOp>("layer_summary");
  // Results come per recurrence: offsets of its states, then their transitions.
  for (unsigned i = 0; i < summaryFunc.getNumResults(); ++i) {
    std::string name = resultName(summaryFunc, i);
    std::pair<llvm::StringRef, llvm::StringRef> split = llvm::StringRef(name).rsplit('.');
    llvm::StringRef prefix = split.first, kind = split.second;
    auto it = llvm::find_if(states, [&](const StateSummary &s) { return s.prefix == prefix; });
    if (it == states.end())
      it = states.insert(states.end(), StateSummary{prefix.str(), {}});
    it->parts[kind.str()] = i;
    std::vector<int64_t> shape = shapeOf(summaryFunc.getResultTypes()[i]);
    rowValues.push_back(Array::numElementsOf(shape) / std::max<int64_t>(1, shape[0]));
  }
  if (summaryEnd <= recurrenceBegin)
    return llvm::Error::success(); // an empty summary: the next part starts where this one does

  start = Clock::now();
  std::vector<Array> identities;
  for (unsigned i = layerArgs.size(); i < summaryFunc.getNumArguments(); ++i) {
    // r<i>.s<j>.identity: [N, H, dk, dk].
    Array identity(DType::F32, shapeOf(summaryFunc.getArgumentTypes()[i]));
    int64_t dk = identity.shape.back(), blocks = identity.numElements() / (dk * dk);
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t d = 0; d < dk; ++d)
        identity.data[(b * dk + d) * dk + d] = 1.0;
    identities.push_back(std::move(identity));
  }
  llvm::Expected<std::vector<Array>> results = runWithMoreArguments(
      *module, "layer_summary", layerArgs, std::move(identities), target, compiler, options);
  if (!results)
    return results.takeError();
  summary = std::move(*results);
  st.summary += secondsSince(start);
  return llvm::Error::success();
}

llvm::Expected<std::vector<std::pair<std::string, Array>>>
runModelSequenceParallel(MLIRContext &context, llvm::StringRef model,
                         const llvm::json::Object &params,
                         const std::map<std::string, Array> &inputs, SequenceGroup &group,
                         Target target, KernelCompiler &compiler, const KernelOptions &options,
                         SequenceParallelStats *stats, OutputPlacement placement) {
  SequenceParallelStats local;
  SequenceParallelStats &st = stats ? *stats : local;
  int rank = group.rank(), ranks = group.size();
  if (!modelInfo(model))
    return spError(model, "unknown model");
  if (ranks == 1)
    return runModel(context, model, params, inputs, target, compiler, options);
  if (inputs.count("state_indices"))
    return spError(model, "state_indices (state pools) serve decoding, not a split sequence");

  // A failure on one rank must not leave the others waiting in a collective: every
  // exchange carries each rank's status, and all ranks fail together.
  std::string failure;
  auto failed = [&](const llvm::Twine &message) {
    if (failure.empty())
      failure = message.str();
  };
  auto agree = [&](Reader &r) -> llvm::Error {
    std::vector<int> failedRanks;
    for (int i = 0; i < ranks; ++i) {
      Reader slot{r.bytes.slice(r.at + i * r.stride, r.stride)};
      if (slot.get<int64_t>() != 0)
        failedRanks.push_back(i);
    }
    if (!failure.empty())
      return spError(model, "rank " + llvm::Twine(rank) + ": " + failure);
    if (!failedRanks.empty())
      return spError(model, "rank " + llvm::Twine(failedRanks.front()) +
                                " failed (its message is on its error output)");
    return llvm::Error::success();
  };

  // Every rank's `value`, once all ranks agree that none has failed (one all-gather).
  auto agreeOn = [&](int64_t value) -> llvm::Expected<std::vector<int64_t>> {
    Writer w;
    w.put<int64_t>(failure.empty() ? 0 : 1);
    w.put<int64_t>(value);
    std::vector<char> all;
    if (llvm::Error e = group.allGather(w.bytes, all))
      return std::move(e);
    st.summaryBytes += static_cast<int64_t>(w.bytes.size());
    Reader r{all, 0, w.bytes.size()};
    if (llvm::Error e = agree(r))
      return std::move(e);
    std::vector<int64_t> values(ranks);
    for (int64_t &v : values) {
      r.get<int64_t>();
      v = r.get<int64_t>();
    }
    return values;
  };

  // This part's tokens, the same in every per-token input.
  int64_t partTokens = -1;
  for (const auto &[name, array] : inputs) {
    int axis = tokenAxis(model, name);
    if (axis < 0)
      continue;
    if (axis >= array.rank()) {
      failed("input '" + name + "' has rank " + llvm::Twine(array.rank()));
      continue;
    }
    if (partTokens >= 0 && array.shape[axis] != partTokens)
      failed("input '" + name + "' holds " + llvm::Twine(array.shape[axis]) +
             " tokens of this part, another input " + llvm::Twine(partTokens));
    partTokens = array.shape[axis];
  }
  if (partTokens < 0)
    failed("no per-token input");

  // 1. Every part's size (and every rank's status).
  auto start = Clock::now();
  std::vector<TokenPart> parts(ranks);
  {
    llvm::Expected<std::vector<int64_t>> sizes = agreeOn(std::max<int64_t>(partTokens, 0));
    if (!sizes)
      return sizes.takeError();
    int64_t begin = 0;
    for (auto [part, size] : llvm::zip(parts, *sizes)) {
      part.begin = begin;
      part.end = begin += size;
    }
  }
  int64_t totalTokens = parts.back().end;
  st.communication += secondsSince(start);
  // No tokens at all: nothing to split, rank 0 runs the whole (its inputs are the whole).
  if (totalTokens == 0) {
    if (rank != 0 && placement == OutputPlacement::Rank0)
      return std::vector<std::pair<std::string, Array>>{};
    return runModel(context, model, params, inputs, target, compiler, options);
  }

  std::vector<int64_t> offsets;
  int64_t batch = 0;
  if (auto cu = inputs.find("cu_seqlens"); cu != inputs.end()) {
    offsets = offsetsOf(cu->second);
    if (offsets.empty() || offsets.front() != 0 || offsets.back() != totalTokens ||
        !llvm::is_sorted(offsets))
      return spError(model, "cu_seqlens must rise from 0 to the " + llvm::Twine(totalTokens) +
                                " tokens of all parts together");
  } else {
    const Array &q = inputs.count("q") ? inputs.at("q") : inputs.begin()->second;
    batch = q.rank() ? q.shape[0] : 0;
  }
  // What a part reads before its first token other than through the states (windows,
  // delays, block-start reads): the same on every rank.
  llvm::Expected<TokenReach> reach = layerReach(context, model, params, inputs, totalTokens);
  if (!reach)
    return spError(model, llvm::toString(reach.takeError()));
  bool varlen = !offsets.empty();
  if (varlen && (!reach->windows.empty() || reach->delay || reach->stateBlock > 1))
    return spError(model, "windows, delays and block-start reads with cu_seqlens have no "
                          "sequence-parallel form yet");
  // Part r's recurrences start at recurrenceBegin[r] and its summary ends where the next
  // part's recurrences start; its layer reads from firstNeeded[r] on (its halo before).
  std::vector<int64_t> recurrenceBegin(ranks + 1), firstNeeded(ranks);
  for (int r = 0; r < ranks; ++r) {
    recurrenceBegin[r] = reach->recurrenceStart(parts[r].begin);
    firstNeeded[r] = parts[r].size() ? reach->firstNeeded(parts[r].begin) : parts[r].begin;
  }
  recurrenceBegin[ranks] = reach->recurrenceStart(totalTokens);
  const TokenPart &own = parts[rank];
  int64_t halo = own.begin - firstNeeded[rank];
  std::vector<Piece> pieces = piecesOf(parts, rank, offsets, batch, recurrenceBegin);

  // The halos: every rank's last tokens of every per-token input, to the ranks after it.
  std::map<std::string, Array> extended;
  int64_t haloRows = 0;
  for (int r = 0; r < ranks; ++r)
    haloRows = std::max(haloRows, parts[r].begin - firstNeeded[r]);
  if (haloRows > 0) {
    start = Clock::now();
    if (llvm::Error e = exchangeHalos(model, inputs, parts, rank, haloRows, firstNeeded[rank],
                                      group, extended, st))
      return std::move(e);
    st.communication += secondsSince(start);
  }

  // 2. The part's own inputs: its cu_seqlens, and initial states only for the pieces that
  // start their sequences (a continuing piece starts from its carry).
  std::map<std::string, Array> partInputs;
  for (const auto &[name, given] : inputs) {
    auto ext = extended.find(name);
    const Array &array = ext != extended.end() ? ext->second : given;
    if (options.checkInputValues)
      if (std::optional<std::string> why = checkInputValues(model, name, array))
        failed("input " + *why);
    int axis = sequenceAxis(model, name, false);
    if (name == "cu_seqlens") {
      Array cu(array.dtype, {static_cast<int64_t>(pieces.size()) + 1});
      for (auto [i, piece] : llvm::enumerate(pieces))
        cu.data[i + 1] = static_cast<double>(piece.end);
      partInputs[name] = std::move(cu);
    } else if (axis >= 0) {
      std::vector<int64_t> rows;
      for (const Piece &piece : pieces)
        rows.push_back(piece.startsSequence ? piece.sequence : -1);
      if (axis >= array.rank()) {
        failed("input '" + name + "' has rank " + llvm::Twine(array.rank()));
        continue;
      }
      partInputs[name] = takeRows(array, axis, rows);
    } else {
      partInputs[name] = array;
    }
  }

  // 3. The part's summary.
  std::vector<StateSummary> states;
  std::vector<Array> summary;
  OwningOpRef<ModuleOp> module;
  std::vector<std::string> outputNames;
  std::vector<Array> layerArgs;
  std::vector<int64_t> rowValues; // of one sequence in each summary result
  if (partTokens > 0 && failure.empty())
    if (llvm::Error e = summarizePart(
            context, model, params, partInputs, target, compiler, options, st, module,
            outputNames, layerArgs, summary, states, rowValues,
            recurrenceBegin[rank] - firstNeeded[rank],
            reach->recurrenceStart(own.end) - firstNeeded[rank]))
      failed(llvm::toString(std::move(e)));

  // 4. The summaries of the pieces that continue into the next part, exchanged. A slot: the
  // sequence, whether the piece starts it, then each summary result's row.
  start = Clock::now();
  std::vector<size_t> slots; // pieces whose summary is sent
  if (!pieces.empty()) {
    if (offsets.empty())
      for (size_t i = 0; i < pieces.size(); ++i)
        slots.push_back(i);
    else
      slots.push_back(pieces.size() - 1);
  }
  int64_t slotCount = offsets.empty() ? batch : 1;
  int64_t slotValues = 0;
  for (const Array &a : summary)
    slotValues += a.numElements() / std::max<int64_t>(1, a.shape[0]);
  llvm::Expected<std::vector<int64_t>> slotValuesOrError = agreeOn(slotValues);
  if (!slotValuesOrError)
    return slotValuesOrError.takeError();
  std::vector<int64_t> slotValuesOf = std::move(*slotValuesOrError);
  int64_t maxSlotValues = *llvm::max_element(slotValuesOf);
  // Summaries travel in the precision they were computed in: f32 from kernels, f64 from the
  // reference.
  bool wide = target == Target::Reference;
  size_t slotBytes = 2 * sizeof(int64_t) + maxSlotValues * (wide ? sizeof(double) : sizeof(float));
  std::vector<char> block(slotCount * slotBytes, 0);
  for (auto [k, p] : llvm::enumerate(slots)) {
    Writer w;
    w.put<int64_t>(pieces[p].sequence);
    w.put<int64_t>(pieces[p].startsSequence ? 1 : 0);
    for (const Array &a : summary) {
      int64_t row = a.numElements() / a.shape[0];
      for (int64_t e = 0; e < row; ++e)
        wide ? w.put<double>(a.data[p * row + e])
             : w.put<float>(static_cast<float>(a.data[p * row + e]));
    }
    std::copy(w.bytes.begin(), w.bytes.end(), block.begin() + k * slotBytes);
  }
  std::vector<char> gathered;
  if (llvm::Error e = group.allGather(block, gathered))
    return std::move(e);
  st.summaryBytes += static_cast<int64_t>(block.size());
  st.communication += secondsSince(start);

  // 5. The carry of every piece that continues a sequence from the parts before.
  start = Clock::now();
  std::vector<Array> carries;
  if (partTokens > 0 && module) {
    auto resumeFunc = module->lookupSymbol<func::FuncOp>("layer_resume");
    // Per state, the sizes of one sequence's rows: heads × dk × dv.
    for (unsigned i = layerArgs.size(); i < resumeFunc.getNumArguments(); ++i)
      carries.emplace_back(DType::F32, shapeOf(resumeFunc.getArgumentTypes()[i]));
    if (carries.size() != states.size())
      failed("the summary and resume functions disagree on the states (" +
             llvm::Twine(carries.size()) + " carries, " + llvm::Twine(states.size()) +
             " states)");
    // Which state and part each summary result is.
    std::vector<std::pair<size_t, std::string>> resultOwner(rowValues.size());
    for (auto [j, state] : llvm::enumerate(states))
      for (const auto &[kind, index] : state.parts)
        resultOwner[index] = {j, kind};
    for (auto [p, piece] : llvm::enumerate(pieces)) {
      if (piece.startsSequence || !failure.empty())
        continue;
      // Per state, the carry of this sequence's rows (heads × dk × dv; dv = 1: normalizers).
      std::vector<std::vector<double>> X;
      for (const Array &carry : carries)
        X.emplace_back(carry.numElements() / carry.shape[0], 0.0);
      for (int r = 0; r < rank; ++r) {
        if (slotValuesOf[r] == 0)
          continue; // an empty summary: rank r's part moves no recurrence start
        // The slot of rank r that holds this sequence, read once into its states' parts.
        int64_t slot = offsets.empty() ? piece.sequence : 0;
        Reader rd{llvm::ArrayRef<char>(gathered).slice((r * slotCount + slot) * slotBytes,
                                                       slotBytes)};
        int64_t sequence = rd.get<int64_t>();
        bool starts = rd.get<int64_t>() != 0;
        if (sequence != piece.sequence)
          continue;
        std::vector<SlotSummary> byState(states.size());
        for (auto [index, owner] : llvm::enumerate(resultOwner)) {
          std::vector<double> values(rowValues[index]);
          for (double &v : values)
            v = wide ? rd.get<double>() : rd.get<float>();
          byState[owner.first][owner.second] = std::move(values);
        }
        for (auto [j, carry] : llvm::enumerate(carries)) {
          if (starts)
            std::fill(X[j].begin(), X[j].end(), 0.0);
          applySummary(X[j], byState[j], carry.shape[1], carry.shape[2],
                       carry.rank() > 3 ? carry.shape[3] : 1);
        }
      }
      for (auto [j, carry] : llvm::enumerate(carries))
        std::copy(X[j].begin(), X[j].end(), carry.data.begin() + p * X[j].size());
    }
  }
  st.combine += secondsSince(start);

  // 6. The part from its carries.
  std::vector<Array> outputs;
  if (partTokens > 0 && failure.empty()) {
    start = Clock::now();
    llvm::Expected<std::vector<Array>> results = runWithMoreArguments(
        *module, "layer_resume", layerArgs, std::move(carries), target, compiler, options);
    if (results)
      outputs = std::move(*results);
    else
      failed(llvm::toString(results.takeError()));
    // The halo's rows belong to the parts before.
    for (auto [name, output] : llvm::zip(outputNames, outputs)) {
      int axis = tokenAxis(model, name, /*output=*/true);
      if (axis < 0 || halo == 0)
        continue;
      std::vector<int64_t> rows;
      for (int64_t t = halo; t < output.shape[axis]; ++t)
        rows.push_back(t);
      output = takeRows(output, axis, rows);
    }
    st.resume += secondsSince(start);
  }

  // 7a. Outputs kept where they are: every rank agrees that all succeeded.
  if (placement == OutputPlacement::Local) {
    start = Clock::now();
    Writer w;
    w.put<int64_t>(failure.empty() ? 0 : 1);
    std::vector<char> all;
    if (llvm::Error e = group.allGather(w.bytes, all))
      return std::move(e);
    Reader r{all, 0, w.bytes.size()};
    if (llvm::Error e = agree(r))
      return std::move(e);
    st.gather += secondsSince(start);
    std::vector<std::pair<std::string, Array>> result;
    for (auto [name, output] : llvm::zip(outputNames, outputs))
      result.emplace_back(name, std::move(output));
    return result;
  }

  // 7. The outputs, on rank 0: per-token outputs concatenated, per-sequence ones from the
  // piece that ends the sequence.
  start = Clock::now();
  Writer w;
  w.put<int64_t>(failure.empty() ? 0 : 1);
  w.put<int64_t>(static_cast<int64_t>(outputs.size()));
  for (const std::string &name : outputNames)
  {
    w.put<int64_t>(static_cast<int64_t>(name.size()));
    w.bytes.insert(w.bytes.end(), name.begin(), name.end());
  }
  for (const Array &a : outputs)
    w.putArray(a);
  std::vector<std::vector<char>> all;
  if (llvm::Error e = group.gatherToRoot(w.bytes, all))
    return std::move(e);
  st.gather += secondsSince(start);
  if (!failure.empty())
    return spError(model, "rank " + llvm::Twine(rank) + ": " + failure);
  if (rank != 0)
    return std::vector<std::pair<std::string, Array>>{};
  for (int r = 0; r < ranks; ++r)
    if (Reader{all[r]}.get<int64_t>() != 0)
      return spError(model, "rank " + llvm::Twine(r) +
                                " failed (its message is on its error output)");

  std::vector<std::string> names;
  std::vector<std::vector<Array>> byRank(ranks);
  for (int r = 0; r < ranks; ++r) {
    Reader rd{all[r]};
    rd.get<int64_t>(); // the status
    int64_t count = rd.get<int64_t>();
    std::vector<std::string> rankNames;
    for (int64_t i = 0; i < count; ++i) {
      int64_t length = rd.get<int64_t>();
      rankNames.emplace_back(all[r].data() + rd.at, length);
      rd.at += length;
    }
    for (int64_t i = 0; i < count; ++i)
      byRank[r].push_back(rd.getArray());
    if (count && names.empty())
      names = rankNames;
  }
  if (names.empty())
    return spError(model, "no rank holds tokens");
  std::vector<std::pair<std::string, Array>> result;
  for (auto [i, name] : llvm::enumerate(names)) {
    int axis = tokenAxis(model, name, /*output=*/true);
    if (axis >= 0) {
      std::vector<const Array *> ranksParts;
      for (int r = 0; r < ranks; ++r)
        if (!byRank[r].empty())
          ranksParts.push_back(&byRank[r][i]);
      result.emplace_back(name, concatenate(ranksParts, axis));
      continue;
    }
    int seqAxis = sequenceAxis(model, name, /*output=*/true);
    if (seqAxis < 0)
      return spError(model, "output '" + name + "' has neither tokens nor sequences");
    int64_t sequences = offsets.empty() ? batch : static_cast<int64_t>(offsets.size()) - 1;
    std::vector<int64_t> shape = byRank[0].empty() ? std::vector<int64_t>{} : byRank[0][i].shape;
    for (int r = 0; r < ranks && shape.empty(); ++r)
      if (!byRank[r].empty())
        shape = byRank[r][i].shape;
    shape[seqAxis] = sequences;
    Array whole(byRank[0].empty() ? DType::F32 : byRank[0][i].dtype, shape);
    auto [outer, n, inner] = around(shape, seqAxis);
    for (int r = 0; r < ranks; ++r) {
      if (byRank[r].empty())
        continue;
      const Array &a = byRank[r][i];
      std::vector<Piece> rankPieces = piecesOf(parts, r, offsets, batch, recurrenceBegin);
      int64_t local = a.shape[seqAxis];
      for (auto [p, piece] : llvm::enumerate(rankPieces))
        if (piece.endsSequence)
          for (int64_t o = 0; o < outer; ++o)
            std::copy_n(a.data.begin() + (o * local + p) * inner, inner,
                        whole.data.begin() + (o * n + piece.sequence) * inner);
    }
    result.emplace_back(name, std::move(whole));
  }
  return result;
}

} // namespace linrec
