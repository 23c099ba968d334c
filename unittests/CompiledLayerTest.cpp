//===- CompiledLayerTest.cpp - whole layer functions on the CPU -----------===//
//
// A layer with tensor ops around its recurrence (TransNormer: RMSNorm over all heads as
// linalg ops) compiles as one function and matches the float64 reference; wrong buffers are
// error values.

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/CompiledLayer.h"

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
  auto layer = CompiledLayer::compile(*copy, "layer", CpuKernelOptions());
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

} // namespace
