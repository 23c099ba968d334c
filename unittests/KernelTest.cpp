//===- KernelTest.cpp - CPU kernels against the float64 reference ------===//
//
// A randomized sweep over models, shapes, chunk sizes, decay strengths and initial states;
// a long strongly-decayed sequence; prefill followed by in-place decode steps; the kernel
// cache; and the run-time checks of the CPU runtime.
//
//===----------------------------------------------------------------------===//

#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/Executable.h"
#include "TestOptions.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/JitEngine.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Reference/WindowAttention.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Parser/Parser.h"

#include "mlir/Pass/PassManager.h"
#include "gtest/gtest.h"

#include <cmath>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <map>
#include <random>

using namespace linrec;

namespace {

using Inputs = std::map<std::string, Array>;

struct Shape {
  int64_t batch, tokens, heads, dk, dv;
  int64_t da = 0; // q_attn, k_attn (liger_attention); dk when 0
  int64_t features = 0; // hedgehog, lolcats: F
  int64_t attentionDim() const { return da ? da : dk; }
};

class KernelTest : public ::testing::Test {
protected:
  KernelTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// A module holding the layer, normalized so that its recurrence can be compiled directly.
  mlir::OwningOpRef<mlir::ModuleOp> buildLayer(LayerConfig config, const Shape &s,
                                               int64_t sequences = 0,
                                               mlir::Type elementType = {}) {
    LayerShapes shapes;
    shapes.batch = s.batch;
    shapes.tokens = s.tokens;
    shapes.heads = s.heads;
    shapes.keyDim = s.dk;
    shapes.valueDim = s.dv;
    shapes.sequences = sequences;
    shapes.attentionDim = s.attentionDim();
    shapes.features = s.features;
    shapes.elementType = elementType;
    auto module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
    auto func = buildLayerFunction(module, "layer", config, shapes);
    EXPECT_TRUE(static_cast<bool>(func)) << (func ? "" : llvm::toString(func.takeError()));
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    pm.addPass(createLinrecNormalize());
    EXPECT_TRUE(mlir::succeeded(pm.run(module)));
    return module;
  }

  RecurrenceOp recurrenceOf(mlir::ModuleOp module) {
    RecurrenceOp op;
    module.walk([&](RecurrenceOp r) { op = r; });
    return op;
  }

  Inputs randomInputs(const LayerConfig &config, const Shape &s, double decayLo, double decayHi,
                      int64_t sequences = 0) {
    Inputs in;
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    auto make = [](std::vector<int64_t> shape, auto value) { return drawnArray(shape, value); };
    int64_t B = s.batch, T = s.tokens, H = s.heads;
    int64_t N = config.varlen ? sequences : B;
    for (const std::string &name : layerInputNames(config)) {
      if (name == "q" || name == "k")
        in[name] = make({B, T, H, s.dk}, [&] { return normal(rng); });
      else if (name == "Wq" || name == "Wk")
        in[name] = make({H, s.dk, s.features}, [&] { return 0.3 * normal(rng); });
      else if (name == "bq" || name == "bk")
        in[name] = make({H, s.features}, [&] { return 0.3 * normal(rng); });
      else if (name == "window_logit")
        in[name] = make({H}, [&] { return normal(rng); });
      else if (name == "q_attn" || name == "k_attn")
        in[name] = make({B, T, H, s.attentionDim()}, [&] { return normal(rng); });
      else if (name == "graw") // logsigmoid(3·normal) reaches log-decays near −10
        in[name] = make({B, T, H, s.dk}, [&] { return 3.0 * normal(rng); });
      else if (name == "v")
        in[name] = make({B, T, H, s.dv}, [&] { return normal(rng); });
      else if (name == "g")
        in[name] = make({B, T, H}, [&] { return decayLo + (decayHi - decayLo) * uniform(rng); });
      else if (name == "gk")
        in[name] = make({B, T, H, s.dk}, [&] { return decayLo + (decayHi - decayLo) * uniform(rng); });
      else if (name == "gv")
        in[name] = make({B, T, H, s.dv}, [&] { return decayLo + (decayHi - decayLo) * uniform(rng); });
      else if (name == "beta")
        in[name] = make({B, T, H}, [&] { return uniform(rng); });
      else if (name == "initial_state")
        in[name] = make({N, H, s.dk, s.dv}, [&] { return 0.5 * normal(rng); });
      else if (name == "initial_z")
        in[name] = make({N, H, s.dk}, [&] { return uniform(rng); });
      else if (name == "cu_seqlens") {
        Array cu(DType::I32, {N + 1});
        std::uniform_int_distribution<int64_t> cut(0, T);
        std::vector<int64_t> cuts;
        for (int64_t i = 1; i < N; ++i)
          cuts.push_back(cut(rng));
        std::sort(cuts.begin(), cuts.end());
        for (int64_t i = 1; i < N; ++i)
          cu.data[i] = static_cast<double>(cuts[i - 1]);
        cu.data[N] = static_cast<double>(T);
        in[name] = cu;
      }
    }
    // Delta rules take unit-norm keys; feature-mapped linear attention takes small inputs.
    if (config.kind == LayerKind::DeltaNet || config.kind == LayerKind::GatedDeltaNet ||
        config.kind == LayerKind::KDA)
      normalizeRows(in["k"], s.dk);
    return in;
  }

  /// Runs the layer on the reference and on the CPU; returns the worst relative RMS error.
  double compare(LayerConfig config, const Shape &s, const KernelOptions &options,
                 double decayLo, double decayHi, int64_t sequences = 0,
                 mlir::Type elementType = {}) {
    auto module = buildLayer(config, s, sequences, elementType);
    Inputs in = randomInputs(config, s, decayLo, decayHi, sequences);
    // 16-bit inputs: both sides see the same rounded values.
    if (elementType)
      for (const char *name : {"q", "k", "v", "g", "gk", "gv", "beta"})
        if (in.count(name))
          for (double &x : in[name].data)
            x = elementType.isBF16() ? bf16ToDouble(doubleToBf16(x))
                                     : halfToDouble(doubleToHalf(x));
    return compareOn(*module, config, in, options);
  }

  /// Runs the layer in `module` on `in` on the reference and on the CPU; returns the worst
  /// relative RMS error.
  double compareOn(mlir::ModuleOp module, const LayerConfig &config, Inputs &in,
                   const KernelOptions &options) {
    std::vector<Array> args;
    for (const std::string &name : layerInputNames(config))
      args.push_back(in[name]);
    auto reference = interpretFunction(module, "layer", args);
    auto cpu = evaluateFunction(module, "layer", args,
                                [&](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
                                  return runKernelOp(compiler, op, operands, options);
                                },
                                /*fuse=*/true);
    if (!reference || !cpu) {
      ADD_FAILURE() << (reference ? "" : llvm::toString(reference.takeError()))
                    << (cpu ? "" : llvm::toString(cpu.takeError()));
      return INFINITY;
    }
    double worst = 0;
    for (size_t i = 0; i < reference->size(); ++i) {
      EXPECT_FALSE(hasNonFinite((*cpu)[i])) << "output #" << i << " holds NaN or Inf";
      worst = std::max(worst, relativeRmsError((*cpu)[i], (*reference)[i]));
    }
    return worst;
  }

  /// An f32 array of `shape` whose entries `value()` draws (rounded to f32).
  template <typename Draw>
  static Array drawnArray(std::vector<int64_t> shape, Draw value) {
    Array a(DType::F32, shape);
    for (double &x : a.data)
      x = static_cast<float>(value());
    return a;
  }

  /// An f32 array of `shape` with entries scale · N(0, 1).
  Array normalArray(std::vector<int64_t> shape, double scale) {
    std::normal_distribution<double> normal;
    return drawnArray(shape, [&] { return scale * normal(rng); });
  }

  /// The CPU kernels a test runs a recurrence through: the chunked kernel, the scan, and the
  /// GPU schedule run on the CPU.
  enum KernelForm { Chunked, Scan, GpuSchedule };
  static KernelOptions optionsFor(KernelForm kernel, int64_t chunkSize) {
    KernelOptions options;
    setChunkSize(options, chunkSize);
    setSequential(options, kernel == Scan);
    options.target = kernel == GpuSchedule ? Target::GPUScheduleOnCPU : Target::CPU;
    return options;
  }

  /// Scales every row of `width` elements of `a` to unit norm (delta-rule keys).
  static void normalizeRows(Array &a, int64_t width) {
    for (int64_t row = 0; row < a.numElements(); row += width) {
      double norm = 0;
      for (int64_t i = 0; i < width; ++i)
        norm += a.data[row + i] * a.data[row + i];
      for (int64_t i = 0; i < width; ++i)
        a.data[row + i] = static_cast<float>(a.data[row + i] / std::sqrt(norm));
    }
  }

  /// Arguments of the packed-sequence tests: `tokens` rows [1, 200, 2, 16] of 0.5·N(0, 1)
  /// (the second scaled to unit norm: a delta rule's keys), per-token scalars [1, 200, 2] of
  /// scale · U(0, 1) for each of `scalars` (log-decays, betas), `inits` initial states
  /// [4, 2, 16, 16], and cu_seqlens of four sequences of 5, 0, 125 and 70 tokens.
  std::vector<Array> packedSequenceArgs(int tokens, llvm::ArrayRef<double> scalars, int inits) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<Array> args;
    for (int i = 0; i < tokens; ++i)
      args.push_back(normalArray({1, 200, 2, 16}, 0.5));
    if (tokens > 1)
      normalizeRows(args[1], 16);
    for (double scale : scalars)
      args.push_back(drawnArray({1, 200, 2}, [&] { return scale * uniform(rng); }));
    for (int i = 0; i < inits; ++i)
      args.push_back(normalArray({4, 2, 16, 16}, 0.5));
    Array cu(DType::I32, {5});
    cu.data = {0, 5, 5, 130, 200};
    args.push_back(cu);
    return args;
  }

  /// Log-decays [B, T, H, width] whose chunks of `chunk` tokens alternate (with head and batch
  /// row) between strong ones (U(−4, −1) per token: far past the factoring bound e^{60}) and the
  /// mild ones drawn before; in mild chunk 2 channel 5 crosses the bound at the chunk's last
  /// token, in chunk 4 channel 7 stays just under it.
  void alternateDecayStrengths(Array &decays, const Shape &shape, int64_t width, int64_t chunk) {
    std::uniform_real_distribution<double> strong(-4.0, -1.0);
    for (int64_t b = 0; b < shape.batch; ++b)
      for (int64_t t = 0; t < shape.tokens; ++t)
        for (int64_t h = 0; h < shape.heads; ++h)
          for (int64_t d = 0; d < width; ++d) {
            int64_t c = t / chunk;
            double &g = decays.data[((b * shape.tokens + t) * shape.heads + h) * width + d];
            if ((c + h + b) % 2 == 1)
              g = strong(rng);
            else if (c == 2 && d == 5)
              g = -61.0 / chunk; // crosses the bound at the chunk's last token
            else if (c == 4 && d == 7)
              g = -59.5 / chunk; // stays under it
          }
  }

  /// Every result of `actual` finite and within `tolerance` (relative RMS) of `expected`.
  static void expectMatches(llvm::ArrayRef<Array> actual, llvm::ArrayRef<Array> expected,
                            double tolerance, const ::testing::Message &what) {
    ASSERT_EQ(actual.size(), expected.size()) << what;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_FALSE(hasNonFinite(actual[i])) << what << " result #" << i;
      EXPECT_LT(relativeRmsError(actual[i], expected[i]), tolerance) << what << " result #" << i;
    }
  }

  /// The layer's arguments, in order, from `in`.
  static std::vector<Array> layerArgs(const LayerConfig &config, Inputs &in) {
    std::vector<Array> args;
    for (const std::string &name : layerInputNames(config))
      args.push_back(in[name]);
    return args;
  }

  /// @funcName of `module` with every recurrence on the CPU kernels (nothing fused first).
  llvm::Expected<std::vector<Array>> runOnCpuKernels(mlir::ModuleOp module,
                                                      llvm::StringRef funcName,
                                                      llvm::ArrayRef<Array> args,
                                                      const KernelOptions &options) {
    return evaluateFunction(module, funcName, args,
                            [&](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
                              return runKernelOp(compiler, op, operands, options);
                            },
                            /*fuse=*/false);
  }

  void gpuSweep(const KernelOptions &gpu, double tolerance = 1e-5);

  mlir::MLIRContext context;
  KernelCompiler compiler;
  std::mt19937_64 rng{7};
};

TEST_F(KernelTest, RandomizedSweepMatchesTheReference) {
  struct Case {
    LayerKind kind;
    Shape shape;
    int64_t chunk;
    double decayLo, decayHi;
    bool init, sequential = false;
  };
  std::vector<Case> cases = {
      {LayerKind::Linear, {2, 1, 3, 16, 16}, 16, 0, 0, false},           // T = 1
      {LayerKind::Linear, {1, 77, 2, 32, 48}, 32, 0, 0, true},           // dk != dv
      {LayerKind::Lightning, {1, 130, 4, 64, 64}, 64, 0, 0, true},       // T % C != 0
      {LayerKind::SimpleGLA, {2, 200, 2, 16, 32}, 16, -10.0, -5.0, true}, // strong decays
      {LayerKind::SimpleGLA, {1, 300, 1, 128, 128}, 128, -0.01, 0.0, false},
      {LayerKind::GLA, {1, 97, 2, 32, 16}, 32, -0.05, 0.0, true},         // weak key decays
      {LayerKind::GLA, {2, 64, 1, 16, 64}, 16, -10.0, -1.0, false},       // strong key decays
      {LayerKind::DeltaNet, {1, 150, 2, 64, 32}, 64, 0, 0, true},
      {LayerKind::DeltaNet, {8, 40, 8, 16, 16}, 16, 0, 0, false},          // B·H = 64
      {LayerKind::GatedDeltaNet, {1, 257, 2, 32, 32}, 32, -2.0, 0.0, true},
      {LayerKind::GatedDeltaNet, {1, 65, 1, 256, 64}, 64, -10.0, 0.0, false}, // head dim 256
      {LayerKind::KDA, {1, 100, 2, 32, 32}, 32, -3.0, 0.0, true},
      {LayerKind::KDA, {1, 33, 3, 16, 16}, 16, -10.0, -5.0, false},
      {LayerKind::GLA, {1, 70, 2, 16, 24}, 24, -2.0, 0.0, true},  // C not a multiple of 16
      {LayerKind::KDA, {1, 70, 2, 24, 16}, 40, -2.0, 0.0, false},
      {LayerKind::SimpleGLA, {1, 70, 1, 20, 12}, 7, -1.0, 0.0, true},
      {LayerKind::GatedDeltaNet, {2, 45, 2, 16, 16}, 64, -1.0, 0.0, true, true}, // sequential
      {LayerKind::GLA, {1, 45, 2, 16, 16}, 64, -1.0, 0.0, true, true},
      {LayerKind::LigerGLA, {1, 150, 2, 64, 32}, 64, 0, 0, true},
      {LayerKind::LigerHGRN2, {2, 90, 2, 32, 32}, 32, 0, 0, false},
  };
  for (const Case &c : cases) {
    LayerConfig config;
    config.kind = c.kind;
    config.scale = 1.0 / std::sqrt(double(c.shape.dk));
    config.initialState = c.init;
    if (c.kind == LayerKind::Lightning)
      for (int64_t h = 0; h < c.shape.heads; ++h)
        config.logDecay.push_back(-std::exp2(-8.0 * (h + 1) / c.shape.heads));
    KernelOptions options;
    setChunkSize(options, c.chunk);
    setSequential(options, c.sequential);
    double error = compare(config, c.shape, options, c.decayLo, c.decayHi);
    EXPECT_LE(error, 1e-5) << layerKindName(c.kind).str() << " B=" << c.shape.batch
                           << " T=" << c.shape.tokens << " H=" << c.shape.heads
                           << " dk=" << c.shape.dk << " dv=" << c.shape.dv << " C=" << c.chunk
                           << (c.sequential ? " sequential" : "");
  }
}

// Every chunked family through the GPU lowering, with value tiles, padding, decays from near 0
// to near −10, normalizers, feature maps and variable lengths; `gpu` says where it runs (the
// schedule on the CPU, or the GPU).
void KernelTest::gpuSweep(const KernelOptions &gpu, double tolerance) {
  struct Case {
    LayerKind kind;
    Shape shape;
    int64_t chunk, valueTile;
    double decayLo, decayHi;
    bool init;
    int64_t sequences = 0; // varlen
  };
  std::vector<Case> cases = {
      {LayerKind::Linear, {2, 1, 3, 16, 16}, 16, 16, 0, 0, false},            // T = 1
      {LayerKind::Linear, {1, 77, 2, 32, 48}, 32, 16, 0, 0, true},            // dk != dv, 3 tiles
      {LayerKind::Lightning, {1, 130, 4, 64, 64}, 32, 64, 0, 0, true},        // T % C != 0
      {LayerKind::SimpleGLA, {2, 200, 2, 16, 32}, 16, 16, -10.0, -5.0, true}, // strong decays
      {LayerKind::GLA, {1, 97, 2, 32, 16}, 32, 16, -0.05, 0.0, true},         // weak key decays
      {LayerKind::GLA, {2, 64, 1, 16, 64}, 16, 32, -10.0, -1.0, false},       // strong key decays
      {LayerKind::DeltaNet, {1, 150, 2, 64, 32}, 64, 32, 0, 0, true},
      {LayerKind::DeltaNet, {8, 40, 8, 16, 16}, 16, 16, 0, 0, false},         // B·H = 64
      {LayerKind::GatedDeltaNet, {1, 257, 2, 32, 32}, 32, 16, -2.0, 0.0, true},
      {LayerKind::GatedDeltaNet, {1, 65, 1, 128, 128}, 32, 64, -10.0, 0.0, false},
      {LayerKind::KDA, {1, 100, 2, 32, 32}, 32, 32, -3.0, 0.0, true},
      {LayerKind::KDA, {1, 33, 3, 16, 16}, 16, 16, -10.0, -5.0, false},
      {LayerKind::GLA, {1, 70, 2, 16, 24}, 24, 24, -2.0, 0.0, true},          // C % 16 != 0
      {LayerKind::LigerGLA, {1, 150, 2, 64, 32}, 32, 32, 0, 0, true},
      {LayerKind::LigerHGRN2, {2, 90, 2, 32, 32}, 32, 32, 0, 0, false},
      {LayerKind::GatedDeltaNet, {1, 120, 2, 16, 16}, 16, 16, -1.0, 0.0, true, 6},
  };
  for (const Case &c : cases) {
    LayerConfig config;
    config.kind = c.kind;
    config.scale = 1.0 / std::sqrt(double(c.shape.dk));
    config.initialState = c.init;
    config.varlen = c.sequences > 0;
    if (c.kind == LayerKind::Lightning)
      for (int64_t h = 0; h < c.shape.heads; ++h)
        config.logDecay.push_back(-std::exp2(-8.0 * (h + 1) / c.shape.heads));
    KernelOptions options = gpu;
    setChunkSize(options, c.chunk);
    options.gpu.valueTile = c.valueTile;
    double error = compare(config, c.shape, options, c.decayLo, c.decayHi, c.sequences);
    EXPECT_LE(error, tolerance) << layerKindName(c.kind).str() << " B=" << c.shape.batch
                           << " T=" << c.shape.tokens << " H=" << c.shape.heads
                           << " dk=" << c.shape.dk << " dv=" << c.shape.dv << " C=" << c.chunk
                           << " value tile " << c.valueTile;
  }
  // The exact scan on the GPU (what MoM and tensor attention take), forced on chunkable ones.
  for (LayerKind kind : {LayerKind::GatedDeltaNet, LayerKind::GLA}) {
    LayerConfig config;
    config.kind = kind;
    config.initialState = true;
    KernelOptions options = gpu;
    setSequential(options, true);
    EXPECT_LE(compare(config, {2, 45, 2, 16, 24}, options, -1.0, 0.0), tolerance)
        << layerKindName(kind).str() << " sequential";
  }
  // A value decay, and a normalizer state with a feature map (whole rows: no value tiles).
  LayerConfig gla;
  gla.kind = LayerKind::GLA;
  gla.valueGate = true;
  KernelOptions options = gpu;
  setChunkSize(options, 16);
  EXPECT_LE(compare(gla, {1, 70, 2, 16, 32}, options, -1.0, 0.0), tolerance);
  LayerConfig normalized;
  normalized.normalize = true;
  normalized.eps = 1e-6f;
  normalized.featureMap = FeatureMapKind::EluPlusOne;
  normalized.initialState = true;
  normalized.initialZ = true;
  EXPECT_LE(compare(normalized, {1, 90, 2, 16, 24}, options, 0, 0), tolerance);
}

// The GPU schedule (linrec-lower-gpu before linrec-map-to-gpu: block and thread loops on
// workgroup tiles) run on the CPU.
TEST_F(KernelTest, GpuScheduleMatchesTheReference) {
  KernelOptions options;
  options.target = Target::GPUScheduleOnCPU;
  gpuSweep(options);
}

// The two-phase schedule: a state pass saving every chunk-start state, then a chunk-parallel
// output pass.
TEST_F(KernelTest, GpuTwoPhaseScheduleMatchesTheReference) {
  KernelOptions options;
  options.target = Target::GPUScheduleOnCPU;
  options.gpu.twoPhase = true;
  gpuSweep(options);
}

// The chunk's products as f16 matmuls with f32 accumulation (tensor cores once mapped): the
// error of f16 operands, about 1e-3 at most, within the bf16 acceptance of 5e-3.
TEST_F(KernelTest, GpuTensorCoreScheduleMatchesTheReference) {
  KernelOptions options;
  options.target = Target::GPUScheduleOnCPU;
  options.gpu.tensorCores = true;
  gpuSweep(options, 5e-3);
  options.gpu.twoPhase = true;
  gpuSweep(options, 5e-3);
}

// The same kernels on the GPU (PTX loaded by the CUDA driver), both schedules.
TEST_F(KernelTest, CudaKernelsMatchTheReference) {
  if (auto driver = CudaDriver::get(); !driver)
    GTEST_SKIP() << llvm::toString(driver.takeError());
  KernelOptions options;
  options.target = Target::CUDA;
  gpuSweep(options);
  options.gpu.twoPhase = true;
  gpuSweep(options);
  options.gpu.tensorCores = true;
  gpuSweep(options, 5e-3);
}

// Without a driver, a CUDA kernel compiles all the way to host code and PTX, then says why it
// cannot load.
TEST_F(KernelTest, CudaKernelWithoutDriverIsAClearError) {
  if (CudaDriver::get())
    GTEST_SKIP() << "a CUDA driver is present";
  else
    llvm::consumeError(CudaDriver::get().takeError());
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  auto module = buildLayer(config, {1, 40, 2, 16, 16});
  KernelOptions options;
  options.target = Target::CUDA;
  options.gpu.chip = "sm_90a";
  auto kernel = compiler.compile(recurrenceOf(*module), options);
  ASSERT_FALSE(static_cast<bool>(kernel));
  std::string message = llvm::toString(kernel.takeError());
  EXPECT_NE(message.find("no CUDA driver"), std::string::npos) << message;
}

TEST_F(KernelTest, NormalizedLinearAttentionWithFeatureMaps) {
  for (FeatureMapKind map : {FeatureMapKind::EluPlusOne, FeatureMapKind::Relu}) {
    LayerConfig config;
    config.normalize = true;
    config.eps = 1e-6f;
    config.featureMap = map;
    config.initialState = true;
    config.initialZ = true;
    KernelOptions options;
    setChunkSize(options, 32);
    EXPECT_LE(compare(config, {1, 90, 2, 16, 24}, options, 0, 0), 1e-5);
  }
}

TEST_F(KernelTest, HalfPrecisionInputsAccumulateInF32) {
  for (mlir::Type element : {mlir::Type(mlir::BFloat16Type::get(&context)),
                             mlir::Type(mlir::Float16Type::get(&context))}) {
    for (LayerKind kind : {LayerKind::GLA, LayerKind::GatedDeltaNet}) {
      LayerConfig config;
      config.kind = kind;
      config.initialState = true;
      KernelOptions options;
      setChunkSize(options, 32);
      EXPECT_LE(compare(config, {1, 100, 2, 32, 32}, options, -1.0, 0.0, 0, element), 1e-5)
          << layerKindName(kind).str();
    }
  }
}

TEST_F(KernelTest, ValueTilesSplitTheWorkOfOneHead) {
  // B·H = 1: the value-dim tiles are the only parallelism.
  for (LayerKind kind : {LayerKind::SimpleGLA, LayerKind::GLA, LayerKind::DeltaNet,
                         LayerKind::GatedDeltaNet, LayerKind::KDA}) {
    for (int64_t tiles : {2, 4}) {
      LayerConfig config;
      config.kind = kind;
      config.initialState = true;
      KernelOptions options;
      setChunkSize(options, 32);
      options.cpu.valueTiles = tiles;
      options.cpu.threads = 2;
      EXPECT_LE(compare(config, {1, 75, 1, 32, 64}, options, -2.0, 0.0), 1e-5)
          << layerKindName(kind).str() << " with " << tiles << " value tiles";
      auto module = buildLayer(config, {1, 75, 1, 32, 64});
      auto kernel = compiler.compile(recurrenceOf(*module), options);
      ASSERT_TRUE(static_cast<bool>(kernel));
      EXPECT_EQ((*kernel)->valueTiles(), tiles);
    }
  }
  // Gated value decays split too; a normalized read (an epilogue mixes columns) does not.
  LayerConfig gla;
  gla.kind = LayerKind::GLA;
  gla.valueGate = true;
  KernelOptions options;
  options.cpu.valueTiles = 2;
  setChunkSize(options, 16);
  EXPECT_LE(compare(gla, {1, 40, 1, 16, 32}, options, -1.0, 0.0), 1e-5);
  LayerConfig normalized;
  normalized.normalize = true;
  auto module = buildLayer(normalized, {1, 8, 1, 16, 32});
  auto kernel = compiler.compile(recurrenceOf(*module), options);
  ASSERT_TRUE(static_cast<bool>(kernel));
  EXPECT_EQ((*kernel)->valueTiles(), 1);
  EXPECT_LE(compare(normalized, {1, 40, 1, 16, 32}, options, 0, 0), 1e-5);
}

TEST_F(KernelTest, HeadGroupsAdvanceTogether) {
  // Groups of 3 heads over H = 4 and H = 5 (a partial last group), alone and with value tiles.
  for (LayerKind kind : {LayerKind::SimpleGLA, LayerKind::GLA, LayerKind::GatedDeltaNet}) {
    for (int64_t heads : {4, 5}) {
      LayerConfig config;
      config.kind = kind;
      config.initialState = true;
      KernelOptions options;
      setChunkSize(options, 16);
      options.cpu.headsPerItem = 3;
      options.cpu.valueTiles = heads == 5 ? 2 : 1;
      options.cpu.threads = 2;
      EXPECT_LE(compare(config, {2, 37, heads, 16, 32}, options, -1.0, 0.0), 1e-5)
          << layerKindName(kind).str() << " H=" << heads;
    }
  }
  LayerConfig varlen;
  varlen.kind = LayerKind::GatedDeltaNet;
  varlen.varlen = true;
  varlen.initialState = true;
  KernelOptions options;
  options.cpu.headsPerItem = 2;
  setChunkSize(options, 16);
  EXPECT_LE(compare(varlen, {1, 50, 3, 16, 16}, options, -1.0, 0.0, /*sequences=*/4), 1e-5);
}

TEST(CpuCodeGenerationScope, SetsLlvmOptionsWhileAliveOnly) {
  // CPU kernels compile without loop strength reduction and without partial or run-time
  // unrolling; the options are LLVM's, process-wide, so GPU code generated outside a scope must
  // see LLVM's defaults again.
  initializeNativeTarget();
  auto &options = llvm::cl::getRegisteredOptions();
  for (const char *name : {"disable-lsr", "unroll-allow-partial", "unroll-runtime"})
    ASSERT_TRUE(options.count(name)) << name;
  auto value = [&](const char *name) {
    return static_cast<llvm::cl::opt<bool> *>(options[name])->getValue();
  };
  auto occurrences = [&](const char *name) { return options[name]->getNumOccurrences(); };
  bool lsrDefault = value("disable-lsr");
  {
    CpuCodeGenerationScope scope;
    EXPECT_TRUE(value("disable-lsr"));
    EXPECT_FALSE(value("unroll-allow-partial"));
    EXPECT_FALSE(value("unroll-runtime"));
    // The unroller honors these only as command-line occurrences.
    EXPECT_EQ(occurrences("unroll-allow-partial"), 1);
    EXPECT_EQ(occurrences("unroll-runtime"), 1);
  }
  EXPECT_EQ(value("disable-lsr"), lsrDefault);
  for (const char *name : {"disable-lsr", "unroll-allow-partial", "unroll-runtime"})
    EXPECT_EQ(occurrences(name), 0) << name;
}

TEST(AutoHeadsPerItem, GroupsAsManyHeadsAsKeepEveryThreadBusy) {
  // (rows, heads, value tiles, threads) -> heads per work item.
  EXPECT_EQ(autoHeadsPerItem(1, 8, 1, 1), 8);
  EXPECT_EQ(autoHeadsPerItem(1, 8, 1, 2), 4);
  EXPECT_EQ(autoHeadsPerItem(1, 8, 1, 16), 1); // fewer heads than threads
  EXPECT_EQ(autoHeadsPerItem(1, 8, 2, 4), 4);  // value tiles count as work items
  EXPECT_EQ(autoHeadsPerItem(3, 8, 1, 2), 4);  // 6 equal items, not 3 on 2 threads
  EXPECT_EQ(autoHeadsPerItem(16, 8, 1, 2), 8); // 16 items: 8 per thread
  EXPECT_EQ(autoHeadsPerItem(1, 6, 1, 1), 2);  // groups divide H
  EXPECT_EQ(autoHeadsPerItem(1, 5, 1, 1), 1);
  EXPECT_EQ(autoHeadsPerItem(1, 32, 1, 2), 8); // at most 8
  EXPECT_EQ(autoHeadsPerItem(mlir::ShapedType::kDynamic, 8, 1, 1), 1);
}

TEST_F(KernelTest, AutomaticHeadGroupsMatchTheReference) {
  // heads-per-item = 0 (the default) groups from B and H at compile time. The kernel serves
  // every B and H: B = 3 finds the B = 1 kernel in the cache (same grouping) and runs it.
  for (unsigned threads : {1u, 2u}) {
    LayerConfig config;
    config.kind = LayerKind::GLA;
    config.initialState = true;
    KernelOptions options;
    setChunkSize(options, 16);
    options.cpu.threads = threads;
    auto module = buildLayer(config, {1, 8, 8, 16, 16});
    auto kernel = compiler.compile(recurrenceOf(*module), options);
    ASSERT_TRUE(static_cast<bool>(kernel));
    EXPECT_EQ((*kernel)->headsPerItem(), threads == 1 ? 8 : 4);
    EXPECT_LE(compare(config, {1, 45, 8, 16, 32}, options, -1.0, 0.0), 1e-5);
    EXPECT_LE(compare(config, {3, 45, 8, 16, 32}, options, -1.0, 0.0), 1e-5);
  }
  // No more heads than keep their states within 512 KB: tensor attention of degree 2 at
  // d = 32, dv = 64 (two states of 1057 features x 64 columns, 541 KB) takes one head per work
  // item; at d = 8, dv = 16 (two of 73 x 16) eight.
  for (int64_t d : {8, 32}) {
    LayerConfig tensor;
    tensor.kind = LayerKind::TensorAttention;
    tensor.degree = 2;
    KernelOptions options;
    options.cpu.threads = 1;
    auto module = buildLayer(tensor, {1, 8, 8, d, 2 * d});
    auto kernel = compiler.compile(recurrenceOf(*module), options);
    ASSERT_TRUE(static_cast<bool>(kernel));
    EXPECT_EQ((*kernel)->headsPerItem(), d == 8 ? 8 : 1) << "d " << d;
  }
}

TEST_F(KernelTest, VariableLengthSequences) {
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  config.initialState = true;
  config.varlen = true;
  KernelOptions options;
  setChunkSize(options, 16);
  EXPECT_LE(compare(config, {1, 120, 2, 16, 16}, options, -1.0, 0.0, /*sequences=*/6), 1e-5);
  config.kind = LayerKind::GLA;
  config.valueGate = true;
  EXPECT_LE(compare(config, {1, 70, 2, 16, 32}, options, -1.0, 0.0, /*sequences=*/4), 1e-5);
}

TEST_F(KernelTest, LongSequenceWithStrongDecaysStaysFiniteAndAccurate) {
  LayerConfig config;
  config.kind = LayerKind::GLA;
  KernelOptions options;
  setChunkSize(options, 64);
  double error = compare(config, {1, 65536, 1, 16, 16}, options, -10.0, 0.0);
  EXPECT_LE(error, 1e-5);
}

TEST_F(KernelTest, SubnormalFactorsFlushToZeroInTheKernelsOnly) {
  // Decays of −1.5 to −3.5 per token make in-chunk factors e^{b_i − b_j} pass through f32's
  // subnormal range: the kernels flush such results to zero (FlushSubnormals.h), which must
  // not cost accuracy, and leave the caller's floating-point environment as it was.
#if defined(__x86_64__)
  unsigned before = _mm_getcsr();
  ASSERT_EQ(before & 0x8000u, 0u) << "the test starts without flush-to-zero";
#endif
  for (LayerKind kind : {LayerKind::SimpleGLA, LayerKind::GLA, LayerKind::GatedDeltaNet}) {
    LayerConfig config;
    config.kind = kind;
    for (unsigned threads : {1u, 2u}) {
      KernelOptions options;
      setChunkSize(options, 64);
      options.cpu.threads = threads;
      double error = compare(config, {2, 256, 2, 32, 32}, options, -3.5, -1.5);
      EXPECT_LE(error, 1e-5) << layerKindName(kind).str() << ", " << threads << " threads";
#if defined(__x86_64__)
      EXPECT_EQ(_mm_getcsr(), before) << layerKindName(kind).str();
#endif
    }
  }
}

TEST_F(KernelTest, KeyDecayChunksFactorWhereTheirDecaysAreSmall) {
  // A chunk whose cumulative key decays stay below e^{60} runs its attention as one factored
  // product; a stronger one runs sub-chunks (at C = 24, not a multiple of 16, one exact block).
  // Chunks and heads alternate between the two, one chunk's decay crosses the bound at its
  // last token and another's stays just under it (factors at e^{±59.5}), so the state passes
  // between both forms.
  Shape shape{2, 200, 3, 32, 16};
  for (auto [kind, chunk] : {std::pair(LayerKind::GLA, int64_t(32)),
                             std::pair(LayerKind::KDA, int64_t(32)),
                             std::pair(LayerKind::GLA, int64_t(24))}) {
    LayerConfig config;
    config.kind = kind;
    config.initialState = true;
    auto module = buildLayer(config, shape);
    Inputs in = randomInputs(config, shape, -0.1, 0.0);
    alternateDecayStrengths(in["gk"], shape, shape.dk, chunk);
    double error = compareOn(*module, config, in, optionsFor(Chunked, chunk));
    EXPECT_LE(error, 1e-5) << layerKindName(kind).str() << ", chunk " << chunk;
  }
}

TEST_F(KernelTest, ValueDecayChunksFactorWhereTheirDecaysAreSmall) {
  // The value decays' mix A (U ⊙ e^{−bv}) ⊙ e^{bv} factors where every cumulative value
  // decay of the chunk stays below e^{60}; stronger chunks take the exact sum. GLA with key
  // and value decays: chunks and heads alternate between the two, one chunk's value decay
  // crosses the bound at its last token and another's stays just under it.
  Shape shape{2, 200, 3, 16, 32};
  const int64_t chunk = 32;
  LayerConfig config;
  config.kind = LayerKind::GLA;
  config.valueGate = true;
  config.initialState = true;
  auto module = buildLayer(config, shape);
  Inputs in = randomInputs(config, shape, -0.1, 0.0);
  alternateDecayStrengths(in["gv"], shape, shape.dv, chunk);
  for (KernelForm kernel : {Chunked, GpuSchedule})
    EXPECT_LE(compareOn(*module, config, in, optionsFor(kernel, chunk)), 1e-5)
        << "kernel " << int(kernel);
}

TEST_F(KernelTest, PrefillThenInPlaceDecodeEqualsOneForward) {
  // One forward over T tokens, against a prefill of T − 3 tokens followed by three decode
  // steps that update the state buffer in place (initial state and final state alias).
  Shape full{2, 67, 2, 16, 16};
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  config.initialState = true;
  auto module = buildLayer(config, {full.batch, mlir::ShapedType::kDynamic, full.heads, 16, 16});
  RecurrenceOp op = recurrenceOf(*module);
  Inputs in = randomInputs(config, full, -1.0, 0.0);
  KernelOptions chunked;
  setChunkSize(chunked, 32);
  KernelOptions decode;
  setSequential(decode, true);
  auto wholeKernel = compiler.compile(op, chunked);
  auto stepKernel = compiler.compile(op, decode);
  ASSERT_TRUE(static_cast<bool>(wholeKernel) && static_cast<bool>(stepKernel));
  EXPECT_EQ((*wholeKernel)->algorithm(), Algorithm::ChunkedDelta);
  EXPECT_EQ((*stepKernel)->algorithm(), Algorithm::Sequential);

  auto floats = [](const Array &a) { return std::vector<float>(a.data.begin(), a.data.end()); };
  auto view = [](std::vector<float> &data, std::vector<int64_t> shape) {
    return BufferView{data.data(), DType::F32, std::move(shape)};
  };
  // Token slice [from, to) of a [B, T, H, ...] array.
  auto slice = [&](const Array &a, int64_t from, int64_t to) {
    int64_t inner = a.numElements() / (a.shape[0] * a.shape[1]);
    std::vector<float> out;
    for (int64_t b = 0; b < a.shape[0]; ++b)
      for (int64_t i = (b * a.shape[1] + from) * inner; i < (b * a.shape[1] + to) * inner; ++i)
        out.push_back(static_cast<float>(a.data[i]));
    return out;
  };
  const char *streams[] = {"q", "k", "v", "g", "beta"};
  auto runTokens = [&](const Kernel &kernel, int64_t from, int64_t to, std::vector<float> &state,
                       std::vector<float> &o) {
    std::vector<std::vector<float>> data;
    std::vector<BufferView> operands;
    for (const char *name : streams) {
      std::vector<int64_t> shape = in[name].shape;
      shape[1] = to - from;
      data.push_back(slice(in[name], from, to));
      operands.push_back(view(data.back(), shape));
    }
    operands.push_back(view(state, {2, 2, 16, 16}));
    o.assign(2 * (to - from) * 2 * 16, NAN);
    std::vector<BufferView> results = {view(o, {2, to - from, 2, 16}),
                                       view(state, {2, 2, 16, 16})}; // in place
    llvm::Error error = kernel.run(operands, results, 2);
    EXPECT_FALSE(static_cast<bool>(error)) << llvm::toString(std::move(error));
  };

  std::vector<float> wholeState = floats(in["initial_state"]), wholeO;
  runTokens(**wholeKernel, 0, 67, wholeState, wholeO);
  std::vector<float> state = floats(in["initial_state"]), o;
  runTokens(**wholeKernel, 0, 64, state, o);
  for (int64_t t = 64; t < 67; ++t) {
    std::vector<float> step;
    runTokens(**stepKernel, t, t + 1, state, step);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 32; ++i)
        EXPECT_NEAR(step[b * 32 + i], wholeO[(b * 67 + t) * 32 + i], 1e-4);
  }
  for (size_t i = 0; i < state.size(); ++i)
    EXPECT_NEAR(state[i], wholeState[i], 1e-4);
}

TEST_F(KernelTest, KernelsAreCachedAcrossShapes) {
  LayerConfig config;
  config.kind = LayerKind::SimpleGLA;
  auto a = buildLayer(config, {1, 10, 2, 16, 16});
  auto b = buildLayer(config, {3, 99, 5, 16, 16}); // other B, T, H: the same kernel
  auto c = buildLayer(config, {1, 10, 2, 16, 32}); // another dv: another kernel
  KernelOptions options;
  auto ka = compiler.compile(recurrenceOf(*a), options);
  auto kb = compiler.compile(recurrenceOf(*b), options);
  auto kc = compiler.compile(recurrenceOf(*c), options);
  ASSERT_TRUE(ka && kb && kc);
  EXPECT_EQ(ka->get(), kb->get());
  EXPECT_NE(ka->get(), kc->get());
  EXPECT_EQ(compiler.cacheSize(), 2u);
  EXPECT_GT((*ka)->compileSeconds(), 0.0);
  EXPECT_EQ((*ka)->algorithm(), Algorithm::ChunkedDiagonal);
}

TEST_F(KernelTest, RunTimeErrorsAreMessages) {
  LayerConfig config;
  config.kind = LayerKind::SimpleGLA;
  auto module = buildLayer(config, {1, 8, 2, 16, 16});
  auto kernel = compiler.compile(recurrenceOf(*module), KernelOptions());
  ASSERT_TRUE(static_cast<bool>(kernel));
  std::vector<float> q(1 * 8 * 2 * 16), g(16), o(q.size()), s(2 * 16 * 16);
  auto v4 = [&](std::vector<float> &d, std::vector<int64_t> shape) {
    return BufferView{d.data(), DType::F32, shape};
  };
  std::vector<BufferView> operands = {v4(q, {1, 8, 2, 16}), v4(q, {1, 8, 2, 16}),
                                      v4(q, {1, 8, 2, 16}), v4(g, {1, 8, 2})};
  std::vector<BufferView> results = {v4(o, {1, 8, 2, 16}), v4(s, {1, 2, 16, 16})};
  EXPECT_FALSE(static_cast<bool>((*kernel)->run(operands, results)));

  auto message = [&](std::vector<BufferView> ops, std::vector<BufferView> res) {
    llvm::Error e = (*kernel)->run(ops, res);
    return e ? llvm::toString(std::move(e)) : std::string();
  };
  auto bad = operands;
  bad[1].shape = {1, 8, 2, 32};
  EXPECT_NE(message(bad, results).find("operand #1 has shape [1, 8, 2, 32] but the kernel takes "
                                       "[?, ?, ?, 16]"),
            std::string::npos);
  bad = operands;
  bad[2].shape = {1, 7, 2, 16};
  EXPECT_NE(message(bad, results).find("input #2 has shape [1, 7, 2, 16] but its leading dims "
                                       "must be [1, 8, 2]"),
            std::string::npos);
  bad = operands;
  bad[0].dtype = DType::F64;
  EXPECT_NE(message(bad, results).find("operand #0 must be float32, got float64"),
            std::string::npos);
  bad = operands;
  bad[3].data = nullptr;
  EXPECT_NE(message(bad, results).find("operand #3 is a null buffer"), std::string::npos);
  auto badResults = results;
  badResults[1].shape = {2, 2, 16, 16};
  EXPECT_NE(message(operands, badResults).find("result #1 has shape [2, 2, 16, 16]"),
            std::string::npos);
  bad = operands;
  bad.pop_back();
  EXPECT_NE(message(bad, results).find("takes 4 operands and 2 results, got 3 and 2"),
            std::string::npos);
}

TEST_F(KernelTest, BadOffsetsAreRejectedBeforeTheKernelRuns) {
  LayerConfig config;
  config.varlen = true;
  auto module = buildLayer(config, {1, 8, 1, 16, 16}, /*sequences=*/2);
  auto kernel = compiler.compile(recurrenceOf(*module), KernelOptions());
  ASSERT_TRUE(static_cast<bool>(kernel));
  std::vector<float> q(8 * 16), o(q.size()), s(2 * 16 * 16);
  std::vector<int32_t> cu = {0, 9, 8}; // 9 > 8 = T, and decreasing
  BufferView qv{q.data(), DType::F32, {1, 8, 1, 16}};
  BufferView cuv{cu.data(), DType::I32, {3}};
  llvm::Error e = (*kernel)->run({qv, qv, qv, cuv}, {BufferView{o.data(), DType::F32, {1, 8, 1, 16}},
                                                     BufferView{s.data(), DType::F32, {2, 1, 16, 16}}});
  ASSERT_TRUE(static_cast<bool>(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("cu_seqlens must not decrease"), std::string::npos);
}

TEST_F(KernelTest, WindowAttentionKernelsMatchTheReference) {
  // Every window kind and weighting; windows wider and narrower than the 64-query blocks,
  // T around the block size; dk != dv; several (batch, head) work items.
  struct Case {
    const char *window, *weighting;
    int64_t size, batch, tokens, heads, dk, dv;
  };
  std::vector<Case> cases = {
      {"sliding", "softmax", 64, 1, 150, 2, 16, 8},  {"sliding", "softmax", 1, 2, 65, 1, 8, 8},
      {"sliding", "relu", 100, 1, 300, 3, 32, 16},   {"block", "softmax", 64, 2, 129, 2, 16, 32},
      {"block", "relu", 7, 1, 63, 1, 16, 16},        {"terraced", "shifted_exp", 64, 1, 257, 2, 16, 16},
      {"terraced", "softmax", 20, 1, 1, 1, 8, 8},    {"sliding", "shifted_exp", 33, 1, 200, 1, 64, 64},
  };
  for (const Case &c : cases) {
    bool shifted = std::string(c.weighting) == "shifted_exp";
    // [B, T, H(, D)] tensor types.
    auto tensorType = [&](std::string trailing) {
      return "tensor<" + std::to_string(c.batch) + "x" + std::to_string(c.tokens) + "x" +
             std::to_string(c.heads) + trailing + "xf32>";
    };
    std::string qType = tensorType("x" + std::to_string(c.dk));
    std::string vType = tensorType("x" + std::to_string(c.dv)), dType = tensorType("");
    std::string results = shifted ? "(" + vType + ", " + dType + ")" : vType;
    std::string text = "func.func @f(%q: " + qType + ", %k: " + qType + ", %v: " + vType +
                       ") {\n  %r" + (shifted ? ":2" : "") +
                       " = linrec.window_attention %q, %k, %v window <" + c.window + "> size " +
                       std::to_string(c.size) + " weighting <" + c.weighting +
                       "> {scale = 0.3 : f64} : (" + qType + ", " + qType + ", " + vType +
                       ") -> " + results + "\n  return\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(module) << text;
    WindowAttentionOp op;
    module->walk([&](WindowAttentionOp found) { op = found; });
    std::normal_distribution<double> normal;
    auto make = [&](int64_t d) {
      Array a(DType::F32, {c.batch, c.tokens, c.heads, d});
      for (double &x : a.data)
        x = static_cast<float>(normal(rng));
      return a;
    };
    Array q = make(c.dk), k = make(c.dk), v = make(c.dv);
    auto reference = interpretWindowAttention(op, q, k, v);
    auto cpu = runKernelOp(compiler, op, {q, k, v}, KernelOptions());
    ASSERT_TRUE(static_cast<bool>(reference) && static_cast<bool>(cpu))
        << c.window << " " << c.weighting;
    expectMatches(*cpu, *reference, 1e-5,
                  ::testing::Message() << c.window << " " << c.weighting << " size " << c.size
                                       << " T " << c.tokens);
  }
}

TEST_F(KernelTest, WindowsFusedIntoTheChunkedKernelMatchTheParts) {
  // Liger Attention: linrec-fuse-windows turns the window attention into a linrec.window_read
  // of the recurrence. Windows shorter than, equal to and longer than a chunk (history rows
  // above C), T below one chunk and not a multiple of C, several (batch, head) items.
  struct Case {
    int64_t window, chunk, batch, tokens, heads, dk, dv, da;
    LayerKind variant;
  };
  std::vector<Case> cases = {
      {64, 64, 1, 200, 2, 16, 16, 16, LayerKind::LigerGLA},
      {1, 16, 2, 37, 1, 8, 8, 8, LayerKind::LigerGLA},
      {17, 16, 1, 100, 3, 16, 8, 32, LayerKind::LigerHGRN2},
      {100, 32, 2, 150, 2, 16, 24, 8, LayerKind::LigerGLA},
      {64, 64, 1, 5, 1, 32, 16, 32, LayerKind::LigerGLA},
      {40, 64, 1, 129, 2, 64, 64, 64, LayerKind::LigerHGRN2},
  };
  for (const Case &c : cases) {
    LayerConfig config;
    config.kind = LayerKind::LigerAttention;
    config.linearVariant = c.variant;
    config.windowSize = c.window;
    config.attentionScale = 0.3;
    config.mixLinear = 0.7;
    config.mixAttention = 0.4;
    Shape shape{c.batch, c.tokens, c.heads, c.dk, c.dv, c.da};
    auto module = buildLayer(config, shape);
    Inputs in = randomInputs(config, shape, -1.0, 0.0);
    std::vector<Array> args = layerArgs(config, in);
    auto parts = interpretFunction(*module, "layer", args);
    ASSERT_TRUE(static_cast<bool>(parts)) << llvm::toString(parts.takeError());

    // The fused form: one recurrence with a window read, no window attention left.
    mlir::OwningOpRef<mlir::ModuleOp> fused = module->clone();
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    pm.addPass(createLinrecFuse());
    pm.addPass(createLinrecFuseWindows());
    ASSERT_TRUE(mlir::succeeded(pm.run(*fused)));
    int windows = 0, reads = 0;
    fused->walk([&](WindowAttentionOp) { ++windows; });
    fused->walk([&](WindowReadOp) { ++reads; });
    EXPECT_EQ(windows, 0);
    EXPECT_EQ(reads, 1);
    // The reference evaluates window_read itself: the same function.
    auto reference = interpretFunction(*fused, "layer", args);
    ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
    for (size_t i = 0; i < parts->size(); ++i)
      EXPECT_LT(relativeRmsError((*reference)[i], (*parts)[i]), 1e-12) << "result #" << i;

    KernelOptions options;
    setChunkSize(options, c.chunk);
    auto cpu = runOnCpuKernels(*fused, "layer", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *parts, 1e-5,
                  ::testing::Message() << "window " << c.window << " chunk " << c.chunk << " T "
                                       << c.tokens);
  }
}

TEST_F(KernelTest, WindowReadWeightingsMatchTheReference) {
  // The three weightings of a window read inside a chunked kernel, against the reference's own
  // evaluation of the op: a normalized linear attention whose numerator and denominator take
  // the window's (shifted_exp shares the denominator, as LoLCATs does).
  // Terraced and block windows too (their windows start at block boundaries).
  struct Case {
    const char *weighting;
    int64_t size, chunk, tokens;
    const char *shape = "sliding";
  };
  std::vector<Case> cases = {{"softmax", 20, 16, 77},   {"relu", 64, 64, 130},
                             {"shifted_exp", 64, 64, 200}, {"shifted_exp", 5, 32, 33},
                             {"shifted_exp", 90, 16, 150},
                             {"shifted_exp", 64, 64, 200, "terraced"},
                             {"relu", 24, 32, 150, "terraced"},
                             {"softmax", 20, 16, 77, "block"}};
  for (const Case &c : cases) {
    bool shifted = std::string(c.weighting) == "shifted_exp";
    std::string T = std::to_string(c.tokens);
    std::string x = "tensor<2x" + T + "x3x8xf32>", scalar = "tensor<2x" + T + "x3xf32>";
    std::string read = "%w" + std::string(shifted ? ", %wd" : "") +
                       " = linrec.window_read %qt, %kt, %vt window <" + c.shape + "> size " +
                       std::to_string(c.size) +
                       " scale 0.3 weighting <" + c.weighting + "> : vector<8xf32>, vector<8xf32>" +
                       (shifted ? ", f32" : "");
    std::string text =
        "func.func @f(%q: " + x + ", %k: " + x + ", %v: " + x + ") -> (" + x + ", " + scalar +
        ") {\n"
        "  %o, %d, %s, %z = linrec.recurrence ins(%q, %k, %v : " + x + ", " + x + ", " + x +
        ") -> (" + x + ", " + scalar + ", tensor<2x3x8x8xf32>, tensor<2x3x8xf32>) {\n"
        "  ^bb0(%S: !linrec.state<8x8xf32>, %Z: !linrec.state<8xf32>, %qt: vector<8xf32>, "
        "%kt: vector<8xf32>, %vt: vector<8xf32>):\n"
        "    " + read + "\n"
        "    %fk = linrec.feature_map <exp> %kt : vector<8xf32>\n"
        "    %fq = linrec.feature_map <exp> %qt : vector<8xf32>\n"
        "    %S1 = linrec.write %S, %fk, %vt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>\n"
        "    %Z1 = linrec.write %Z, %fk : !linrec.state<8xf32>, vector<8xf32>\n"
        "    %n = linrec.read %S1, %fq : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>\n"
        "    %m = linrec.read %Z1, %fq : !linrec.state<8xf32>, vector<8xf32> -> f32\n"
        "    %num = arith.addf %n, %w : vector<8xf32>\n"
        "    %den = arith.addf %m, " + std::string(shifted ? "%wd" : "%m") + " : f32\n"
        "    linrec.yield states(%S1, %Z1 : !linrec.state<8x8xf32>, !linrec.state<8xf32>) "
        "outputs(%num, %den : vector<8xf32>, f32)\n"
        "  }\n"
        "  return %o, %d : " + x + ", " + scalar + "\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(module) << text;
    std::vector<Array> args;
    for (int i = 0; i < 3; ++i)
      args.push_back(normalArray({2, c.tokens, 3, 8}, 0.5));
    auto reference = interpretFunction(*module, "f", args);
    KernelOptions options;
    setChunkSize(options, c.chunk);
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(reference) && static_cast<bool>(cpu)) << c.weighting;
    expectMatches(*cpu, *reference, 1e-5,
                  ::testing::Message() << c.shape << " " << c.weighting << " size " << c.size
                                       << " chunk " << c.chunk);
  }
}

TEST_F(KernelTest, DelayedInputsMatchShiftedCopies) {
  // Keys and values delayed by w (LoLCATs' writes of the keys that left the window): the
  // reference of the delays equals the reference of pad + slice copies, and the chunked and
  // sequential kernels match it; delays shorter and longer than a chunk, and past T.
  for (int64_t delay : {1, 5, 64, 100, 300}) {
    std::string w = std::to_string(delay), T = "150";
    std::string x = "tensor<2x" + T + "x3x8xf32>", padded = "tensor<2x" +
                    std::to_string(150 + delay) + "x3x8xf32>";
    std::string body =
        "  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %kt: vector<8xf32>, "
        "%vt: vector<8xf32>):\n"
        "    %fk = linrec.feature_map <exp> %kt : vector<8xf32>\n"
        "    %S1 = linrec.write %S, %fk, %vt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>\n"
        "    %r = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>\n"
        "    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)\n"
        "  }\n";
    std::string results = "(" + x + ", tensor<2x3x8x8xf32>)";
    std::string text =
        "func.func @delayed(%q: " + x + ", %k: " + x + ", %v: " + x + ") -> " + results + " {\n"
        "  %o, %s = linrec.recurrence ins(%q, %k, %v : " + x + ", " + x + ", " + x +
        ") {delays = array<i64: 0, " + w + ", " + w + ">} -> " + results + " {\n" + body +
        "  return %o, %s : " + x + ", tensor<2x3x8x8xf32>\n}\n"
        "func.func @copies(%q: " + x + ", %k: " + x + ", %v: " + x + ") -> " + results + " {\n"
        "  %zero = arith.constant 0.0 : f32\n"
        "  %pk = tensor.pad %k low[0, " + w + ", 0, 0] high[0, 0, 0, 0] {\n"
        "  ^bb0(%i: index, %j: index, %l: index, %m: index):\n"
        "    tensor.yield %zero : f32\n"
        "  } : " + x + " to " + padded + "\n"
        "  %pv = tensor.pad %v low[0, " + w + ", 0, 0] high[0, 0, 0, 0] {\n"
        "  ^bb0(%i: index, %j: index, %l: index, %m: index):\n"
        "    tensor.yield %zero : f32\n"
        "  } : " + x + " to " + padded + "\n"
        "  %sk = tensor.extract_slice %pk[0, 0, 0, 0] [2, " + T + ", 3, 8] [1, 1, 1, 1] : " +
        padded + " to " + x + "\n"
        "  %sv = tensor.extract_slice %pv[0, 0, 0, 0] [2, " + T + ", 3, 8] [1, 1, 1, 1] : " +
        padded + " to " + x + "\n"
        "  %o, %s = linrec.recurrence ins(%q, %sk, %sv : " + x + ", " + x + ", " + x + ") -> " +
        results + " {\n" + body + "  return %o, %s : " + x + ", tensor<2x3x8x8xf32>\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(module) << text;
    std::vector<Array> args;
    for (int i = 0; i < 3; ++i)
      args.push_back(normalArray({2, 150, 3, 8}, 0.5));
    auto reference = [](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
      return interpretRecurrence(op, operands);
    };
    auto delayed = evaluateFunction(*module, "delayed", args, reference, /*fuse=*/false);
    auto copies = evaluateFunction(*module, "copies", args, reference, /*fuse=*/false);
    ASSERT_TRUE(static_cast<bool>(delayed) && static_cast<bool>(copies));
    for (size_t i = 0; i < delayed->size(); ++i)
      EXPECT_LT(relativeRmsError((*delayed)[i], (*copies)[i]), 1e-12) << "delay " << delay;
    for (bool sequential : {false, true}) {
      KernelOptions options;
      setChunkSize(options, 32);
      setSequential(options, sequential);
      auto cpu = runOnCpuKernels(*module, "delayed", args, options);
      ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
      for (size_t i = 0; i < delayed->size(); ++i)
        EXPECT_LT(relativeRmsError((*cpu)[i], (*delayed)[i]), 1e-5)
            << "delay " << delay << (sequential ? " sequential" : " chunked") << " result #" << i;
    }
  }
}

TEST_F(KernelTest, HybridLayersBecomeOneKernelAndMatchTheParts) {
  // Hedgehog (projections with biases) and LoLCATs (projections, delayed writes, a shifted_exp
  // window sharing the denominator): the CPU fusion passes leave one recurrence, which the
  // chunked and the sequential kernels compute like the reference computes the parts.
  // Terraced LoLCATs also reads its linear state at block starts: chunks of one block (no
  // intra-chunk term), of two blocks (masked), and of 20 (16 asked: a whole block).
  struct Case {
    LayerKind kind;
    int64_t tokens, window, chunk;
    WindowKind shape = WindowKind::Sliding;
  };
  for (Case c : {Case{LayerKind::Hedgehog, 90, 0, 32}, Case{LayerKind::LoLCATs, 150, 64, 64},
                 Case{LayerKind::LoLCATs, 100, 20, 16},
                 Case{LayerKind::LoLCATs, 300, 64, 64, WindowKind::Terraced},
                 Case{LayerKind::LoLCATs, 111, 16, 32, WindowKind::Terraced},
                 Case{LayerKind::LoLCATs, 90, 20, 16, WindowKind::Terraced}}) {
    LayerConfig config;
    config.kind = c.kind;
    config.queryBias = config.keyBias = c.kind == LayerKind::Hedgehog;
    config.windowSize = c.window;
    config.window = c.shape;
    config.scale = 0.25;
    config.eps = 1e-6;
    Shape shape{2, c.tokens, 3, 16, 8};
    shape.features = 8;
    auto module = buildLayer(config, shape);
    Inputs in = randomInputs(config, shape, -1.0, 0.0);
    std::vector<Array> args = layerArgs(config, in);
    auto parts = interpretFunction(*module, "layer", args);
    ASSERT_TRUE(static_cast<bool>(parts)) << llvm::toString(parts.takeError());

    mlir::OwningOpRef<mlir::ModuleOp> fused = module->clone();
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    pm.addPass(createLinrecFuseDelays());
    pm.addPass(createLinrecFuse());
    pm.addPass(createLinrecFuseProjections());
    pm.addPass(createLinrecFuseWindows());
    ASSERT_TRUE(mlir::succeeded(pm.run(*fused)));
    int recurrences = 0, others = 0;
    fused->walk([&](mlir::Operation *op) {
      if (mlir::isa<RecurrenceOp>(op))
        ++recurrences;
      else if (mlir::isa<mlir::linalg::GenericOp, WindowAttentionOp, mlir::tensor::PadOp>(op))
        ++others;
    });
    EXPECT_EQ(recurrences, 1);
    EXPECT_EQ(others, 0) << "projections, windows and shifts all moved into the recurrence";
    // Windows need the chunked kernel; the rest runs on the scan too.
    std::vector<bool> scans = c.window == 0 ? std::vector<bool>{false, true}
                                            : std::vector<bool>{false};
    for (bool sequential : scans) {
      KernelOptions options;
      setChunkSize(options, c.chunk);
      setSequential(options, sequential);
      auto cpu = runOnCpuKernels(*fused, "layer", args, options);
      ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
      expectMatches(*cpu, *parts, 1e-5,
                    ::testing::Message() << layerKindName(c.kind).str() << " T " << c.tokens
                                         << " window " << c.window
                                         << (options.cpu.sequential ? " (sequential)" : ""));
    }
  }
}

TEST_F(KernelTest, DelaysRestartWithEachPackedSequence) {
  // With cu_seqlens a delayed input reads zeros for the first w tokens of every sequence (not
  // the previous sequence's rows): the kernels against the reference, sequences shorter and
  // longer than the delay and than a chunk, one of them empty.
  std::string x = "tensor<1x200x2x8xf32>";
  std::string text =
      "func.func @f(%q: " + x + ", %k: " + x + ", %cu: tensor<5xi32>) -> " + x + " {\n"
      "  %o, %s = linrec.recurrence ins(%q, %k, %k : " + x + ", " + x + ", " + x +
      ") cu_seqlens(%cu : tensor<5xi32>) {delays = array<i64: 0, 20, 20>} -> (" + x +
      ", tensor<4x2x8x8xf32>) {\n"
      "  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %kt: vector<8xf32>, %vt: vector<8xf32>):\n"
      "    %fk = linrec.feature_map <exp> %kt : vector<8xf32>\n"
      "    %S1 = linrec.write %S, %fk, %vt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>\n"
      "    %r = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>\n"
      "    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)\n"
      "  }\n"
      "  return %o : " + x + "\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  std::vector<Array> args;
  for (int i = 0; i < 2; ++i)
    args.push_back(normalArray({1, 200, 2, 8}, 0.5));
  Array cu(DType::I32, {5});
  cu.data = {0, 15, 15, 120, 200};
  args.push_back(cu);
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  // A delay that crossed sequences would read row 0..14 for sequence 2's first tokens.
  for (bool sequential : {false, true}) {
    KernelOptions options;
    setChunkSize(options, 16);
    setSequential(options, sequential);
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    EXPECT_LT(relativeRmsError((*cpu)[0], (*reference)[0]), 1e-5)
        << (sequential ? "sequential" : "chunked");
  }
}

} // namespace


TEST_F(KernelTest, TerracedBlockStartReadsEqualTheEventSequence) {
  // Terraced LoLCATs two ways on the reference: block-start reads of k, v delayed by w (the CPU
  // form) and the event sequence of writes and reads (the GPU form, as the LoLCATs code
  // defines it). T below one block, at a block boundary and between, windows of 1 to 64.
  struct Case {
    int64_t tokens, window;
  };
  for (Case c : {Case{10, 16}, Case{128, 64}, Case{150, 64}, Case{77, 8}, Case{33, 1}}) {
    LayerConfig config;
    config.kind = LayerKind::LoLCATs;
    config.window = WindowKind::Terraced;
    config.windowSize = c.window;
    config.scale = 0.25;
    Shape shape{2, c.tokens, 2, 16, 8};
    shape.features = 8;
    Inputs in = randomInputs(config, shape, -1.0, 0.0);
    std::vector<Array> args = layerArgs(config, in);
    auto blockReads = interpretFunction(*buildLayer(config, shape), "layer", args);
    config.blockStartReads = false;
    auto events = interpretFunction(*buildLayer(config, shape), "layer", args);
    ASSERT_TRUE(static_cast<bool>(blockReads) && static_cast<bool>(events));
    EXPECT_LT(relativeRmsError((*blockReads)[0], (*events)[0]), 1e-12)
        << "T " << c.tokens << " window " << c.window;
  }
}

TEST_F(KernelTest, BlockStartReadsMatchTheReference) {
  // A matrix state, a normalizer and a delta-rule state, each read at block starts next to an
  // ordinary read, with an initial state, packed sequences (blocks restart with each
  // sequence), on the chunked kernel (chunks of one or more blocks, a chunk size that is not
  // one) and the scan, and on the GPU schedules (fused and two-phase, run on the CPU). A
  // decaying state reads at block starts on the scan only.
  struct Case {
    int64_t block, chunk;
    bool decay;
  };
  for (Case c : {Case{1, 16, false}, Case{7, 16, false}, Case{16, 16, false},
                 Case{16, 64, false}, Case{64, 32, false}, Case{24, 64, true}}) {
    std::string w = std::to_string(c.block);
    std::string x = "tensor<1x200x2x16xf32>", g = "tensor<1x200x2xf32>";
    std::string decay =
        c.decay ? "    %Sd = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32\n" : "";
    std::string decayed = c.decay ? "%Sd" : "%S";
    std::string text =
        "func.func @f(%q: " + x + ", %k: " + x + ", %v: " + x + ", %g: " + g + ", %b: " + g +
        ", %init: tensor<4x2x16x16xf32>, %cu: tensor<5xi32>) -> (" + x + ", " + g + ", " + x +
        ") {\n"
        "  %o, %n, %u, %s, %z, %d = linrec.recurrence ins(%q, %k, %v, %g, %b : " + x + ", " +
        x + ", " + x + ", " + g + ", " + g + ") init(%init : tensor<4x2x16x16xf32>) "
        "cu_seqlens(%cu : tensor<5xi32>) -> (" + x + ", " + g + ", " + x +
        ", tensor<4x2x16x16xf32>, tensor<4x2x16xf32>, tensor<4x2x16x16xf32>) {\n"
        "  ^bb0(%S: !linrec.state<16x16xf32>, %Z: !linrec.state<16xf32>, %D: "
        "!linrec.state<16x16xf32>, %qt: vector<16xf32>, %kt: vector<16xf32>, %vt: vector<16xf32>, "
        "%gt: f32, %bt: f32):\n"
        "    %fk = linrec.feature_map <exp> %kt : vector<16xf32>\n" + decay +
        "    %S1 = linrec.write " + decayed + ", %fk, %vt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>\n"
        "    %Z1 = linrec.write %Z, %fk : !linrec.state<16xf32>, vector<16xf32>\n"
        "    %D0 = linrec.delta %D, %kt, %bt : !linrec.state<16x16xf32>, vector<16xf32>\n"
        "    %D1 = linrec.write %D0, %kt, %vt scaled %bt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>\n"
        "    %r = linrec.read %S1, %qt scale 0.5 block_start " + w +
        " : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>\n"
        "    %now = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>\n"
        "    %m = linrec.read %Z1, %qt block_start " + w +
        " : !linrec.state<16xf32>, vector<16xf32> -> f32\n"
        "    %e = linrec.read %D1, %qt block_start " + w +
        " : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>\n"
        "    %both = arith.addf %r, %now : vector<16xf32>\n"
        "    linrec.yield states(%S1, %Z1, %D1 : !linrec.state<16x16xf32>, !linrec.state<16xf32>, "
        "!linrec.state<16x16xf32>) outputs(%both, %m, %e : vector<16xf32>, f32, vector<16xf32>)\n"
        "  }\n"
        "  return %o, %n, %u : " + x + ", " + g + ", " + x + "\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    ASSERT_TRUE(module) << text;
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*module));
    EXPECT_EQ(analysis.algorithm == Algorithm::Sequential, c.decay) << analysis.reason;
    if (!c.decay) {
      EXPECT_EQ(analysis.readBlock, c.block);
      EXPECT_EQ(analysis.chunkSizeFor(c.chunk) % c.block, 0);
    }
    // q, k, v; g (log-decays), beta; an initial state.
    std::vector<Array> args = packedSequenceArgs(3, {-0.3, 1.0}, 1);
    auto reference = interpretFunction(*module, "f", args);
    ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
    enum KernelForm { Chunked, Grouped, Scan, GroupedScan, GpuFused, GpuTwoPhase, GpuTensorCores };
    for (KernelForm kernel :
         {Chunked, Grouped, Scan, GroupedScan, GpuFused, GpuTwoPhase, GpuTensorCores}) {
      KernelOptions options;
      setChunkSize(options, c.chunk);
      // Both heads in one work item: chunk by chunk, or token by token (each with its states
      // and snapshots).
      options.cpu.headsPerItem = kernel == Grouped || kernel == GroupedScan ? 2 : 1;
      setSequential(options, kernel == Scan || kernel == GroupedScan);
      options.target = kernel >= GpuFused ? Target::GPUScheduleOnCPU : Target::CPU;
      options.gpu.twoPhase = kernel == GpuTwoPhase;
      options.gpu.tensorCores = kernel == GpuTensorCores; // f16 operands: the bf16 bar
      double tolerance = kernel == GpuTensorCores ? 5e-3 : 1e-5;
      auto cpu = runOnCpuKernels(*module, "f", args, options);
      ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
      expectMatches(*cpu, *reference, tolerance,
                    ::testing::Message() << "block " << c.block << " chunk " << c.chunk
                                         << " kernel " << int(kernel));
    }
  }
}

TEST_F(KernelTest, ReadsBeforeTheWriteMatchTheReference) {
  // Reads of S'_t (after the token's decays, before its delta transition and write) next to
  // reads of S_t: a delta rule with a scalar decay (its correction v − S'ᵀk), a state with
  // key decays, one with value decays and a decaying normalizer; packed sequences and
  // initial states; every CPU kernel and GPU schedule, chunks of 16 over 200 tokens.
  const char *text = R"mlir(
!S = !linrec.state<16x16xf32>
!Z = !linrec.state<16xf32>
!x = tensor<1x200x2x16xf32>
!g = tensor<1x200x2xf32>
!init = tensor<4x2x16x16xf32>
func.func @f(%q: !x, %k: !x, %v: !x, %g: !g, %b: !g, %gk: !x, %i0: !init, %i1: !init,
             %i2: !init, %cu: tensor<5xi32>) -> (!x, !x, !x, !x, !g) {
  %e, %o, %p, %w, %n, %s0, %s1, %s2, %z = linrec.recurrence
      ins(%q, %k, %v, %g, %b, %gk : !x, !x, !x, !g, !g, !x) init(%i0, %i1, %i2 : !init, !init, !init)
      cu_seqlens(%cu : tensor<5xi32>) -> (!x, !x, !x, !x, !g, !init, !init, !init, tensor<4x2x16xf32>) {
  ^bb0(%D: !S, %K: !S, %V: !S, %N: !Z, %qt: vector<16xf32>, %kt: vector<16xf32>, %vt: vector<16xf32>,
       %gt: f32, %bt: f32, %gkt: vector<16xf32>):
    %D1 = linrec.decay %D, %gt : !S, f32
    %u = linrec.read %D1, %kt : !S, vector<16xf32> -> vector<16xf32>
    %D2 = linrec.delta %D1, %kt, %bt : !S, vector<16xf32>
    %D3 = linrec.write %D2, %kt, %vt scaled %bt : !S, vector<16xf32>, vector<16xf32>
    %od = linrec.read %D3, %qt : !S, vector<16xf32> -> vector<16xf32>
    %K1 = linrec.decay %K, %gkt along <key> : !S, vector<16xf32>
    %pk = linrec.read %K1, %qt scale 0.5 : !S, vector<16xf32> -> vector<16xf32>
    %K2 = linrec.write %K1, %kt, %vt : !S, vector<16xf32>, vector<16xf32>
    %ok = linrec.read %K2, %qt : !S, vector<16xf32> -> vector<16xf32>
    %V1 = linrec.decay %V, %gkt along <value> : !S, vector<16xf32>
    %pv = linrec.read %V1, %qt : !S, vector<16xf32> -> vector<16xf32>
    %V2 = linrec.write %V1, %kt, %vt : !S, vector<16xf32>, vector<16xf32>
    %N1 = linrec.decay %N, %gt : !Z, f32
    %fk = linrec.feature_map <exp> %kt : vector<16xf32>
    %n = linrec.read %N1, %fk : !Z, vector<16xf32> -> f32
    %N2 = linrec.write %N1, %fk : !Z, vector<16xf32>
    %e = arith.subf %vt, %u : vector<16xf32>
    %o = arith.addf %od, %ok : vector<16xf32>
    linrec.yield states(%D3, %K2, %V2, %N2 : !S, !S, !S, !Z) outputs(%e, %o, %pk, %pv, %n : vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, f32)
  }
  return %e, %o, %p, %w, %n : !x, !x, !x, !x, !g
}
)mlir";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  RecurrenceOp op = recurrenceOf(*module);
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
  EXPECT_EQ(analysis.algorithm, Algorithm::ChunkedDelta) << analysis.reason;
  int before = 0;
  op.walk([&](ReadOp read) { before += read.seesStateBeforeWrite(); });
  EXPECT_EQ(before, 4);
  // q, k, v; g (log-decays), beta; three initial states; gk (key log-decays) after beta.
  std::vector<Array> args = packedSequenceArgs(3, {-0.3, 1.0}, 3);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  args.insert(args.begin() + 5,
              drawnArray({1, 200, 2, 16}, [&] { return -0.5 * uniform(rng); }));
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  enum KernelForm { Chunked, Scan, GpuFused, GpuTwoPhase, GpuTensorCores };
  for (KernelForm kernel : {Chunked, Scan, GpuFused, GpuTwoPhase, GpuTensorCores}) {
    KernelOptions options;
    setChunkSize(options, 16);
    setSequential(options, kernel == Scan);
    options.target = kernel >= GpuFused ? Target::GPUScheduleOnCPU : Target::CPU;
    options.gpu.twoPhase = kernel == GpuTwoPhase;
    options.gpu.tensorCores = kernel == GpuTensorCores; // f16 operands: the bf16 bar
    double tolerance = kernel == GpuTensorCores ? 5e-3 : 1e-5;
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *reference, tolerance, ::testing::Message() << "kernel " << int(kernel));
  }
}

TEST_F(KernelTest, ReverseBlockStartReadsMatchTheReference) {
  // A reverse recurrence read at block starts (the backward of a block-start read): blocks
  // count from each sequence's start, so a sequence whose length is not a multiple of the
  // block starts its first block in running order with a partial one. Packed sequences, an
  // initial state; the token scan (the analysis keeps it off the chunked kernel) and the GPU
  // schedule on the CPU.
  const char *text = R"mlir(
!S = !linrec.state<16x16xf32>
!x = tensor<1x200x2x16xf32>
func.func @f(%q: !x, %k: !x, %v: !x, %init: tensor<4x2x16x16xf32>, %cu: tensor<5xi32>) -> !x {
  %o, %s = linrec.recurrence ins(%q, %k, %v : !x, !x, !x) init(%init : tensor<4x2x16x16xf32>)
      cu_seqlens(%cu : tensor<5xi32>) {reverse} -> (!x, tensor<4x2x16x16xf32>) {
  ^bb0(%R: !S, %qt: vector<16xf32>, %kt: vector<16xf32>, %vt: vector<16xf32>):
    %R1 = linrec.write %R, %kt, %vt : !S, vector<16xf32>, vector<16xf32>
    %b = linrec.read %R1, %qt block_start 7 : !S, vector<16xf32> -> vector<16xf32>
    %n = linrec.read %R1, %qt scale 0.5 : !S, vector<16xf32> -> vector<16xf32>
    %o = arith.addf %b, %n : vector<16xf32>
    linrec.yield states(%R1 : !S) outputs(%o : vector<16xf32>)
  }
  return %o : !x
}
)mlir";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*module));
  EXPECT_EQ(analysis.algorithm, Algorithm::Sequential);
  EXPECT_NE(analysis.reason.find("reverse"), std::string::npos) << analysis.reason;
  // q, k, v; an initial state; lengths 5, 0, 125, 70: none a multiple of 7.
  std::vector<Array> args = packedSequenceArgs(3, {}, 1);
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (KernelForm kernel : {Chunked, GpuSchedule}) {
    auto run = runOnCpuKernels(*module, "f", args, optionsFor(kernel, 16));
    ASSERT_TRUE(static_cast<bool>(run)) << llvm::toString(run.takeError());
    expectMatches(*run, *reference, 1e-5, ::testing::Message() << "kernel " << int(kernel));
  }
  // The reference's blocks: the read at the last token of a block (in the sequence) sees the
  // state after the later tokens only; check one directly against a hand-written sum.
  // Sequence 3 (tokens 130..199, 70 long), head 0: its block 9 is tokens 193..199 (positions
  // 63..69); the block-start read at token 195 sees the initial state plus nothing (no later
  // block), so o = R_init q + 0.5 R_195 q, R_195 the state after tokens 199..195.
  const Array &o = (*reference)[0];
  auto at = [&](const Array &a, int64_t t, int64_t d) { return a.data[(t * 2 + 0) * 16 + d]; };
  for (int64_t c = 0; c < 16; ++c) {
    double expected = 0;
    for (int64_t d = 0; d < 16; ++d) {
      double init = args[3].data[((3 * 2 + 0) * 16 + d) * 16 + c];
      double later = init;
      for (int64_t t = 195; t < 200; ++t)
        later += at(args[1], t, d) * at(args[2], t, c);
      expected += at(args[0], 195, d) * (init + 0.5 * later);
    }
    EXPECT_NEAR(at(o, 195, c), expected, 1e-9) << "column " << c;
  }
}

TEST_F(KernelTest, DeltaRulesWithTheirOwnWriteKeyMatchTheReference) {
  // S' − β k (S'ᵀk)ᵀ + c xᵀ with c ≠ k (the delta rule's backward: the reverse delta rule
  // writes s q doᵀ): the CPU chunked kernel solves the WY system with the earlier writes on
  // its right-hand side; with a scalar decay, packed sequences, initial states, reads after
  // and before the write; chunks of 16 over 200 tokens. The GPU schedule runs the scan.
  const char *text = R"mlir(
!S = !linrec.state<16x16xf32>
!x = tensor<1x200x2x16xf32>
!g = tensor<1x200x2xf32>
func.func @f(%q: !x, %k: !x, %c: !x, %v: !x, %g: !g, %b: !g, %init: tensor<4x2x16x16xf32>,
             %cu: tensor<5xi32>) -> (!x, !x) {
  %o, %p, %s = linrec.recurrence ins(%q, %k, %c, %v, %g, %b : !x, !x, !x, !x, !g, !g)
      init(%init : tensor<4x2x16x16xf32>) cu_seqlens(%cu : tensor<5xi32>) -> (!x, !x, tensor<4x2x16x16xf32>) {
  ^bb0(%R: !S, %qt: vector<16xf32>, %kt: vector<16xf32>, %ct: vector<16xf32>, %vt: vector<16xf32>,
       %gt: f32, %bt: f32):
    %R1 = linrec.decay %R, %gt : !S, f32
    %pre = linrec.read %R1, %qt : !S, vector<16xf32> -> vector<16xf32>
    %R2 = linrec.delta %R1, %kt, %bt : !S, vector<16xf32>
    %R3 = linrec.write %R2, %ct, %vt : !S, vector<16xf32>, vector<16xf32>
    %o = linrec.read %R3, %qt scale 0.5 : !S, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%R3 : !S) outputs(%o, %pre : vector<16xf32>, vector<16xf32>)
  }
  return %o, %p : !x, !x
}
)mlir";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*module));
  ASSERT_EQ(analysis.algorithm, Algorithm::ChunkedDelta) << analysis.reason;
  EXPECT_TRUE(static_cast<bool>(analysis.states.front().writeKey));
  // q, k (unit delta keys), c, v; g, beta; an initial state.
  std::vector<Array> args = packedSequenceArgs(4, {-0.3, 1.0}, 1);
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (KernelForm kernel : {Chunked, Scan, GpuSchedule}) {
    auto run = runOnCpuKernels(*module, "f", args, optionsFor(kernel, 16));
    ASSERT_TRUE(static_cast<bool>(run)) << llvm::toString(run.takeError());
    expectMatches(*run, *reference, 1e-5, ::testing::Message() << "kernel " << int(kernel));
  }
}

TEST_F(KernelTest, Float64StatesAndHadamardWritesMatchTheReference) {
  // Tensor attention's backward: G + (q vᵀ) ⊙ B in a reverse scan, B a float64 state that the
  // scan sums in float64 (initial and final states f64 tensors). Packed sequences, initial
  // states; the token scan and the GPU schedule on the CPU. B's final state keeps float64's
  // digits: an f32 sum of these 200 writes would be ~1e-7 off.
  const char *text = R"mlir(
!S = !linrec.state<16x16xf32>
!W = !linrec.state<16x16xf64>
!x = tensor<1x200x2x16xf32>
!wide = tensor<4x2x16x16xf64>
!narrow = tensor<4x2x16x16xf32>
func.func @f(%q: !x, %k: !x, %v: !x, %beta: tensor<1x200x2xf32>, %b0: !wide, %g0: !narrow,
             %cu: tensor<5xi32>) -> (!x, !wide, !narrow) {
  %o, %b, %g = linrec.recurrence ins(%q, %k, %v, %beta : !x, !x, !x, tensor<1x200x2xf32>)
      init(%b0, %g0 : !wide, !narrow) cu_seqlens(%cu : tensor<5xi32>) {reverse}
      -> (!x, !wide, !narrow) {
  ^bb0(%B: !W, %G: !S, %qt: vector<16xf32>, %kt: vector<16xf32>, %vt: vector<16xf32>, %bt: f32):
    %G1 = linrec.write_hadamard %G, %qt, %vt times %B : !S, vector<16xf32>, vector<16xf32> times !W
    %B1 = linrec.write %B, %kt, %vt scaled %bt : !W, vector<16xf32>, vector<16xf32>
    %o = linrec.read %G1, %kt : !S, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%B1, %G1 : !W, !S) outputs(%o : vector<16xf32>)
  }
  return %o, %b, %g : !x, !wide, !narrow
}
)mlir";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*module));
  EXPECT_EQ(analysis.algorithm, Algorithm::Sequential);
  // q, k, v, β (B's writes scaled); two initial states, the first widened to float64 (with
  // digits past f32's).
  std::vector<Array> args = packedSequenceArgs(3, {1.0}, 2);
  args[4].dtype = DType::F64;
  for (double &x : args[4].data)
    x += 1e-9 * x;
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (KernelForm kernel : {Scan, GpuSchedule}) {
    auto run = runOnCpuKernels(*module, "f", args, optionsFor(kernel, 16));
    ASSERT_TRUE(static_cast<bool>(run)) << llvm::toString(run.takeError());
    ::testing::Message what;
    what << "kernel " << int(kernel);
    expectMatches(*run, *reference, 1e-5, what);
    EXPECT_LT(relativeRmsError((*run)[1], (*reference)[1]), 1e-13) << what << " (float64 state)";
  }
}

TEST_F(KernelTest, ScanPassesKeepSelectsAndMaskedWrites) {
  // The scan applies a token's state ops in one pass over the rows: a masked write, a select
  // between the new and the old state, a decay and a delta transition of a second state, and
  // reads of both, with heads grouped per work item and without, against the reference. The
  // gates in (−1, 0) make every combination happen: written and kept (−0.75, −0.25), written
  // and dropped, not written and kept.
  std::string x = "tensor<2x37x4x8xf32>", g = "tensor<2x37x4xf32>", st = "tensor<2x4x8x8xf32>";
  std::string m = "!linrec.state<8x8xf32>";
  std::string text =
      "func.func @f(%q: " + x + ", %k: " + x + ", %g: " + g + ", %s0: " + st + ", %d0: " + st +
      ") -> (" + x + ", " + st + ", " + st + ") {\n"
      "  %o, %s, %d = linrec.recurrence ins(%q, %k, %g : " + x + ", " + x + ", " + g +
      ") init(%s0, %d0 : " + st + ", " + st + ") -> (" + x + ", " + st + ", " + st + ") {\n"
      "  ^bb0(%S: " + m + ", %D: " + m + ", %qt: vector<8xf32>, %kt: vector<8xf32>, %gt: f32):\n"
      "    %low = arith.constant -0.75 : f32\n"
      "    %high = arith.constant -0.25 : f32\n"
      "    %keep = arith.cmpf olt, %gt, %high : f32\n"
      "    %write = arith.cmpf ogt, %gt, %low : f32\n"
      "    %W = linrec.write %S, %kt, %qt if %write : " + m + ", vector<8xf32>, vector<8xf32>\n"
      "    %T = linrec.select %keep, %W, %S : " + m + "\n"
      "    %Dd = linrec.decay %D, %gt : " + m + ", f32\n"
      "    %beta = arith.negf %gt : f32\n"
      "    %De = linrec.delta %Dd, %kt, %beta : " + m + ", vector<8xf32>\n"
      "    %Dw = linrec.write %De, %kt, %qt scaled %beta : " + m + ", vector<8xf32>, vector<8xf32>\n"
      "    %r1 = linrec.read %T, %qt : " + m + ", vector<8xf32> -> vector<8xf32>\n"
      "    %r2 = linrec.read %Dw, %qt : " + m + ", vector<8xf32> -> vector<8xf32>\n"
      "    %sum = arith.addf %r1, %r2 : vector<8xf32>\n"
      "    linrec.yield states(%T, %Dw : " + m + ", " + m + ") outputs(%sum : vector<8xf32>)\n"
      "  }\n"
      "  return %o, %s, %d : " + x + ", " + st + ", " + st + "\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  std::uniform_real_distribution<double> gates(-1.0, 0.0);
  std::vector<Array> args = {normalArray({2, 37, 4, 8}, 0.5), normalArray({2, 37, 4, 8}, 0.3),
                             drawnArray({2, 37, 4}, [&] { return gates(rng); }),
                             normalArray({2, 4, 8, 8}, 0.5), normalArray({2, 4, 8, 8}, 0.5)};
  normalizeRows(args[1], 8);
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (int64_t heads : {1, 4}) {
    KernelOptions options;
    setSequential(options, true);
    options.cpu.headsPerItem = heads;
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *reference, 1e-5, ::testing::Message() << heads << " heads per item");
  }
}

TEST_F(KernelTest, ChunkedProductFormMatchesTheReference) {
  // Reads of products of states (a matrix pair with dk != dv and a normalizer pair) with β on
  // one write, initial states and packed sequences (an empty one, one of 1 token), in the
  // chunked product form at chunks of 1, 4, 5 and 16 (32 asked: at most 16), against the
  // float64 scan. (Tensor attention layers: conformance-cpu.test.)
  std::string x = "tensor<1x61x2x4xf32>", v = "tensor<1x61x2x6xf32>", g = "tensor<1x61x2xf32>";
  std::string m = "!linrec.state<4x6xf32>", z = "!linrec.state<4xf32>";
  std::string text =
      "func.func @f(%q: " + x + ", %k1: " + x + ", %v1: " + v + ", %k2: " + x + ", %v2: " + v +
      ", %b: " + g + ", %s1: tensor<4x2x4x6xf32>, %z1: tensor<4x2x4xf32>, %s2: "
      "tensor<4x2x4x6xf32>, %z2: tensor<4x2x4xf32>, %cu: tensor<5xi32>) -> " + v + " {\n"
      "  %o, %a, %c, %d, %e = linrec.recurrence ins(%q, %k1, %v1, %k2, %v2, %b : " + x + ", " +
      x + ", " + v + ", " + x + ", " + v + ", " + g + ") init(%s1, %z1, %s2, %z2 : "
      "tensor<4x2x4x6xf32>, tensor<4x2x4xf32>, tensor<4x2x4x6xf32>, tensor<4x2x4xf32>) "
      "cu_seqlens(%cu : tensor<5xi32>) -> (" + v + ", tensor<4x2x4x6xf32>, tensor<4x2x4xf32>, "
      "tensor<4x2x4x6xf32>, tensor<4x2x4xf32>) {\n"
      "  ^bb0(%S1: " + m + ", %Z1: " + z + ", %S2: " + m + ", %Z2: " + z +
      ", %qt: vector<4xf32>, %at: vector<4xf32>, %xt: vector<6xf32>, %ct: vector<4xf32>, "
      "%yt: vector<6xf32>, %bt: f32):\n"
      "    %fq = linrec.feature_map <exp> %qt : vector<4xf32>\n"
      "    %fa = linrec.feature_map <exp> %at : vector<4xf32>\n"
      "    %fc = linrec.feature_map <exp> %ct : vector<4xf32>\n"
      "    %A = linrec.write %S1, %fa, %xt scaled %bt : " + m + ", vector<4xf32>, vector<6xf32>\n"
      "    %Za = linrec.write %Z1, %fa : " + z + ", vector<4xf32>\n"
      "    %B = linrec.write %S2, %fc, %yt : " + m + ", vector<4xf32>, vector<6xf32>\n"
      "    %Zb = linrec.write %Z2, %fc : " + z + ", vector<4xf32>\n"
      "    %n = linrec.read_product %A, %B, %fq : " + m + ", vector<4xf32> -> vector<6xf32>\n"
      "    %dn = linrec.read_product %Za, %Zb, %fq : " + z + ", vector<4xf32> -> f32\n"
      "    %ds = vector.broadcast %dn : f32 to vector<6xf32>\n"
      "    %ot = arith.divf %n, %ds : vector<6xf32>\n"
      "    linrec.yield states(%A, %Za, %B, %Zb : " + m + ", " + z + ", " + m + ", " + z +
      ") outputs(%ot : vector<6xf32>)\n"
      "  }\n"
      "  return %o : " + v + "\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*module));
  EXPECT_TRUE(analysis.productChunkable) << analysis.reason;
  std::vector<Array> args;
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{1, 61, 2, 4}, {1, 61, 2, 4}, {1, 61, 2, 6}, {1, 61, 2, 4},
        {1, 61, 2, 6}})
    args.push_back(normalArray(shape, 0.5));
  std::uniform_real_distribution<double> betas(0.2, 1.0), positive(0.0, 2.0);
  args.push_back(drawnArray({1, 61, 2}, [&] { return betas(rng); }));
  // Initial states as sums of positive features: the denominators stay positive.
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{4, 2, 4, 6}, {4, 2, 4}, {4, 2, 4, 6}, {4, 2, 4}})
    args.push_back(drawnArray(shape, [&] { return positive(rng); }));
  Array cu(DType::I32, {5});
  cu.data = {0, 0, 1, 40, 61};
  args.push_back(cu);
  ASSERT_EQ(args.size(), 11u);
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (int64_t chunk : {1, 4, 5, 16, 32}) {
    KernelOptions options;
    setChunkSize(options, chunk);
    options.cpu.chunkedProducts = true;
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *reference, 1e-5, ::testing::Message() << "chunk " << chunk);
  }
  KernelOptions products;
  products.cpu.chunkedProducts = true;
  auto kernel = compiler.compile(recurrenceOf(*module), products);
  ASSERT_TRUE(static_cast<bool>(kernel));
  EXPECT_EQ((*kernel)->algorithm(), Algorithm::ChunkedProduct);

}

TEST_F(KernelTest, MixtureOfMemoriesIsChunkedAndIgnoresUnroutedTokens) {
  // Unrouted (memory, token) pairs neither decay nor write: the builder selects their k, v, g
  // and β to zero, so every memory is a chunked gated delta rule. Their inputs are arbitrary;
  // here they are NaN, and the chunked kernel, the scan and the GPU schedule must give the
  // reference's outputs for clean inputs.
  const int64_t M = 4, B = 2, T = 150, H = 2, d = 16, topk = 2;
  LayerConfig config;
  config.kind = LayerKind::MixtureOfMemories;
  config.memories = M;
  config.topk = topk;
  config.sharedMemory = true;
  config.scale = 0.25;
  LayerShapes shapes;
  shapes.batch = B;
  shapes.tokens = T;
  shapes.heads = H;
  shapes.keyDim = shapes.valueDim = d;
  mlir::OwningOpRef<mlir::ModuleOp> owned = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  mlir::ModuleOp module = *owned;
  auto func = buildLayerFunction(module, "layer", config, shapes);
  ASSERT_TRUE(static_cast<bool>(func)) << llvm::toString(func.takeError());
  {
    mlir::OwningOpRef<mlir::ModuleOp> classified = module.clone();
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    pm.addPass(createLinrecNormalize());
    pm.addPass(createLinrecFuse());
    ASSERT_TRUE(mlir::succeeded(pm.run(*classified)));
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(recurrenceOf(*classified));
    EXPECT_EQ(analysis.algorithm, Algorithm::ChunkedDelta) << analysis.reason;
  }
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto make = [](std::vector<int64_t> shape, auto value) { return drawnArray(shape, value); };
  Inputs in;
  in["q"] = make({B, T, H, d}, [&] { return normal(rng); });
  in["k"] = make({M, B, T, H, d}, [&] { return normal(rng); });
  normalizeRows(in["k"], d);
  in["v"] = make({M, B, T, H, d}, [&] { return normal(rng); });
  in["g"] = make({M, B, T, H}, [&] { return -0.5 * uniform(rng); });
  in["beta"] = make({M, B, T, H}, [&] { return uniform(rng); });
  // Logits far apart: float32 routing selects what float64 does.
  in["router_logits"] = make({B, T, M}, [&] { return 3.0 * normal(rng); });
  in["k_shared"] = make({B, T, H, d}, [&] { return normal(rng); });
  normalizeRows(in["k_shared"], d);
  in["v_shared"] = make({B, T, H, d}, [&] { return normal(rng); });
  in["g_shared"] = make({B, T, H}, [&] { return -0.5 * uniform(rng); });
  in["beta_shared"] = make({B, T, H}, [&] { return uniform(rng); });
  std::vector<Array> clean = layerArgs(config, in);
  auto reference = interpretFunction(module, "layer", clean);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());

  // NaN wherever a memory is not among a token's top-k logits (ties: the lower index).
  const Array &logits = in["router_logits"];
  int64_t unrouted = 0;
  for (int64_t bt = 0; bt < B * T; ++bt)
    for (int64_t m = 0; m < M; ++m) {
      int64_t rank = 0;
      for (int64_t n = 0; n < M; ++n) {
        double a = logits.data[bt * M + n], c = logits.data[bt * M + m];
        rank += a > c || (a == c && n < m);
      }
      if (rank < topk)
        continue;
      ++unrouted;
      int64_t token = m * B * T + bt; // [M, B, T, ...] rows of (m, b, t)
      for (int64_t h = 0; h < H; ++h) {
        for (const char *name : {"g", "beta"})
          in[name].data[token * H + h] = NAN;
        for (const char *name : {"k", "v"})
          for (int64_t i = 0; i < d; ++i)
            in[name].data[(token * H + h) * d + i] = NAN;
      }
    }
  EXPECT_EQ(unrouted, B * T * (M - topk));
  std::vector<Array> poisoned = layerArgs(config, in);
  for (KernelForm kernel : {Chunked, Scan, GpuSchedule}) {
    KernelOptions options = optionsFor(kernel, /*chunkSize=*/32);
    auto cpu = evaluateFunction(module, "layer", poisoned,
                                [&](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
                                  return runKernelOp(compiler, op, operands, options);
                                },
                                /*fuse=*/true);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *reference, 1e-5, ::testing::Message() << "kernel " << int(kernel));
  }
}

TEST_F(KernelTest, ProjectionsOfTokensAndOfReadsMatchTheReference) {
  // A projection of the token's input feeds the key (computed per chunk as a matmul) and one of
  // the read feeds the output (per token, after the reads): the chunked kernel, the scan and
  // the GPU schedule against the reference, T not a multiple of the chunk.
  std::string x = "tensor<2x77x3x8xf32>", y = "tensor<2x77x3x4xf32>";
  std::string text =
      "func.func @f(%q: " + x + ", %w: tensor<3x8x8xf32>, %u: tensor<3x8x4xf32>) -> " + y +
      " {\n"
      "  %o, %s = linrec.recurrence ins(%q : " + x + ") params(%w, %u : tensor<3x8x8xf32>, "
      "tensor<3x8x4xf32>) -> (" + y + ", tensor<2x3x8x8xf32>) {\n"
      "  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %wt: vector<8x8xf32>, "
      "%ut: vector<8x4xf32>):\n"
      "    %p = linrec.project %qt, %wt : vector<8xf32>, vector<8x8xf32> -> vector<8xf32>\n"
      "    %k = linrec.feature_map <exp> %p : vector<8xf32>\n"
      "    %S1 = linrec.write %S, %k, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>\n"
      "    %r = linrec.read %S1, %qt scale 0.1 : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>\n"
      "    %o = linrec.project %r, %ut : vector<8xf32>, vector<8x4xf32> -> vector<4xf32>\n"
      "    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<4xf32>)\n"
      "  }\n"
      "  return %o : " + y + "\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  EXPECT_NE(RecurrenceAnalysis::analyze(recurrenceOf(*module)).algorithm, Algorithm::Sequential);
  std::vector<Array> args = {normalArray({2, 77, 3, 8}, 0.5), normalArray({3, 8, 8}, 0.3),
                             normalArray({3, 8, 4}, 0.3)};
  auto reference = interpretFunction(*module, "f", args);
  ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());
  for (KernelForm kernel : {Chunked, Scan, GpuSchedule}) {
    KernelOptions options = optionsFor(kernel, /*chunkSize=*/32);
    auto cpu = runOnCpuKernels(*module, "f", args, options);
    ASSERT_TRUE(static_cast<bool>(cpu)) << llvm::toString(cpu.takeError());
    expectMatches(*cpu, *reference, 1e-5, ::testing::Message() << "kernel " << int(kernel));
  }
}

TEST_F(KernelTest, EluFeatureMapsAreAccurateNearZero) {
  // elu's e^{x} − 1 for x <= 0 on the CPU kernels (a Taylor polynomial above −0.1, one exp
  // below) against the float64 reference, element by element, over [−3, 3] with the values
  // around 0 dense: elu within 1e-6 of |x| where |x| < 0.1, else 1.5e-7 absolute.
  std::string x = "tensor<1x1000x1x16xf32>";
  std::string text =
      "func.func @f(%q: " + x + ") -> (" + x + ", " + x + ") {\n"
      "  %a, %b, %s = linrec.recurrence ins(%q : " + x + ") -> (" + x + ", " + x +
      ", tensor<1x1x16x16xf32>) {\n"
      "  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>):\n"
      "    %e = linrec.feature_map <elu> %x : vector<16xf32>\n"
      "    %p = linrec.feature_map <elu_plus_one> %x : vector<16xf32>\n"
      "    %S1 = linrec.write %S, %e, %p : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>\n"
      "    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%e, %p : vector<16xf32>, "
      "vector<16xf32>)\n"
      "  }\n"
      "  return %a, %b : " + x + ", " + x + "\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module) << text;
  Array input(DType::F32, {1, 1000, 1, 16});
  for (int64_t i = 0; i < input.numElements(); ++i) {
    double t = double(i) / double(input.numElements() - 1) * 2.0 - 1.0; // [−1, 1]
    input.data[i] = static_cast<float>(3.0 * t * t * t);                // dense near 0
  }
  auto reference = interpretFunction(*module, "f", {input});
  auto cpu = runOnCpuKernels(*module, "f", {input}, KernelOptions());
  ASSERT_TRUE(static_cast<bool>(reference) && static_cast<bool>(cpu));
  for (size_t r = 0; r < 2; ++r)
    for (int64_t i = 0; i < input.numElements(); ++i) {
      double want = (*reference)[r].data[i], got = (*cpu)[r].data[i], xi = input.data[i];
      // Near 0, relative to elu(x) ≈ x (e^{x} − 1 would lose ~6e-8 absolute there).
      double bound = r == 0 && std::abs(xi) < 0.1 ? 1e-6 * std::abs(xi) + 1e-12 : 1.5e-7;
      ASSERT_NEAR(got, want, bound) << "x = " << xi << " result #" << r;
    }
}
