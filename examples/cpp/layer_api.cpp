//===- layer_api.cpp - the README's C++ API example, built and tested -----===//
//
// Builds a Gated DeltaNet layer with the layer builder, runs it through the float64 reference
// on random inputs, and prints the output's RMS and the final state's shape.
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <random>

int main() {
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  linrec::LayerConfig config; // the model and its parameters
  config.kind = linrec::LayerKind::GatedDeltaNet;
  config.scale = 0.125;
  config.initialState = true;
  linrec::LayerShapes shapes; // B, T (may be dynamic), H, dk, dv
  shapes.batch = 2;
  shapes.tokens = 128;
  shapes.heads = 4;
  shapes.keyDim = 64;
  shapes.valueDim = 64;

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  llvm::Expected<mlir::func::FuncOp> layer =
      linrec::buildLayerFunction(*module, "layer", config, shapes);
  if (!layer) {
    llvm::errs() << llvm::toString(layer.takeError()) << "\n";
    return 1;
  }

  // Inputs in linrec::layerInputNames(config) order: q, k, v, g, beta, initial_state.
  std::mt19937_64 rng(0);
  std::normal_distribution<double> normal;
  auto make = [&](std::vector<int64_t> shape, auto value) {
    linrec::Array a(linrec::DType::F32, std::move(shape));
    for (double &x : a.data)
      x = static_cast<float>(value());
    return a;
  };
  auto gaussian = [&] { return normal(rng); };
  auto unitKeys = make({2, 128, 4, 64}, gaussian);
  for (size_t row = 0; row < unitKeys.data.size(); row += 64) {
    double norm = 0;
    for (int i = 0; i < 64; ++i)
      norm += unitKeys.data[row + i] * unitKeys.data[row + i];
    for (int i = 0; i < 64; ++i)
      unitKeys.data[row + i] /= std::sqrt(norm);
  }
  std::vector<linrec::Array> inputs = {
      make({2, 128, 4, 64}, gaussian), unitKeys, make({2, 128, 4, 64}, gaussian),
      make({2, 128, 4}, [&] { return -std::log1p(std::exp(-normal(rng) - 2)); }), // log σ(x+2)
      make({2, 128, 4}, [&] { return 1 / (1 + std::exp(-normal(rng))); }),         // σ(x)
      make({2, 4, 64, 64}, [&] { return 0.1 * normal(rng); })};

  llvm::Expected<std::vector<linrec::Array>> outputs =
      linrec::interpretFunction(*module, "layer", inputs); // o, final_state
  if (!outputs) {
    llvm::errs() << llvm::toString(outputs.takeError()) << "\n";
    return 1;
  }
  double sumSq = 0;
  for (double x : (*outputs)[0].data)
    sumSq += x * x;
  llvm::outs() << "o " << (*outputs)[0].shapeString() << " rms "
               << std::sqrt(sumSq / (*outputs)[0].data.size()) << "\n";
  llvm::outs() << "final_state " << (*outputs)[1].shapeString() << "\n";
  return 0;
}
