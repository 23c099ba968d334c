//===- Tuner.cpp - searching a layer's schedule space ---------------------===//

#include "linrec/Runtime/Tuner.h"
#include "RuntimeError.h"
#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/GpuResources.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Runtime/RandomInputs.h"
#include "linrec/Version.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <thread>
#include <unistd.h>

using namespace mlir;

namespace linrec {

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What the cost model knows of the host.
struct HostModel {
  int64_t vectorFloats = 8; // f32 lanes of a vector register
  int64_t vectorRegisters = 16;
  int64_t l2Bytes = 1 << 20;
  static HostModel detect() {
    HostModel host;
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    if (features.lookup("avx512f")) {
      host.vectorFloats = 16;
      host.vectorRegisters = 32;
    }
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0)
      host.l2Bytes = l2;
    return host;
  }
};

/// The layer's shape as the cost model sees it: its first recurrence's.
struct LayerShape {
  int64_t rows = 1, tokens = 1, heads = 1, keyDim = 1, valueDim = 1;
};

/// The kernel ops of @funcName as compileFunction compiles them: a copy prepared by its steps.
llvm::Expected<OwningOpRef<ModuleOp>> prepareKernels(ModuleOp module, llvm::StringRef funcName,
                                                     const KernelOptions &options) {
  OwningOpRef<ModuleOp> prepared(module.clone());
  if (llvm::Error e = carryTransposedStates(*prepared, funcName, options))
    return std::move(e);
  if (llvm::Error e = CompiledFunction::prepare(*prepared, options))
    return std::move(e);
  return prepared;
}

LayerShape shapeOf(RecurrenceOp rec) {
  LayerShape shape;
  auto tokens = cast<RankedTensorType>(rec.getInputs().front().getType());
  shape.rows = tokens.getDimSize(0) * tokens.getDimSize(2);
  shape.tokens = tokens.getDimSize(1);
  shape.heads = tokens.getDimSize(2);
  shape.keyDim = shape.valueDim = tokens.getDimSize(3);
  // A matrix state [B, H, dk, dv] among the final states gives dv.
  for (Type t : llvm::drop_begin(rec->getResultTypes(), rec.getNumOutputs()))
    if (auto state = dyn_cast<RankedTensorType>(t); state && state.getRank() == 4) {
      shape.keyDim = state.getDimSize(2);
      shape.valueDim = state.getDimSize(3);
      break;
    }
  return shape;
}

/// f32 host buffers for a function's arguments (from `args`) and results.
struct Buffers {
  Buffers(func::FuncOp func, llvm::ArrayRef<Array> args) {
    for (auto [array, type] : llvm::zip(args, func.getArgumentTypes())) {
      storage.emplace_back(array.data.begin(), array.data.end());
      inputs.push_back(BufferView{storage.back().data(), DType::F32, array.shape});
    }
    for (Type type : func.getResultTypes()) {
      auto tensor = cast<RankedTensorType>(type);
      std::vector<int64_t> shape(tensor.getShape().begin(), tensor.getShape().end());
      storage.emplace_back(Array::numElementsOf(shape), 0.0f);
      results.push_back(BufferView{storage.back().data(), DType::F32, shape});
    }
  }
  /// NaN in every result (the reference check fails on any left unwritten).
  void poisonResults() {
    for (BufferView &view : results)
      std::fill_n(static_cast<float *>(view.data), Array::numElementsOf(view.shape), NAN);
  }
  std::deque<std::vector<float>> storage;
  std::vector<BufferView> inputs, results;
};

struct Measurement {
  double median = 0, spread = 0;
};

/// Median and spread of runs of `run` (a warm-up first; at least 5 runs and `minSeconds`).
llvm::Expected<Measurement> measureOnce(const std::function<llvm::Error()> &run,
                                        double minSeconds) {
  if (llvm::Error e = run())
    return std::move(e);
  std::vector<double> times;
  double start = now();
  while (times.size() < 5 || now() - start < minSeconds) {
    double t0 = now();
    if (llvm::Error e = run())
      return std::move(e);
    times.push_back(now() - t0);
    if (times.size() >= 1000)
      break;
  }
  llvm::sort(times);
  Measurement m;
  size_t n = times.size();
  m.median = times[n / 2];
  // The spread between the 10th and 90th percentiles: a lone interrupt does not count.
  m.spread = (times[n * 9 / 10] - times[n / 10]) / m.median;
  return m;
}

/// measureOnce, again (up to twice) while the spread says the machine was busy; the
/// measurement with the least spread.
llvm::Expected<Measurement> measure(const std::function<llvm::Error()> &run, double minSeconds) {
  auto first = measureOnce(run, minSeconds);
  if (!first)
    return first.takeError();
  Measurement best = *first;
  for (int again = 0; best.spread > 0.1 && again < 2; ++again) {
    auto next = measureOnce(run, minSeconds);
    if (!next)
      return next.takeError();
    if (next->spread < best.spread)
      best = *next;
  }
  return best;
}

/// The worst relative RMS error of the results against the reference.
double worstError(const Buffers &buffers, llvm::ArrayRef<Array> reference) {
  double worst = 0;
  for (auto [view, ref] : llvm::zip(buffers.results, reference)) {
    Array out(DType::F32, view.shape);
    const float *data = static_cast<const float *>(view.data);
    for (int64_t i = 0, n = out.numElements(); i < n; ++i)
      out.data[i] = data[i];
    double error = relativeRmsError(out, ref);
    if (!std::isfinite(error))
      return INFINITY;
    worst = std::max(worst, error);
  }
  return worst;
}

/// Sets `text` into `options` (the base with a candidate's options).
llvm::Expected<KernelOptions> withSchedule(const KernelOptions &base, llvm::StringRef text) {
  KernelOptions options = base;
  if (llvm::Error e = options.parseSchedule(text))
    return std::move(e);
  return options;
}

/// Adds a pruned candidate, once: an option value is pruned whatever it would have been
/// combined with.
void recordPruned(std::vector<TuneCandidate> *pruned, std::string schedule,
                  const std::string &why) {
  if (pruned && llvm::none_of(*pruned, [&](const TuneCandidate &c) {
        return c.schedule == schedule;
      }))
    pruned->push_back(TuneCandidate{std::move(schedule), 0, 0, 0, "pruned: " + why});
}

/// The values a search tries for `option`: `choices`, or when the caller fixed it only the
/// base's (-1: not written in the candidate's text).
template <typename OptionT>
std::vector<int64_t> searchedValues(const OptionT &option, std::vector<int64_t> choices) {
  return option.hasValue() ? std::vector<int64_t>{-1} : choices;
}

/// The GPU kernels of every kernel op, as ptxas reports them.
llvm::Expected<std::vector<GpuKernelResources>>
assembleKernels(llvm::ArrayRef<Operation *> kernelOps, const KernelOptions &options) {
  std::vector<GpuKernelResources> all;
  for (Operation *op : kernelOps) {
    auto kernels = assembleGpuKernels(op, options);
    if (!kernels)
      return kernels.takeError();
    all.insert(all.end(), kernels->begin(), kernels->end());
  }
  return all;
}

} // namespace

std::vector<std::string> cpuScheduleCandidates(RecurrenceOp kernel, const KernelOptions &options,
                                               std::vector<TuneCandidate> *pruned) {
  std::vector<std::string> candidates;
  LayerShape shape = shapeOf(kernel);
  const CpuPipelineOptions &base = options.cpu;
  int64_t threads = base.threads ? int64_t(base.threads)
                                 : int64_t(std::max(1u, std::thread::hardware_concurrency()));
  HostModel host = HostModel::detect();
  // A pruned option is pruned once, whatever it would have been combined with.
  auto reject = [&](std::string schedule, std::string why) {
    recordPruned(pruned, std::move(schedule), why);
  };
  auto part = [](llvm::StringRef name, int64_t value) {
    return value < 0 ? std::string() : (name + "=" + llvm::Twine(value)).str();
  };

  // Short sequences: the token scan.
  if (!base.sequential.hasValue() && shape.tokens <= 256)
    candidates.push_back("sequential=true");

  struct Tile {
    int64_t rows, columns;
  };
  std::vector<Tile> tiles;
  if (base.matmulRows.hasValue() || base.matmulColumns.hasValue())
    tiles.push_back({-1, -1});
  else
    for (Tile t : {Tile{4, 64}, Tile{8, 32}, Tile{2, 64}, Tile{4, 32}, Tile{6, 32}, Tile{2, 128}})
      tiles.push_back(t);

  for (int64_t chunk : searchedValues(base.chunkSize, {64, 32, 128, 16})) {
    if (chunk > 0 && chunk > std::max<int64_t>(16, int64_t(llvm::PowerOf2Ceil(shape.tokens)))) {
      reject(part("chunk-size", chunk), "longer than the sequence");
      continue;
    }
    int64_t c = chunk > 0 ? chunk : base.chunkSize;
    // A work item's chunk: its q, k, v, o rows, the C × C scores, the state.
    int64_t workingSet =
        4 * (2 * c * (shape.keyDim + shape.valueDim) + c * c + shape.keyDim * shape.valueDim);
    if (workingSet > host.l2Bytes) {
      reject(part("chunk-size", chunk), llvm::formatv("its working set ({0} KiB) exceeds the L2 "
                                                      "cache ({1} KiB)",
                                                      workingSet >> 10, host.l2Bytes >> 10));
      continue;
    }
    for (Tile tile : tiles) {
      std::string tileText = tile.rows < 0 ? ""
                                           : part("matmul-rows", tile.rows) + " " +
                                                 part("matmul-columns", tile.columns);
      if (tile.rows > 0) {
        if (tile.columns % host.vectorFloats) {
          reject(tileText, "columns not a multiple of the vector width");
          continue;
        }
        int64_t accumulators = tile.rows * tile.columns / host.vectorFloats;
        if (accumulators + tile.rows + 1 > host.vectorRegisters) {
          reject(tileText, llvm::formatv("{0} accumulators do not fit {1} vector registers",
                                         accumulators, host.vectorRegisters));
          continue;
        }
      }
      for (int64_t valueTiles : searchedValues(base.valueTiles, {1, 2, 4})) {
        if (valueTiles > 1 &&
            (shape.rows >= 2 * threads || shape.valueDim % (valueTiles * host.vectorFloats))) {
          reject(part("value-tiles", valueTiles),
                 shape.rows >= 2 * threads ? "enough work items without splitting heads"
                                           : "the value dim does not split into whole vectors");
          continue;
        }
        std::vector<int64_t> groups = {0};
        if (valueTiles <= 1)
          for (int64_t h : {1, 2, 4, 8})
            if (shape.heads % h == 0)
              groups.push_back(h);
        for (int64_t heads : searchedValues(base.headsPerItem, groups)) {
          if (heads > 1 && shape.rows / heads < threads) {
            reject(part("heads-per-item", heads), "fewer work items than threads");
            continue;
          }
          // (One value tile is the default: not written.)
          std::vector<std::string> parts = {part("chunk-size", chunk), tileText,
                                            part("value-tiles", valueTiles == 1 ? -1 : valueTiles),
                                            part("heads-per-item", heads)};
          std::string text = llvm::join(llvm::make_filter_range(
                                            parts, [](const std::string &p) { return !p.empty(); }),
                                        " ");
          if (!text.empty())
            candidates.push_back(text);
        }
      }
    }
  }
  // The same text twice (a fixed option collapses its dimension) is one candidate.
  std::vector<std::string> unique;
  for (std::string &c : candidates)
    if (!llvm::is_contained(unique, c))
      unique.push_back(std::move(c));
  return unique;
}

std::vector<std::string> gpuScheduleCandidates(RecurrenceOp kernel, const KernelOptions &options,
                                               std::vector<TuneCandidate> *pruned) {
  LayerShape shape = shapeOf(kernel);
  const GpuPipelineOptions &base = options.gpu;
  auto reject = [&](std::string schedule, std::string why) {
    recordPruned(pruned, std::move(schedule), why);
  };
  // (A default value is not written, so that the default schedule is "" and no candidate
  // repeats it.)
  GpuPipelineOptions defaults;
  auto part = [](llvm::StringRef name, int64_t value, int64_t defaultValue) {
    return value < 0 || value == defaultValue ? std::string()
                                              : (name + "=" + llvm::Twine(value)).str();
  };
  std::vector<std::string> candidates;
  // Short sequences: the token scan.
  if (!base.sequential.hasValue() && shape.tokens <= 256)
    candidates.push_back("sequential=true");
  for (int64_t chunk : searchedValues(base.chunkSize, {32, 64, 16})) {
    if (chunk != defaults.chunkSize &&
        chunk > std::max<int64_t>(16, int64_t(llvm::PowerOf2Ceil(shape.tokens)))) {
      reject(part("chunk-size", chunk, -2), "longer than the sequence");
      continue;
    }
    for (int64_t tile : searchedValues(base.valueTile, {64, 128, 32})) {
      // (The default stays: a tile that does not divide dv takes whole rows, which the other
      // tiles that do not divide it would only repeat.)
      if (tile > 0 && tile != defaults.valueTile &&
          (tile > shape.valueDim || shape.valueDim % tile)) {
        reject(part("value-tile", tile, -2), llvm::formatv("does not divide dv = {0}",
                                                           shape.valueDim));
        continue;
      }
      for (int64_t twoPhase : searchedValues(base.twoPhase, {0, 1}))
        for (int64_t block : searchedValues(base.blockSize, {256, 128, 512}))
          for (int64_t registers : searchedValues(base.maxRegisters, {128, 255, 64})) {
            int64_t threads = block > 0 ? block : base.blockSize;
            int64_t perThread = registers > 0 ? registers : base.maxRegisters;
            std::vector<std::string> parts = {
                part("chunk-size", chunk, defaults.chunkSize),
                part("value-tile", tile, defaults.valueTile),
                part("two-phase", twoPhase, defaults.twoPhase),
                part("block-size", block, defaults.blockSize),
                part("max-registers", registers, defaults.maxRegisters)};
            std::string text = llvm::join(
                llvm::make_filter_range(parts, [](const std::string &p) { return !p.empty(); }),
                " ");
            if (threads * perThread > 65536) {
              reject(text, llvm::formatv("{0} threads x {1} registers exceed an SM's 65536",
                                         threads, perThread));
              continue;
            }
            if (!text.empty() && !llvm::is_contained(candidates, text))
              candidates.push_back(text);
          }
    }
  }
  return candidates;
}

llvm::Expected<TuneResult> tuneFunction(KernelCompiler &compiler, const TuneRequest &request) {
  bool gpu = request.base.target == Target::CUDA;
  if (request.base.target != Target::CPU && !gpu)
    return runtimeError("the tuner searches the cpu and cuda targets, not " +
                        targetName(request.base.target));
  ModuleOp module = request.module;
  auto func = module.lookupSymbol<func::FuncOp>(request.funcName);
  if (!func || func.isExternal())
    return runtimeError("no function @" + request.funcName + " with a body");
  for (Type t : llvm::concat<const Type>(func.getArgumentTypes(), func.getResultTypes())) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    if (!tensor || !tensor.hasStaticShape() || !tensor.getElementType().isF32())
      return runtimeError("linrec-tune takes functions of static f32 tensors");
  }
  if (request.args.size() != func.getNumArguments())
    return runtimeError("@" + request.funcName + " takes " + llvm::Twine(func.getNumArguments()) +
                        " arguments, got " + llvm::Twine(request.args.size()));

  // The kernels the runtime will look the schedule up for.
  auto prepared = prepareKernels(request.module, request.funcName, request.base);
  if (!prepared)
    return prepared.takeError();
  std::vector<std::pair<std::string, ShapeBucket>> kernels;
  std::vector<Operation *> kernelOps; // what ptxas assembles, on the GPU
  RecurrenceOp first; // the cost model's shape
  bool onlyKernels = true;
  auto preparedFunc = (*prepared)->lookupSymbol<func::FuncOp>(llvm::StringRef(request.funcName));
  if (!preparedFunc)
    return runtimeError("no function @" + request.funcName + " after its preparation");
  for (Operation &op : preparedFunc.getBody().front()) {
    if (isa<RecurrenceOp, WindowAttentionOp>(op)) {
      kernelOps.push_back(&op);
      std::optional<ShapeBucket> bucket = kernelShapeBucket(&op);
      if (bucket && isa<RecurrenceOp>(op)) {
        kernels.emplace_back(kernelTuningDigest(&op, request.base.target), *bucket);
        if (!first)
          first = cast<RecurrenceOp>(op);
      }
    } else if (!isa<func::ReturnOp, arith::ConstantOp>(op)) {
      onlyKernels = false;
    }
  }
  if (!onlyKernels) {
    // A whole layer (CompiledLayer): one schedule for all its kernels, keyed on the function
    // as compileFunction compiles it (after carryTransposedStates only).
    if (gpu)
      return runtimeError("@" + request.funcName + " compiles as a whole layer (it holds ops "
                          "besides recurrences), which the GPU targets do not run");
    OwningOpRef<ModuleOp> layer(ModuleOp(request.module).clone());
    if (llvm::Error e = carryTransposedStates(*layer, request.funcName, request.base))
      return std::move(e);
    auto layerFunc = layer->lookupSymbol<func::FuncOp>(llvm::StringRef(request.funcName));
    std::optional<ShapeBucket> bucket = layerShapeBucket(layerFunc);
    if (!bucket)
      return runtimeError("@" + request.funcName + " takes no statically shaped tokens");
    kernels.assign(1, {layerTuningDigest(layerFunc), *bucket});
  }
  if (kernels.empty() || !first)
    return runtimeError("@" + request.funcName + " holds no recurrence to tune");

  TuneResult result;
  std::vector<TuneCandidate> pruned;
  std::vector<std::string> schedules = gpu ? gpuScheduleCandidates(first, request.base, &pruned)
                                           : cpuScheduleCandidates(first, request.base, &pruned);
  result.pruned = int64_t(pruned.size());
  // Without a CUDA device the GPU candidates are assembled and checked, not timed.
  std::string deviceChip;
  bool timing = !gpu || [&] {
    auto driver = CudaDriver::get();
    if (!driver) {
      llvm::consumeError(driver.takeError());
      return false;
    }
    if (driver->devices().empty())
      return false;
    deviceChip = driver->devices().front().chip();
    return true;
  }();
  result.timed = timing;
  // ptxas assembles for a chip: the one asked for, else the device's.
  KernelOptions base = request.base;
  if (gpu && base.gpu.chip.empty()) {
    if (deviceChip.empty())
      return runtimeError("no CUDA device to take the chip from: name one (chip=sm_90a)");
    base.gpu.chip = deviceChip;
  }

  Buffers buffers(func, request.args);
  auto reference =
      runFunction(request.module, request.funcName, request.args, Target::Reference, compiler,
                  request.base);
  if (!reference)
    return reference.takeError();
  unsigned threads = unsigned(request.base.cpu.threads);

  // Compiles and times one schedule; its outcome says why it cannot win.
  std::map<std::string, Executable> compiled;
  auto evaluate = [&](const std::string &schedule) -> TuneCandidate {
    TuneCandidate candidate{schedule, 0, 0, 0, "ok"};
    // Outputs a candidate leaves unwritten must not pass as the previous candidate's.
    buffers.poisonResults();
    auto options = withSchedule(base, schedule);
    if (!options) {
      candidate.outcome = "rejected: " + llvm::toString(options.takeError());
      return candidate;
    }
    if (gpu) {
      auto resources = assembleKernels(kernelOps, *options);
      if (!resources) {
        candidate.outcome = "rejected: " + llvm::toString(resources.takeError());
        return candidate;
      }
      candidate.resources = describeGpuResources(*resources);
      // (The default is timed whatever ptxas says: it is what runs when nothing is tuned.)
      for (const GpuKernelResources &kernel : *resources)
        if (std::string problem = kernel.problem(); !problem.empty() && !schedule.empty()) {
          candidate.outcome = "pruned: ptxas: " + problem;
          return candidate;
        }
      if (!timing) {
        // The same GPU schedule, run on the CPU: correct or not, but not timed.
        options->target = Target::GPUScheduleOnCPU;
        auto executable = compileFunction(compiler, request.module, request.funcName, *options);
        if (!executable) {
          candidate.outcome = "rejected: " + llvm::toString(executable.takeError());
          return candidate;
        }
        if (llvm::Error e = executable->run(buffers.inputs, buffers.results, threads)) {
          candidate.outcome = "rejected: " + llvm::toString(std::move(e));
          return candidate;
        }
        candidate.error = worstError(buffers, *reference);
        candidate.outcome = candidate.error <= request.tolerance
                                ? "checked on the CPU (GPU schedule); not timed: no CUDA device"
                                : llvm::formatv("rejected: error {0:e} against the reference "
                                                "exceeds {1:e}",
                                                candidate.error, request.tolerance)
                                      .str();
        return candidate;
      }
    }
    auto executable = compileFunction(compiler, request.module, request.funcName, *options);
    if (!executable) {
      candidate.outcome = "rejected: " + llvm::toString(executable.takeError());
      return candidate;
    }
    compiled[schedule] = *executable;
    auto m = measure(
        [&]() -> llvm::Error { return executable->run(buffers.inputs, buffers.results, threads); },
        request.minSeconds);
    if (!m) {
      candidate.outcome = "rejected: " + llvm::toString(m.takeError());
      return candidate;
    }
    candidate.seconds = m->median;
    candidate.spread = m->spread;
    candidate.error = worstError(buffers, *reference);
    if (!(candidate.error <= request.tolerance))
      candidate.outcome = llvm::formatv("rejected: error {0:e} against the reference exceeds "
                                        "{1:e}",
                                        candidate.error, request.tolerance);
    return candidate;
  };

  double start = now();
  TuneProgress progress;
  progress.total = 1 + (request.maxCandidates > 0
                            ? std::min<int64_t>(request.maxCandidates, int64_t(schedules.size()))
                            : int64_t(schedules.size()));
  auto report = [&](const TuneCandidate &last) {
    progress.done++;
    progress.elapsedSeconds = now() - start;
    progress.remainingSeconds = progress.elapsedSeconds / progress.done *
                                double(progress.total - progress.done);
    if (request.budgetSeconds > 0)
      progress.remainingSeconds =
          std::min(progress.remainingSeconds,
                   std::max(0.0, request.budgetSeconds - progress.elapsedSeconds));
    progress.lastSchedule = last.schedule.empty() ? "(default)" : last.schedule;
    progress.lastOutcome = last.outcome;
    if (request.progress)
      request.progress(progress);
  };

  TuneCandidate defaults = evaluate("");
  result.candidates.push_back(defaults);
  if (timing ? defaults.outcome != "ok" : defaults.outcome.rfind("rejected", 0) == 0)
    return runtimeError("the default schedule fails: " + defaults.outcome);
  TuneCandidate best = defaults;
  progress.bestSeconds = defaults.seconds;
  progress.bestSchedule = "(default)";
  report(defaults);
  for (const std::string &schedule : schedules) {
    if ((request.budgetSeconds > 0 && now() - start > request.budgetSeconds) ||
        (request.maxCandidates > 0 &&
         int64_t(result.candidates.size()) > request.maxCandidates)) {
      result.candidates.push_back(TuneCandidate{schedule, 0, 0, 0, "skipped: budget spent"});
      continue;
    }
    result.candidates.push_back(evaluate(schedule));
    const TuneCandidate &candidate = result.candidates.back();
    if (candidate.outcome == "ok" && candidate.seconds < best.seconds) {
      best = candidate;
      progress.bestSeconds = candidate.seconds;
      progress.bestSchedule = candidate.schedule;
    }
    report(candidate);
  }
  for (TuneCandidate &p : pruned)
    result.candidates.push_back(std::move(p));
  for (const TuneCandidate &c : result.candidates)
    if (c.outcome.rfind("pruned: ptxas", 0) == 0)
      result.pruned++;
  if (!timing)
    return result; // nothing timed: no winner, no entries

  // The final word: the winner and the default timed alternately, three rounds, the medians'
  // median (a busy moment then hits both).
  result.bestSchedule = best.schedule;
  std::vector<double> bestTimes, defaultTimes;
  // (Each round in the other order: the first of a pair may find the caches colder. When the
  // default won the search, its own times are both.)
  bool defaultWon = result.bestSchedule.empty();
  for (int round = 0; round < 3; ++round)
    for (bool isBest : {round % 2 == 1, round % 2 == 0}) {
      if (defaultWon && isBest)
        continue;
      const Executable &executable = compiled[isBest ? result.bestSchedule : ""];
      auto m = measureOnce(
          [&]() -> llvm::Error { return executable.run(buffers.inputs, buffers.results, threads); },
          request.minSeconds);
      if (!m)
        return m.takeError();
      (isBest ? bestTimes : defaultTimes).push_back(m->median);
    }
  if (defaultWon)
    bestTimes = defaultTimes;
  llvm::sort(bestTimes);
  llvm::sort(defaultTimes);
  result.bestSeconds = bestTimes[1];
  result.defaultSeconds = defaultTimes[1];
  // Not faster in the head-to-head: the default stays (an entry says so).
  if (result.bestSeconds >= result.defaultSeconds) {
    result.bestSchedule = "";
    result.bestSeconds = result.defaultSeconds;
  }

  std::string device = tuningDevice(request.base);
  for (auto &[digest, bucket] : kernels) {
    TuningEntry entry;
    entry.key = TuningKey{digest, targetName(request.base.target).str(), device, LINREC_VERSION};
    entry.bucket = bucket;
    entry.schedule = result.bestSchedule;
    entry.description = request.description;
    entry.seconds = result.bestSeconds;
    entry.defaultSeconds = result.defaultSeconds;
    result.entries.push_back(std::move(entry));
  }
  return result;
}


/// The shapes of the model's required inputs, from a description like "[B, T, H, dk]".
static llvm::Expected<std::map<std::string, TensorInfo>>
inputShapes(const ModelInfo &info, const std::map<std::string, int64_t> &dims) {
  std::map<std::string, TensorInfo> inputs;
  for (const TensorDescription &input : info.inputs) {
    if (input.optional)
      continue;
    TensorInfo tensor;
    tensor.dtype = input.dtype == "int32" ? DType::I32 : DType::F32;
    llvm::SmallVector<llvm::StringRef> symbols;
    llvm::StringRef(input.shape).trim("[] ").split(symbols, ',', -1, false);
    for (llvm::StringRef symbol : symbols) {
      symbol = symbol.trim();
      int64_t literal = 0;
      if (!symbol.getAsInteger(10, literal)) {
        tensor.shape.push_back(literal);
        continue;
      }
      auto it = dims.find(symbol.str());
      if (it == dims.end())
        return runtimeError("no value for dimension '" + symbol + "' of input " + input.name +
                            " " + input.shape + " of model '" + info.name + "' (give " + symbol +
                            ")");
      tensor.shape.push_back(it->second);
    }
    inputs[input.name] = tensor;
  }
  return inputs;
}

std::map<std::string, int64_t> completeDims(std::map<std::string, int64_t> dims) {
  if (!dims.count("dv") && dims.count("dk"))
    dims["dv"] = dims["dk"];
  return dims;
}

std::string describeDims(const std::map<std::string, int64_t> &dims) {
  std::vector<std::string> parts;
  for (const char *name : {"B", "T", "H", "dk", "dv"})
    if (auto it = dims.find(name); it != dims.end())
      parts.push_back(std::string(name) + "=" + std::to_string(it->second));
  for (auto &[name, value] : dims)
    if (!llvm::is_contained({"B", "T", "H", "dk", "dv"}, name))
      parts.push_back(name + "=" + std::to_string(value));
  return llvm::join(parts, " ");
}

llvm::Expected<TuneResult> tuneModel(MLIRContext &context, KernelCompiler &compiler,
                                     llvm::StringRef model, const llvm::json::Object &params,
                                     std::map<std::string, int64_t> dims, TuneRequest request) {
  const ModelInfo *info = modelInfo(model);
  if (!info)
    return runtimeError("unknown model '" + model + "' (one of: " +
                        llvm::join(layerKindNames(), ", ") + ")");
  dims = completeDims(std::move(dims));
  auto inputs = inputShapes(*info, dims);
  if (!inputs)
    return inputs.takeError();
  // (The layer is the same for every GPU target; prepareModel refuses cuda where there is no
  // device, and a GPU search without one still assembles and checks its candidates.)
  Target buildFor =
      request.base.target == Target::CUDA ? Target::GPUScheduleOnCPU : request.base.target;
  auto prepared = prepareModel(context, model, params, *inputs, buildFor);
  if (!prepared)
    return prepared.takeError();
  request.module = *prepared->module;
  request.funcName = "layer";
  if (request.description.empty())
    request.description = model.str() + " " + describeDims(dims);
  std::string description = request.description;
  auto result = tuneOnRandomInputs(compiler, std::move(request));
  if (!result)
    return runtimeError(description + ": " + llvm::toString(result.takeError()));
  return result;
}

llvm::Expected<TuneResult> tuneOnRandomInputs(KernelCompiler &compiler, TuneRequest request) {
  auto func = request.module.lookupSymbol<func::FuncOp>(request.funcName);
  if (!func || func.isExternal())
    return runtimeError("no function @" + request.funcName + " with a body");
  for (Type t : func.getArgumentTypes())
    if (!isa<RankedTensorType>(t))
      return runtimeError("@" + request.funcName + " takes arguments other than tensors");
  auto roles = argumentRoles(request.module, request.funcName);
  if (!roles)
    return roles.takeError();
  std::mt19937_64 rng(0);
  int64_t tokens = argumentTokens(func.getArgumentTypes());
  request.args.clear();
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
    request.args.push_back(randomArgument(cast<RankedTensorType>(type),
                                          roles->count(i) ? roles->at(i) : ArgumentRole::Plain,
                                          rng, tokens));
  return tuneFunction(compiler, request);
}

} // namespace linrec
