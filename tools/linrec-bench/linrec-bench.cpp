//===- linrec-bench.cpp - forward-pass benchmarks of the CPU kernels ------===//
//
// Times the forward of each family on the CPU for B=1, H=8, T in {1024, 4096, 16384},
// dk = dv in {64, 128}, with 1 and 2 threads, and prints ms, GFLOP/s (the FLOPs of the chunked
// algorithm) and the percentage of the register FMA peak (the physical limit) and of the best
// sgemm at hand (oneDNN or OpenBLAS), all measured in the same run, on the same threads, in
// interleaved rounds with their spread (Ceilings.h, Timing.h). `--backward-only` times forward
// + derived backward the same way. Also prints each kernel's JIT compile time, the decode
// kernel's state bandwidth against the copy bandwidth beyond the last-level cache, the hybrid
// layers (Liger Attention, LoLCATs; `--models=hybrids`) with their window term fused into the
// recurrence's kernel against the same layers with the window as its own kernel, and tensor
// attention (`--models=tensor_attention`) as the token scan and in the chunked product form.
//
//   linrec-bench [--models=gla,gated_delta,hybrids,tensor_attention] [--tokens=1024,4096]
//                [--dims=128] [--num-threads=1,2] [--heads=8] [--batch=1] [--decode-only]
//                [--decay-scale=0.05] [--min-seconds=0.3] [--rounds=5] [--decode=false]
//                [--tuning-db=FILE] [CPU SCHEDULE FLAGS]
//
// The CPU schedule flags are linrec-to-cpu's options (--chunk-size, --matmul-rows,
// --heads-per-item, ...; --help lists them), except the threads, which each row sets. Kernels
// compile with the default schedule (no tuning database is read); `--tuning-db` adds the
// forward table's "tuned" column, the schedules linrec-tune saved in FILE. Output is
// Markdown tables.
//
//===----------------------------------------------------------------------===//

#include "Ceilings.h"
#include "FmaPeak.h"
#include "Timing.h"

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/CompiledLayer.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Tools/ToolOptions.h"

#include "mlir/Parser/Parser.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>

using namespace linrec;
using namespace linrec::bench;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("linrec-bench options");

static cl::list<std::string> models("models", cl::desc("families to time"), cl::CommaSeparated,
                                    cl::cat(toolCategory));
static cl::list<int64_t> tokenCounts("tokens", cl::desc("sequence lengths"), cl::CommaSeparated,
                                     cl::cat(toolCategory));
static cl::list<int64_t> headDims("dims", cl::desc("head dims (dk = dv)"), cl::CommaSeparated,
                                  cl::cat(toolCategory));
static cl::list<unsigned> threadCounts("num-threads", cl::desc("thread counts"), cl::CommaSeparated,
                                       cl::cat(toolCategory));
static cl::opt<int64_t> heads("heads", cl::desc("heads"), cl::init(8), cl::cat(toolCategory));
static cl::opt<int64_t> batchSize("batch", cl::desc("batch rows of the forward benchmark"),
                                  cl::init(1), cl::cat(toolCategory));
static cl::opt<bool> decodeOnly("decode-only", cl::desc("only the decode benchmark"),
                                cl::cat(toolCategory));
static cl::opt<bool> decode("decode", cl::desc("the decode benchmark (--decode=false: none)"),
                            cl::init(true), cl::cat(toolCategory));
static cl::opt<double> decayScale(
    "decay-scale",
    cl::desc("log-decays are -scale·|N(0, 1)| per token (0.05: GLA-like gates; 2: strong decays "
             "that keep key-decay chunks in sub-chunks)"),
    cl::init(0.05), cl::cat(toolCategory));
static cl::opt<bool> backwardOnly(
    "backward-only",
    cl::desc("only the forward+backward table (the families with a derived backward)"),
    cl::cat(toolCategory));
static cl::opt<bool> transposedReads(
    "backward-transposed-reads",
    cl::desc("the derived backward reads its states along both axes (linrec-build-backward's "
             "transposed-reads; 0: transposed copies of the states, for comparison)"),
    cl::init(true), cl::cat(toolCategory));
static cl::opt<double> minSeconds("min-seconds",
                                  cl::desc("time per measured variant of a row, over its rounds"),
                                  cl::init(0.3), cl::cat(toolCategory));
static cl::opt<int> rounds("rounds",
                           cl::desc("interleaved rounds per row (median and spread over them)"),
                           cl::init(5), cl::cat(toolCategory));
static cl::opt<std::string> tuningDb(
    "tuning-db", cl::desc("a tuning database (linrec-tune's): the forward table's tuned column"),
    cl::value_desc("file"), cl::cat(toolCategory));

/// The CPU schedule every measurement starts from (the schedule flags; each table then sets
/// what it compares, and the thread count of each row).
static KernelOptions benchOptions;

/// How every row is timed: interleaved rounds (Timing.h), `--rounds` of them sharing
/// `--min-seconds` per variant.
static TimingPlan rowPlan() {
  TimingPlan plan;
  plan.rounds = std::max(1, int(rounds));
  plan.secondsPerRound = minSeconds / plan.rounds;
  return plan;
}

/// Runs `executable` (an Executable or a Kernel) or stops the benchmark with its error.
template <typename Runnable>
static std::function<void()> runner(const Runnable &executable,
                                    const std::vector<BufferView> &args,
                                    const std::vector<BufferView> &results, unsigned threads) {
  return [&executable, &args, &results, threads] {
    if (llvm::Error e = executable.run(args, results, threads))
      llvm::report_fatal_error(llvm::toString(std::move(e)).c_str());
  };
}

/// "12.30" with the row's spread: "12.30 (4%)" (three decimals below 1).
static std::string withSpread(double value, const Samples &samples, const char *format = nullptr) {
  if (!format)
    format = value < 1 ? "{0:F3}" : "{0:F2}";
  return llvm::formatv(format, value).str() +
         llvm::formatv(" ({0:F0}%)", 100 * samples.spread()).str();
}

/// The ceilings of each thread count, measured in interleaved rounds (each round measures
/// every ceiling on every thread count once): the register FMA peak, each GEMM library (and
/// the best of them per round), the copy bandwidth beyond the last-level cache.
struct MeasuredCeilings {
  std::map<unsigned, Samples> fma, bestGemm, bandwidth;
  std::map<unsigned, std::vector<GemmLibrary>> gemms; // the last round's, for the names
  std::map<unsigned, std::map<std::string, Samples>> gemmSamples;
};

static MeasuredCeilings measureCeilings(const HostDescription &host,
                                        llvm::ArrayRef<unsigned> threads) {
  MeasuredCeilings ceilings;
  size_t bytes = beyondCacheBytes(host);
  for (int round = 0; round < std::max(1, int(rounds)); ++round)
    for (unsigned t : threads) {
      ceilings.fma[t].values.push_back(measureFmaPeak(t, 0.05).gflops);
      std::vector<GemmLibrary> gemms = measureGemms(t, 0.1);
      double best = 0;
      for (const GemmLibrary &gemm : gemms) {
        ceilings.gemmSamples[t][gemm.name].values.push_back(gemm.gflops);
        best = std::max(best, gemm.gflops);
      }
      ceilings.bestGemm[t].values.push_back(best);
      ceilings.gemms[t] = gemms;
      ceilings.bandwidth[t].values.push_back(copyBandwidth(t, bytes, 0.1));
    }
  return ceilings;
}

static void printCeilings(const HostDescription &host, const MeasuredCeilings &ceilings,
                          llvm::ArrayRef<unsigned> threads) {
  llvm::outs() << "host: " << host.cpuModel << "; LLVM CPU " << host.llvmCpu << "; FMA ISA "
               << host.fmaIsa << llvm::format("; last-level cache %.0f MiB\n",
                                              host.lastLevelCache / double(1 << 20));
  llvm::outs() << llvm::format("ceilings (median of %d interleaved rounds, spread in parentheses; "
                               "copy: 2 arrays of %.0f MiB, beyond the last-level cache):\n\n",
                               std::max(1, int(rounds)),
                               beyondCacheBytes(host) / double(1 << 20));
  llvm::outs() << "| threads | register FMA peak GFLOP/s |";
  for (const GemmLibrary &gemm : ceilings.gemms.at(threads.front()))
    llvm::outs() << " " << gemm.name << " sgemm GFLOP/s |";
  llvm::outs() << " best GEMM % of FMA peak | copy GB/s |\n|---|---|";
  for (size_t i = 0; i < ceilings.gemms.at(threads.front()).size(); ++i)
    llvm::outs() << "---|";
  llvm::outs() << "---|---|\n";
  for (unsigned t : threads) {
    llvm::outs() << "| " << t << " | "
                 << withSpread(ceilings.fma.at(t).median(), ceilings.fma.at(t), "{0:F1}") << " |";
    for (const GemmLibrary &gemm : ceilings.gemms.at(t)) {
      const Samples &samples = ceilings.gemmSamples.at(t).at(gemm.name);
      llvm::outs() << " " << withSpread(samples.median(), samples, "{0:F1}") << " |";
    }
    llvm::outs() << llvm::format(" %.0f%% | ",
                                 100 * ceilings.bestGemm.at(t).median() / ceilings.fma.at(t).median())
                 << withSpread(ceilings.bandwidth.at(t).median(), ceilings.bandwidth.at(t),
                               "{0:F1}")
                 << " |\n";
  }
  llvm::outs().flush();
}

/// FLOPs of the chunked algorithm per token and head: QKᵀ and A·V (2C²(dk+dv) per chunk),
/// the inter-chunk read Q·S and the state update Kᵀ·V (4C·dk·dv); the delta rule adds
/// K·Kᵀ, K·S and the triangular solve.
static double flopsPerToken(bool delta, int64_t c, int64_t dk, int64_t dv) {
  double perChunk = 2.0 * c * c * (dk + dv) + 4.0 * c * dk * dv;
  if (delta)
    perChunk += 2.0 * c * c * dk + 2.0 * c * dk * dv + 1.0 * c * c * dv;
  return perChunk / c;
}

/// A family's layer as the forward and backward tables time it: scale 1/√d, lightning's
/// decays spread over the heads (log λ_h = −2^{−8(h+1)/H}).
/// The hybrids (Liger Attention, LoLCATs) as the hybrid table times them: a sliding window of
/// 64 over Liger-GLA, LoLCATs with 32 Hedgehog features.
static bool isHybrid(LayerKind kind) {
  return kind == LayerKind::LigerAttention || kind == LayerKind::LoLCATs;
}

static LayerConfig familyConfig(LayerKind kind, int64_t d) {
  LayerConfig config;
  config.kind = kind;
  config.scale = 1.0 / std::sqrt(double(d));
  for (int64_t h = 0; h < heads; ++h)
    config.logDecay.push_back(-std::exp2(-8.0 * (h + 1) / heads));
  if (isHybrid(kind)) {
    config.window = WindowKind::Sliding;
    config.linearVariant = LayerKind::LigerGLA;
    config.scale = kind == LayerKind::LoLCATs ? 1.0 / std::sqrt(double(d)) : 1.0;
    config.attentionScale = 1.0 / std::sqrt(double(d));
  }
  return config;
}

/// B (--batch), T, H (--heads), dk = dv = d (and the hybrids' attention dim).
static LayerShapes familyShapes(LayerKind kind, int64_t tokens, int64_t d) {
  LayerShapes shapes;
  shapes.batch = batchSize;
  shapes.tokens = tokens;
  shapes.heads = heads;
  shapes.keyDim = shapes.valueDim = d;
  if (isHybrid(kind)) {
    shapes.attentionDim = d;
    shapes.features = kind == LayerKind::LoLCATs ? 32 : 0;
  }
  return shapes;
}

/// The layer's recurrence in generic form (built into `module`), or null after printing why.
static RecurrenceOp buildRecurrence(mlir::MLIRContext &context, const LayerConfig &config,
                                    const LayerShapes &shapes,
                                    mlir::OwningOpRef<mlir::ModuleOp> &module) {
  module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  if (auto f = buildLayerFunction(*module, "layer", config, shapes); !f) {
    llvm::errs() << llvm::toString(f.takeError()) << "\n";
    return {};
  }
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  if (mlir::failed(pm.run(*module))) {
    llvm::errs() << "linrec-normalize failed\n";
    return {};
  }
  RecurrenceOp op;
  module->walk([&](RecurrenceOp r) { op = r; });
  return op;
}

/// The layer's CPU kernel (its recurrence, built into `module`, in `op`), or null after
/// printing why.
static std::shared_ptr<const Kernel>
compileLayer(mlir::MLIRContext &context, KernelCompiler &compiler, const LayerConfig &config,
             const LayerShapes &shapes, const KernelOptions &options,
             mlir::OwningOpRef<mlir::ModuleOp> &module, RecurrenceOp &op) {
  op = buildRecurrence(context, config, shapes, module);
  if (!op)
    return nullptr;
  auto kernel = compiler.compile(op, options);
  if (!kernel) {
    llvm::errs() << llvm::toString(kernel.takeError()) << "\n";
    return nullptr;
  }
  return *kernel;
}

/// f32 buffers of a layer function's argument types (normal inputs; rank-3 arguments, the
/// projection weights, scaled by `weightScale`) and result types.
struct LayerBuffers {
  LayerBuffers(mlir::func::FuncOp signature, std::mt19937_64 &rng, float weightScale) {
    std::normal_distribution<float> normal;
    auto add = [&](std::vector<BufferView> &list, mlir::Type type, float scale) {
      auto tensor = mlir::cast<mlir::RankedTensorType>(type);
      std::vector<int64_t> shape(tensor.getShape().begin(), tensor.getShape().end());
      storage.emplace_back(Array::numElementsOf(shape));
      for (float &x : storage.back())
        x = scale * normal(rng);
      list.push_back(BufferView{storage.back().data(), DType::F32, shape});
    };
    for (mlir::Type t : signature.getArgumentTypes())
      add(args, t, mlir::cast<mlir::RankedTensorType>(t).getRank() == 3 ? weightScale : 1.0f);
    for (mlir::Type t : signature.getResultTypes())
      add(results, t, 0.0f);
  }
  std::deque<std::vector<float>> storage;
  std::vector<BufferView> args, results;
};

/// The hybrid layers with a window of 64: Liger Attention (Liger-GLA + a sliding softmax
/// window, mixed 0.5/0.5) and LoLCATs, sliding and terraced (Hedgehog features, F = 32, + a
/// shifted_exp window sharing the denominator). "fused": the window term inside the
/// recurrence's chunked kernel (linrec-fuse-windows); "parts": the same layer with the window
/// as its own kernel, and for terraced LoLCATs the linear term as the event sequence (the form
/// the GPU runs, and the CPU ran before block-start reads). Returns true after printing an
/// error.
static bool timeHybrids(mlir::MLIRContext &context, KernelCompiler &compiler,
                        llvm::ArrayRef<int64_t> lengths, llvm::ArrayRef<int64_t> dims,
                        llvm::ArrayRef<unsigned> threads) {
  llvm::outs() << "\n| hybrid (window 64) | T | d | threads | fused ms (spread) | parts ms "
                  "(spread) | speed-up | fused compile ms |\n"
               << "|---|---|---|---|---|---|---|---|\n";
  std::mt19937_64 rng(1);
  struct Hybrid {
    LayerKind kind;
    WindowKind window;
    const char *name;
  };
  for (Hybrid hybrid : {Hybrid{LayerKind::LigerAttention, WindowKind::Sliding, "liger_attention"},
                        Hybrid{LayerKind::LoLCATs, WindowKind::Sliding, "lolcats sliding"},
                        Hybrid{LayerKind::LoLCATs, WindowKind::Terraced, "lolcats terraced"}})
    for (int64_t d : dims)
      for (int64_t tokens : lengths) {
        LayerKind kind = hybrid.kind;
        LayerConfig config;
        config.kind = kind;
        config.window = hybrid.window;
        config.linearVariant = LayerKind::LigerGLA;
        config.scale = kind == LayerKind::LoLCATs ? 1.0 / std::sqrt(double(d)) : 1.0;
        config.attentionScale = 1.0 / std::sqrt(double(d));
        LayerShapes shapes;
        shapes.batch = batchSize;
        shapes.tokens = tokens;
        shapes.heads = heads;
        shapes.keyDim = shapes.valueDim = shapes.attentionDim = d;
        shapes.features = kind == LayerKind::LoLCATs ? 32 : 0;
        Executable executables[2]; // fused, parts
        double compileSeconds = 0;
        mlir::func::FuncOp signature;
        std::vector<mlir::OwningOpRef<mlir::ModuleOp>> modules;
        // The event sequence has one slice op per block: past T = 4096 it compiles for minutes.
        bool timeParts = hybrid.window != WindowKind::Terraced || tokens <= 4096;
        for (bool fuse : {true, false}) {
          if (!fuse && !timeParts)
            continue;
          modules.push_back(mlir::ModuleOp::create(mlir::UnknownLoc::get(&context)));
          config.blockStartReads = fuse;
          auto f = buildLayerFunction(*modules.back(), "layer", config, shapes);
          if (!f) {
            llvm::errs() << llvm::toString(f.takeError()) << "\n";
            return true;
          }
          signature = *f;
          KernelOptions options = benchOptions;
          options.cpu.fuseWindows = fuse;
          double start = now();
          auto executable = compileFunction(compiler, *modules.back(), "layer", options);
          if (!executable) {
            llvm::errs() << llvm::toString(executable.takeError()) << "\n";
            return true;
          }
          if (fuse)
            compileSeconds = now() - start;
          executables[fuse ? 0 : 1] = *executable;
        }
        LayerBuffers buffers(signature, rng, /*weightScale=*/0.1f);
        std::vector<BufferView> &args = buffers.args, &results = buffers.results;
        for (unsigned t : threads) {
          std::vector<std::function<void()>> variants = {runner(executables[0], args, results, t)};
          if (timeParts)
            variants.push_back(runner(executables[1], args, results, t));
          TimingPlan plan = rowPlan();
          plan.peakSeconds = 0;
          RowTimes times = measureRow(variants, t, plan);
          double fused = times.seconds[0].median();
          std::string parts = "—", speedup = "—";
          if (timeParts) {
            parts = withSpread(times.seconds[1].median() * 1e3, times.seconds[1]);
            speedup = llvm::formatv("{0:F2}x", times.seconds[1].median() / fused).str();
          }
          llvm::outs() << llvm::format("| %s | %lld | %lld | %u | %s | %s | %s | %.0f |\n",
                                       hybrid.name, (long long)tokens, (long long)d, t,
                                       withSpread(fused * 1e3, times.seconds[0]).c_str(),
                                       parts.c_str(), speedup.c_str(), compileSeconds * 1e3);
          llvm::outs().flush();
        }
      }
  return false;
}

/// Forward and backward (linrec-build-backward's derivation, compiled for the CPU) of each
/// family whose body has a derived backward, B and H as given, no initial state: ms of each,
/// and GFLOP/s of the two together counting the chunked FLOPs of the recurrences run (the
/// forward's F; the backward's dq, dk and dv recurrences 3F; the gates' cumulative sums
/// are left out), as percentages of the FMA peak of the same rounds and of the best GEMM.
/// Returns true after printing an error.
static bool timeBackward(mlir::MLIRContext &context, KernelCompiler &compiler,
                         llvm::ArrayRef<std::string> families, llvm::ArrayRef<int64_t> lengths,
                         llvm::ArrayRef<int64_t> dims, llvm::ArrayRef<unsigned> threads,
                         const MeasuredCeilings &ceilings) {
  llvm::outs() << "\n| backward | T | d | threads | fwd ms (spread) | bwd ms (spread) | "
                  "fwd+bwd GFLOP/s | % of FMA peak | % of best GEMM | bwd compile ms |\n"
               << "|---|---|---|---|---|---|---|---|---|---|\n";
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  for (const std::string &family : families)
    for (int64_t d : dims)
      for (int64_t tokens : lengths) {
        LayerConfig config = familyConfig(*parseLayerKind(family), d);
        LayerShapes shapes = familyShapes(config.kind, tokens, d);
        bool tensorAttention = config.kind == LayerKind::TensorAttention;
        if (tensorAttention) { // as its forward table: d = dv = 16, degree 2 (273 features)
          if (d != dims.front())
            break;
          config.degree = 2;
          config.scale = 0.25;
          shapes.keyDim = shapes.valueDim = 16;
        }
        mlir::OwningOpRef<mlir::ModuleOp> module =
            mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
        auto forward = buildLayerFunction(*module, "layer", config, shapes);
        if (!forward) {
          llvm::errs() << llvm::toString(forward.takeError()) << "\n";
          return true;
        }
        mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
        pm.addPass(createLinrecNormalize());
        LinrecBuildBackwardOptions backwardOptions;
        backwardOptions.function = "layer";
        backwardOptions.transposedReads = transposedReads;
        pm.addPass(createLinrecBuildBackward(backwardOptions));
        pm.addPass(mlir::createCanonicalizerPass());
        if (mlir::failed(pm.run(*module))) {
          llvm::outs() << "| " << family << " | — | " << d << " | — | no derived backward |\n";
          break;
        }
        auto backward = module->lookupSymbol<mlir::func::FuncOp>("layer_backward");
        // Log-decays (g, gk, gv) negative, everything else (cotangents included) small normals.
        std::deque<std::vector<float>> storage;
        auto buffers = [&](mlir::func::FuncOp f, bool results) {
          std::vector<BufferView> list;
          unsigned n = results ? f.getNumResults() : f.getNumArguments();
          for (unsigned i = 0; i < n; ++i) {
            auto type = mlir::cast<mlir::RankedTensorType>(results ? f.getResultTypes()[i]
                                                                   : f.getArgumentTypes()[i]);
            auto name = results ? mlir::StringAttr() : f.getArgAttrOfType<mlir::StringAttr>(i, "linrec.name");
            bool gate = name && llvm::is_contained({"g", "gk", "gv"}, name.getValue());
            std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
            storage.emplace_back(Array::numElementsOf(shape));
            for (float &x : storage.back())
              x = results ? 0.0f : gate ? -float(decayScale) * std::abs(normal(rng)) : 0.1f * normal(rng);
            list.push_back(BufferView{storage.back().data(), DType::F32, shape});
          }
          return list;
        };
        mlir::func::FuncOp layer = module->lookupSymbol<mlir::func::FuncOp>("layer");
        std::vector<BufferView> forwardArgs = buffers(layer, false), forwardResults = buffers(layer, true);
        std::vector<BufferView> backwardArgs = buffers(backward, false),
                                backwardResults = buffers(backward, true);
        bool delta = llvm::is_contained({LayerKind::DeltaNet, LayerKind::GatedDeltaNet,
                                         LayerKind::KDA},
                                        config.kind);
        double flops = flopsPerToken(delta, benchOptions.cpu.chunkSize, d, d) * tokens * heads *
                       batchSize;
        for (unsigned t : threads) {
          KernelOptions options = benchOptions;
          options.cpu.threads = t;
          double start = now();
          auto backwardExecutable = compileFunction(compiler, *module, "layer_backward", options);
          double compileSeconds = now() - start;
          auto forwardExecutable = compileFunction(compiler, *module, "layer", options);
          if (!backwardExecutable || !forwardExecutable) {
            llvm::errs() << (backwardExecutable ? llvm::toString(forwardExecutable.takeError())
                                                : llvm::toString(backwardExecutable.takeError()))
                         << "\n";
            return true;
          }
          RowTimes times = measureRow({runner(*forwardExecutable, forwardArgs, forwardResults, t),
                                       runner(*backwardExecutable, backwardArgs, backwardResults, t)},
                                      t, rowPlan());
          double fwd = times.seconds[0].median(), bwd = times.seconds[1].median();
          std::string fwdMs = withSpread(fwd * 1e3, times.seconds[0]),
                      bwdMs = withSpread(bwd * 1e3, times.seconds[1]);
          if (tensorAttention) { // the token scan: no chunked FLOP count to compare
            llvm::outs() << llvm::format("| %s | %lld | 16 | %u | %s | %s | — | — | — | %.0f |\n",
                                         family.c_str(), (long long)tokens, t, fwdMs.c_str(),
                                         bwdMs.c_str(), compileSeconds * 1e3);
            continue;
          }
          double gflops = 4 * flops / (fwd + bwd) / 1e9;
          llvm::outs() << llvm::format(
              "| %s | %lld | %lld | %u | %s | %s | %.1f | %.0f%% | %.0f%% | %.0f |\n",
              family.c_str(), (long long)tokens, (long long)d, t, fwdMs.c_str(), bwdMs.c_str(),
              gflops, times.percentOfPeak({0, 1}, 4 * flops),
              100 * gflops / ceilings.bestGemm.at(t).median(), compileSeconds * 1e3);
          llvm::outs().flush();
        }
      }
  return false;
}

/// The forward of each family (its recurrence's kernel, default schedule, and with a tuning
/// database also the tuned one): ms, GFLOP/s of the chunked algorithm, % of the FMA peak of
/// the same rounds and of the best GEMM. Returns true after printing an error.
static bool timeForward(mlir::MLIRContext &context, KernelCompiler &compiler,
                        KernelCompiler *tuned, llvm::ArrayRef<std::string> families,
                        llvm::ArrayRef<int64_t> lengths, llvm::ArrayRef<int64_t> dims,
                        llvm::ArrayRef<unsigned> threads, const MeasuredCeilings &ceilings) {
  llvm::outs() << "\n| model | T | d | threads | heads/item | ms (spread) | GFLOP/s | "
                  "% of FMA peak | % of best GEMM |"
               << (tuned ? " tuned ms (spread) | tuned speed-up |" : "")
               << " compile ms |\n|---|---|---|---|---|---|---|---|---|"
               << (tuned ? "---|---|" : "") << "---|\n";
  std::mt19937_64 rng(0);
  std::normal_distribution<float> normal;
  for (const std::string &family : families) {
    std::optional<LayerKind> kind = parseLayerKind(family);
    for (int64_t d : dims)
      for (int64_t tokens : lengths) {
        LayerConfig config = familyConfig(*kind, d);
        LayerShapes shapes = familyShapes(*kind, tokens, d);
        KernelOptions options = benchOptions;
        mlir::OwningOpRef<mlir::ModuleOp> module;
        RecurrenceOp op;
        auto kernel = compileLayer(context, compiler, config, shapes, options, module, op);
        if (!kernel)
          return true;
        // Buffers shaped like the recurrence's operands and results.
        std::vector<std::vector<float>> storage;
        std::vector<std::vector<double>> storage64; // f64 params (lightning's decays)
        std::vector<BufferView> operands, results;
        auto addBuffer = [&](mlir::Type type, std::vector<BufferView> &list, bool gate) {
          auto tensor = mlir::cast<mlir::RankedTensorType>(type);
          std::vector<int64_t> shape(tensor.getShape().begin(), tensor.getShape().end());
          auto value = [&] {
            return gate ? -float(decayScale) * std::abs(normal(rng)) : 0.1f * normal(rng);
          };
          if (tensor.getElementType().isF64()) {
            storage64.emplace_back(Array::numElementsOf(shape));
            for (double &x : storage64.back())
              x = value();
            list.push_back(BufferView{storage64.back().data(), DType::F64, shape});
            return;
          }
          storage.emplace_back(Array::numElementsOf(shape));
          for (float &x : storage.back())
            x = value();
          list.push_back(BufferView{storage.back().data(), DType::F32, shape});
        };
        storage.reserve(16);
        storage64.reserve(4);
        for (auto [i, v] : llvm::enumerate(op->getOperands()))
          addBuffer(v.getType(), operands, i >= 3);
        for (mlir::Type t : op->getResultTypes())
          addBuffer(t, results, false);
        bool delta = kernel->algorithm() == Algorithm::ChunkedDelta;
        double flops = flopsPerToken(delta, options.cpu.chunkSize, d, d) * tokens * heads * batchSize;
        for (unsigned t : threads) {
          // The schedule may depend on the thread count (heads per work item).
          options.cpu.threads = t;
          mlir::OwningOpRef<mlir::ModuleOp> threadModule;
          RecurrenceOp threadOp;
          kernel = compileLayer(context, compiler, config, shapes, options, threadModule, threadOp);
          if (!kernel)
            return true;
          std::vector<std::function<void()>> variants = {runner(*kernel, operands, results, t)};
          std::shared_ptr<const Kernel> tunedKernel;
          if (tuned) {
            auto compiled = tuned->compile(threadOp, options);
            if (!compiled) {
              llvm::errs() << llvm::toString(compiled.takeError()) << "\n";
              return true;
            }
            tunedKernel = *compiled;
            variants.push_back(runner(*tunedKernel, operands, results, t));
          }
          RowTimes times = measureRow(variants, t, rowPlan());
          double s = times.seconds[0].median();
          double gflops = flops / s / 1e9;
          std::string tunedColumns;
          if (tuned)
            tunedColumns =
                withSpread(times.seconds[1].median() * 1e3, times.seconds[1]) +
                llvm::formatv(" | {0:F2}x |", s / times.seconds[1].median()).str();
          llvm::outs() << llvm::format(
              "| %s | %lld | %lld | %u | %lld | %s | %.1f | %.0f%% | %.0f%% |%s %.0f |\n",
              family.c_str(), (long long)tokens, (long long)d, t,
              (long long)kernel->headsPerItem(), withSpread(s * 1e3, times.seconds[0]).c_str(),
              gflops, times.percentOfPeak({0}, flops),
              100 * gflops / ceilings.bestGemm.at(t).median(),
              tuned ? (" " + tunedColumns).c_str() : "", kernel->compileSeconds() * 1e3);
          llvm::outs().flush();
        }
      }
  }
  return false;
}

/// Tensor attention (B, H as given, d = dv = 16, Taylor degree 1 and 2): the token scan (the
/// default) against the chunked product form at chunks of 4, 8 and 16. Returns true after
/// printing an error.
static bool timeTensorAttention(mlir::MLIRContext &context, KernelCompiler &compiler,
                                llvm::ArrayRef<int64_t> lengths, llvm::ArrayRef<unsigned> threads) {
  const int64_t chunks[] = {4, 8, 16};
  llvm::outs() << "\n| tensor attention (d = dv = 16) | degree | T | threads | scan ms "
                  "(spread) | chunked C=4 ms | C=8 ms | C=16 ms |\n"
               << "|---|---|---|---|---|---|---|---|\n";
  std::mt19937_64 rng(2);
  for (int64_t degree : {1, 2})
    for (int64_t tokens : lengths) {
      LayerConfig config;
      config.kind = LayerKind::TensorAttention;
      config.degree = degree;
      config.scale = 0.25;
      LayerShapes shapes;
      shapes.batch = batchSize;
      shapes.tokens = tokens;
      shapes.heads = heads;
      shapes.keyDim = shapes.valueDim = 16;
      mlir::OwningOpRef<mlir::ModuleOp> module =
          mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
      auto signature = buildLayerFunction(*module, "layer", config, shapes);
      if (!signature) {
        llvm::errs() << llvm::toString(signature.takeError()) << "\n";
        return true;
      }
      std::vector<Executable> executables; // the scan, then each chunk size
      for (int64_t c : {int64_t(0), chunks[0], chunks[1], chunks[2]}) {
        KernelOptions options = benchOptions;
        options.cpu.chunkedProducts = c > 0;
        if (c > 0)
          options.cpu.chunkSize = c;
        auto executable = compileFunction(compiler, *module, "layer", options);
        if (!executable) {
          llvm::errs() << llvm::toString(executable.takeError()) << "\n";
          return true;
        }
        executables.push_back(*executable);
      }
      LayerBuffers buffers(*signature, rng, /*weightScale=*/1.0f);
      for (unsigned t : threads) {
        std::vector<std::function<void()>> variants;
        for (const Executable &executable : executables)
          variants.push_back(runner(executable, buffers.args, buffers.results, t));
        TimingPlan plan = rowPlan();
        plan.peakSeconds = 0;
        RowTimes times = measureRow(variants, t, plan);
        llvm::SmallVector<std::string> ms;
        for (const Samples &samples : times.seconds)
          ms.push_back(withSpread(samples.median() * 1e3, samples));
        llvm::outs() << llvm::format("| tensor_attention | %lld | %lld | %u | %s | %s | %s | "
                                     "%s |\n",
                                     (long long)degree, (long long)tokens, t, ms[0].c_str(),
                                     ms[1].c_str(), ms[2].c_str(), ms[3].c_str());
        llvm::outs().flush();
      }
    }
  return false;
}

/// Seconds to read `bytes` of `data` once on `threads` threads (a sum over it): the bare
/// state read time a decode step's latency is held against.
static double readSeconds(unsigned threads, const float *data, size_t bytes) {
  size_t n = bytes / sizeof(float);
  volatile float sink = 0;
  int parts = int(threads);
  TimingPlan plan = rowPlan();
  plan.peakSeconds = 0;
  auto read = [&] {
    float total = 0;
#pragma omp parallel for num_threads(parts) schedule(static, 1) reduction(+ : total)
    for (int p = 0; p < parts; ++p) {
      float part = 0;
      size_t begin = n * p / parts, end = n * (p + 1) / parts;
#pragma omp simd reduction(+ : part)
      for (size_t i = begin; i < end; ++i)
        part += data[i];
      total += part;
    }
    sink = sink + total;
  };
  return measureRow({read}, threads, plan).seconds[0].median();
}

/// The decode step as a server runs it: one token for each of B sequences whose states live
/// in a pool of 2B slots (every other slot, in shuffled order: state_indices), the layer
/// function updating the pool in place (the path of Layer.step, linrec.ops' ssm_state_indices
/// and the C API), the token scan, H heads of dk = dv = 128. µs per step and the state
/// traffic (read + write of the B states) against the copy bandwidth measured in the same run
/// on the same threads, beyond the last-level cache (the ceilings) and over the states' size;
/// for B = 1 also the bare read time of its states. States in f32 and in bf16 (read into
/// f32, rounded back once per step: half the traffic). Returns true after printing an error.
static bool timeDecode(mlir::MLIRContext &context, KernelCompiler &compiler,
                       llvm::ArrayRef<unsigned> threads, const MeasuredCeilings &ceilings) {
  llvm::outs() << "\n| decode model | state | B x H | d | states MiB | threads | us / step "
                  "(spread) | state GB/s | % of copy beyond LLC | % of copy (same size) | "
                  "bare read us |\n"
               << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::mt19937_64 rng(11);
  for (const char *family : {"gated_delta", "gla"})
    for (bool bf16 : {false, true})
    for (int64_t h : {int64_t(8), int64_t(32)})
      for (int64_t batch : {1, 8, 64, 256}) {
        int64_t d = 128, slots = 2 * batch;
        LayerConfig config;
        config.kind = *parseLayerKind(family);
        config.initialState = true;
        config.stateIndices = true;
        config.scale = 1.0 / std::sqrt(double(d));
        LayerShapes shapes;
        shapes.batch = batch;
        shapes.tokens = 1;
        shapes.heads = h;
        shapes.keyDim = shapes.valueDim = d;
        shapes.stateSlots = slots;
        if (bf16)
          shapes.stateType = mlir::BFloat16Type::get(&context);
        mlir::OwningOpRef<mlir::ModuleOp> module =
            mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
        auto layer = buildLayerFunction(*module, "layer", config, shapes);
        if (!layer) {
          llvm::errs() << llvm::toString(layer.takeError()) << "\n";
          return true;
        }
        KernelOptions options = benchOptions;
        options.cpu.sequential = true;
        auto executable = compileFunction(compiler, *module, "layer", options);
        if (!executable) {
          llvm::errs() << llvm::toString(executable.takeError()) << "\n";
          return true;
        }
        // Every other slot of the pool, shuffled: the states a batch touches are scattered.
        std::vector<int32_t> indices(batch);
        for (int64_t n = 0; n < batch; ++n)
          indices[n] = int32_t(2 * n);
        std::shuffle(indices.begin(), indices.end(), rng);
        std::deque<std::vector<float>> storage;
        std::vector<uint16_t> bf16Pool;
        std::vector<BufferView> args, results;
        void *pool = nullptr;
        DType stateDType = bf16 ? DType::BF16 : DType::F32;
        for (auto [i, type] : llvm::enumerate(layer->getArgumentTypes())) {
          auto tensor = mlir::cast<mlir::RankedTensorType>(type);
          std::vector<int64_t> shape(tensor.getShape().begin(), tensor.getShape().end());
          auto name = layer->getArgAttrOfType<mlir::StringAttr>(i, "linrec.name").getValue();
          if (name == "state_indices") {
            args.push_back(BufferView{indices.data(), DType::I32, shape});
            continue;
          }
          float value = name == "g" || name == "gk" ? -0.01f : name == "beta" ? 0.5f : 0.01f;
          if (name == "initial_state" && bf16) {
            bf16Pool.assign(Array::numElementsOf(shape), doubleToBf16(value));
            pool = bf16Pool.data();
            args.push_back(BufferView{pool, DType::BF16, shape});
            continue;
          }
          storage.emplace_back(Array::numElementsOf(shape), value);
          args.push_back(BufferView{storage.back().data(), DType::F32, shape});
          if (name == "initial_state")
            pool = storage.back().data();
        }
        auto oType = mlir::cast<mlir::RankedTensorType>(layer->getResultTypes()[0]);
        std::vector<int64_t> oShape(oType.getShape().begin(), oType.getShape().end());
        storage.emplace_back(Array::numElementsOf(oShape));
        results.push_back(BufferView{storage.back().data(), DType::F32, oShape});
        results.push_back(BufferView{pool, stateDType, {slots, h, d, d}}); // in place
        double stateBytes = double(batch) * h * d * d * dtypeBytes(stateDType);
        for (unsigned t : threads) {
          TimingPlan plan = rowPlan();
          plan.peakSeconds = 0;
          RowTimes times = measureRow({runner(*executable, args, results, t)}, t, plan);
          double s = times.seconds[0].median();
          double gbs = 2.0 * stateBytes / s / 1e9;
          double sameSize = copyBandwidth(t, size_t(stateBytes), 0.1);
          std::string read = "";
          if (batch == 1) // slot indices[0]'s states, contiguous (the same bytes as f32s)
            read = llvm::formatv(
                "{0:f1}", 1e6 * readSeconds(t,
                                            reinterpret_cast<const float *>(
                                                static_cast<const char *>(pool) +
                                                size_t(indices[0]) * size_t(stateBytes)),
                                            size_t(stateBytes)));
          llvm::outs() << llvm::format(
              "| %s | %s | %lld x %lld | %lld | %.1f | %u | %s | %.1f | %.0f%% | %.0f%% | %s |\n",
              family, bf16 ? "bf16" : "f32", (long long)batch, (long long)h, (long long)d,
              stateBytes / (1 << 20), t, withSpread(s * 1e6, times.seconds[0], "{0:F1}").c_str(),
              gbs, 100 * gbs / ceilings.bandwidth.at(t).median(), 100 * gbs / sameSize,
              read.c_str());
          llvm::outs().flush();
        }
      }
  return false;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Every CPU schedule option but the threads, which each row sets (--num-threads).
  ScheduleFlags scheduleFlags(toolCategory, /*withGpu=*/false, {"threads"});
  setUpToolOptions("linrec-bench", toolCategory);
  cl::ParseCommandLineOptions(argc, argv, "linrec-bench: CPU forward benchmarks\n");
  if (llvm::Error e = scheduleFlags.apply(benchOptions.cpu, "the CPU benchmarks")) {
    llvm::errs() << "linrec-bench: error: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  std::vector<std::string> families(models.begin(), models.end());
  if (families.empty())
    families = {"linear", "lightning", "simple_gla", "gla",     "delta",
                "gated_delta", "kda", "hybrids", "tensor_attention"};
  // Hybrids and tensor attention have their own tables (fused vs parts, scan vs chunked).
  bool hybrids = llvm::is_contained(families, "hybrids");
  llvm::erase(families, "hybrids");
  bool tensorAttention = llvm::is_contained(families, "tensor_attention");
  llvm::erase(families, "tensor_attention");
  // Every name is checked before anything is measured.
  for (const std::string &family : families)
    if (!parseLayerKind(family)) {
      llvm::errs() << "linrec-bench: error: unknown model '" << family
                   << "' (a family of linrec.models(), hybrids or tensor_attention)\n";
      return 1;
    }
  std::vector<int64_t> lengths(tokenCounts.begin(), tokenCounts.end());
  if (lengths.empty())
    lengths = {1024, 4096, 16384};
  std::vector<int64_t> dims(headDims.begin(), headDims.end());
  if (dims.empty())
    dims = {128, 64};
  std::vector<unsigned> threads(threadCounts.begin(), threadCounts.end());
  if (threads.empty())
    threads = {1, 2};

  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  KernelCompiler compiler;

  // Reproducible kernels: the default schedule, whatever database the environment names.
  compiler.setTuningDatabase("");
  std::unique_ptr<KernelCompiler> tuned;
  if (!tuningDb.empty()) {
    // Checked here: a database that does not load would leave the tuned column untuned.
    if (!llvm::sys::fs::exists(tuningDb)) {
      llvm::errs() << "linrec-bench: error: --tuning-db: no such file: " << tuningDb << "\n";
      return 1;
    }
    if (auto database = TuningDatabase::load(tuningDb); !database) {
      llvm::errs() << "linrec-bench: error: " << llvm::toString(database.takeError()) << "\n";
      return 1;
    }
    tuned = std::make_unique<KernelCompiler>();
    tuned->setTuningDatabase(tuningDb);
  }

  HostDescription host = describeHost();
  MeasuredCeilings ceilings = measureCeilings(host, threads);
  printCeilings(host, ceilings, threads);
  std::mt19937_64 rng(0);
  std::normal_distribution<float> normal;
  if (backwardOnly) {
    std::vector<std::string> derived = {"linear", "lightning",   "simple_gla",
                                        "gla",    "gated_delta", "kda"};
    if (!models.empty())
      derived = families;
    if (tensorAttention)
      derived.push_back("tensor_attention");
    return timeBackward(context, compiler, derived, lengths, dims, threads, ceilings) ? 1 : 0;
  }
  if (!decodeOnly &&
      timeForward(context, compiler, tuned.get(), families, lengths, dims, threads, ceilings))
    return 1;
  // The window attention of the hybrid layers (Liger Attention, LoLCATs, DiagAttention):
  // a sliding softmax window of 64 keys, FLOPs counted over the keys each query sees.
  if (!decodeOnly) {
    llvm::outs() << "\n| window attention | T | d | threads | ms (spread) | GFLOP/s | % of FMA "
                    "peak | % of best GEMM | compile ms |\n"
                 << "|---|---|---|---|---|---|---|---|---|\n";
    for (int64_t d : dims)
      for (int64_t tokens : lengths) {
        int64_t window = 64;
        std::string type = "tensor<" + std::to_string(batchSize) + "x" + std::to_string(tokens) +
                           "x" + std::to_string(heads) + "x" + std::to_string(d) + "xf32>";
        std::string text = "func.func @w(%q: " + type + ") {\n  %o = linrec.window_attention %q, %q, %q "
                           "window <sliding> size 64 weighting <softmax> : (" + type + ", " + type +
                           ", " + type + ") -> " + type + "\n  return\n}\n";
        auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
        WindowAttentionOp op;
        module->walk([&](WindowAttentionOp found) { op = found; });
        KernelOptions options = benchOptions;
        auto kernel = compiler.compile(op, options);
        if (!kernel) {
          llvm::errs() << llvm::toString(kernel.takeError()) << "\n";
          return 1;
        }
        std::vector<int64_t> shape = {batchSize, tokens, heads, d};
        std::vector<float> x(Array::numElementsOf(shape)), o(x.size());
        for (float &value : x)
          value = 0.1f * normal(rng);
        BufferView in{x.data(), DType::F32, shape}, out{o.data(), DType::F32, shape};
        // Keys seen: Σ_i min(i + 1, W) per (batch, head); 2 FLOPs per key and dim, twice.
        double keys = double(window) * tokens - double(window) * (window - 1) / 2;
        double flops = 4.0 * keys * d * heads * batchSize;
        std::vector<BufferView> ins = {in, in, in}, outs = {out};
        for (unsigned t : threads) {
          RowTimes times = measureRow({runner(**kernel, ins, outs, t)}, t, rowPlan());
          double s = times.seconds[0].median();
          double gflops = flops / s / 1e9;
          llvm::outs() << llvm::format(
              "| sliding 64, softmax | %lld | %lld | %u | %s | %.1f | %.0f%% | %.0f%% | %.0f |\n",
              (long long)tokens, (long long)d, t, withSpread(s * 1e3, times.seconds[0]).c_str(),
              gflops, times.percentOfPeak({0}, flops),
              100 * gflops / ceilings.bestGemm.at(t).median(), (*kernel)->compileSeconds() * 1e3);
          llvm::outs().flush();
        }
      }
  }

  if (hybrids && !decodeOnly && timeHybrids(context, compiler, lengths, dims, threads))
    return 1;
  if (tensorAttention && !decodeOnly && timeTensorAttention(context, compiler, lengths, threads))
    return 1;

  return decode && timeDecode(context, compiler, threads, ceilings) ? 1 : 0;
}
