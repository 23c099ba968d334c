//===- CompiledLayerTest.cpp - whole layer functions on the CPU -----------===//
//
// A layer with tensor ops around its recurrence (TransNormer: RMSNorm over all heads as
// linalg ops) compiles as one function and matches the float64 reference; wrong buffers are
// error values.

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Runtime/Executable.h"
#include "TestOptions.h"
#include "linrec/Runtime/CompiledLayer.h"

#include "mlir/Pass/PassManager.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace linrec;

namespace {

TEST(CompiledLayer, TransNormerMatchesTheReference) {
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  LayerConfig config;
  config.kind = LayerKind::TransNormerNorm;
  config.featureMap = FeatureMapKind::EluPlusOne;
  config.eps = 1e-8f;
  LayerShapes shapes;
  shapes.batch = 2;
  shapes.tokens = 37;
  shapes.heads = 3;
  shapes.keyDim = 8;
  shapes.valueDim = 16;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  ASSERT_TRUE(static_cast<bool>(buildLayerFunction(*module, "layer", config, shapes)));
  mlir::OwningOpRef<mlir::ModuleOp> copy(module->clone());
  auto layer = CompiledLayer::compile(*copy, "layer", KernelOptions());
  ASSERT_TRUE(static_cast<bool>(layer)) << llvm::toString(layer.takeError());

  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  std::vector<int64_t> qShape = {2, 37, 3, 8}, vShape = {2, 37, 3, 16}, sShape = {2, 3, 8, 16};
  std::vector<float> q(2 * 37 * 3 * 8), k(q.size()), v(2 * 37 * 3 * 16), o(v.size(), NAN),
      s(2 * 3 * 8 * 16, NAN);
  for (std::vector<float> *x : {&q, &k, &v})
    for (float &value : *x)
      value = normal(rng);
  std::vector<BufferView> args = {{q.data(), DType::F32, qShape},
                                  {k.data(), DType::F32, qShape},
                                  {v.data(), DType::F32, vShape}};
  std::vector<BufferView> results = {{o.data(), DType::F32, vShape}, {s.data(), DType::F32, sShape}};
  ASSERT_FALSE(static_cast<bool>((*layer)->run(args, results)));

  auto asArray = [](const std::vector<float> &x, std::vector<int64_t> shape) {
    Array a(DType::F32, std::move(shape));
    a.data.assign(x.begin(), x.end());
    return a;
  };
  auto reference = interpretFunction(*module, "layer",
                                     {asArray(q, qShape), asArray(k, qShape), asArray(v, vShape)});
  ASSERT_TRUE(static_cast<bool>(reference));
  EXPECT_LT(relativeRmsError(asArray(o, vShape), (*reference)[0]), 1e-5);
  EXPECT_LT(relativeRmsError(asArray(s, sShape), (*reference)[1]), 1e-5);

  // Buffers of other shapes or types, or missing ones, are errors.
  auto message = [&](std::vector<BufferView> a, std::vector<BufferView> r) {
    llvm::Error e = (*layer)->run(a, r);
    return e ? llvm::toString(std::move(e)) : std::string();
  };
  auto bad = args;
  bad[1].shape = {2, 36, 3, 8};
  EXPECT_NE(message(bad, results).find("argument #1 has another shape"), std::string::npos);
  bad = args;
  bad[0].dtype = DType::F64;
  EXPECT_NE(message(bad, results).find("argument #0 must be float32, got float64"), std::string::npos);
  EXPECT_NE(message(args, {results[0]}).find("takes 3 arguments and 2 results"),
            std::string::npos);
}

TEST(CompiledLayer, TransNormerNormsOverHeadsInsideTheKernel) {
  // With at least a batch row per thread, linrec-fuse-heads-norms moves the norm over heads
  // into the chunked kernel (every head of a row in one work item); fewer rows keep it apart
  // (parallelism), and so does the scan. Every way matches the reference; chunks of 16 and
  // T = 53 leave a partial last chunk.
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::mt19937_64 rng(9);
  std::normal_distribution<float> normal;
  for (int64_t batch : {1, 3})
    for (unsigned threads : {1u, 2u})
    for (bool sequential : {false, true}) {
      LayerConfig config;
      config.kind = LayerKind::TransNormerNorm;
      config.featureMap = FeatureMapKind::Elu;
      config.eps = 1e-8f;
      LayerShapes shapes;
      shapes.batch = batch;
      shapes.tokens = 53;
      shapes.heads = 4;
      shapes.keyDim = 8;
      shapes.valueDim = 16;
      mlir::OwningOpRef<mlir::ModuleOp> module =
          mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
      ASSERT_TRUE(static_cast<bool>(buildLayerFunction(*module, "layer", config, shapes)));

      // Where the norm goes.
      mlir::OwningOpRef<mlir::ModuleOp> fused(module->clone());
      mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
      CpuPipelineOptions fusion;
      fusion.threads = threads;
      buildCpuFusionPipeline(pm, fusion);
      ASSERT_TRUE(mlir::succeeded(pm.run(*fused)));
      int norms = 0, inside = 0;
      fused->walk([&](HeadsRmsNormOp) { ++norms; });
      fused->walk([&](RecurrenceOp op) { inside += bool(op.getHeadsNormEps()); });
      bool fuses = batch >= threads;
      EXPECT_EQ(inside, fuses ? 1 : 0);
      EXPECT_EQ(norms, fuses ? 0 : 1);

      std::vector<int64_t> qShape = {batch, 53, 4, 8}, vShape = {batch, 53, 4, 16},
                           sShape = {batch, 4, 8, 16};
      auto make = [&](std::vector<int64_t> shape, float scale) {
        Array a(DType::F32, shape);
        for (double &x : a.data)
          x = scale * normal(rng);
        return a;
      };
      std::vector<Array> inputs = {make(qShape, 0.5f), make(qShape, 0.5f), make(vShape, 1.0f)};
      auto reference = interpretFunction(*module, "layer", inputs);
      ASSERT_TRUE(static_cast<bool>(reference)) << llvm::toString(reference.takeError());

      KernelCompiler compiler;
      KernelOptions options;
      setChunkSize(options, 16);
      setSequential(options, sequential);
      options.cpu.threads = threads;
      auto executable = compileFunction(compiler, *module, "layer", options);
      ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
      std::vector<std::vector<float>> in, out = {std::vector<float>(Array::numElementsOf(vShape), NAN),
                                                std::vector<float>(Array::numElementsOf(sShape), NAN)};
      std::vector<BufferView> args, results;
      for (const Array &a : inputs) {
        in.emplace_back(a.data.begin(), a.data.end());
        args.push_back({in.back().data(), DType::F32, a.shape});
      }
      results.push_back({out[0].data(), DType::F32, vShape});
      results.push_back({out[1].data(), DType::F32, sShape});
      ASSERT_FALSE(static_cast<bool>(executable->run(args, results, threads)));
      for (auto [i, shape] : llvm::enumerate(std::vector<std::vector<int64_t>>{vShape, sShape})) {
        Array a(DType::F32, shape);
        a.data.assign(out[i].begin(), out[i].end());
        EXPECT_FALSE(hasNonFinite(a));
        EXPECT_LT(relativeRmsError(a, (*reference)[i]), 1e-5)
            << "B " << batch << ", " << threads << " threads"
            << (sequential ? " scan" : " chunked") << " result #" << i;
      }
    }
}

} // namespace
