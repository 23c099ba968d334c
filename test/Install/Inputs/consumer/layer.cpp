// A layer built by name and run through the installed C++ API: one GLA layer on
// constant inputs, its output's first entry against the token loop's.
#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/Kernel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include <cstdio>
#include <vector>

int main() {
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  linrec::LayerConfig config;
  config.kind = linrec::LayerKind::SimpleGLA;
  linrec::LayerShapes shapes;
  shapes.batch = 1;
  shapes.tokens = 3;
  shapes.heads = 1;
  shapes.keyDim = shapes.valueDim = 16;
  auto module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  auto layer = linrec::buildLayerFunction(module, "layer", config, shapes);
  if (!layer) {
    std::fprintf(stderr, "%s\n", llvm::toString(layer.takeError()).c_str());
    return 1;
  }
  linrec::KernelCompiler compiler;
  auto executable = linrec::compileFunction(compiler, module, "layer", linrec::KernelOptions());
  if (!executable) {
    std::fprintf(stderr, "%s\n", llvm::toString(executable.takeError()).c_str());
    return 1;
  }
  // q = k = v = 0.25 everywhere, no decay: o_t[j] = Σ_{s<=t} (k_s·q_t) v_s[j] = (t+1) · 16 · 0.25³.
  std::vector<float> x(48, 0.25f), g(3, 0.0f), o(48), state(256);
  std::vector<linrec::BufferView> args = {{x.data(), linrec::DType::F32, {1, 3, 1, 16}},
                                          {x.data(), linrec::DType::F32, {1, 3, 1, 16}},
                                          {x.data(), linrec::DType::F32, {1, 3, 1, 16}},
                                          {g.data(), linrec::DType::F32, {1, 3, 1}}};
  std::vector<linrec::BufferView> results = {{o.data(), linrec::DType::F32, {1, 3, 1, 16}},
                                             {state.data(), linrec::DType::F32, {1, 1, 16, 16}}};
  if (llvm::Error e = executable->run(args, results, 1)) {
    std::fprintf(stderr, "%s\n", llvm::toString(std::move(e)).c_str());
    return 1;
  }
  std::printf("o[last token][0] = %g (token loop: %g)\n", o[32], 3 * 16 * 0.25 * 0.25 * 0.25);
  module->erase();
  return 0;
}
