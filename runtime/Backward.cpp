//===- Backward.cpp - gradients of layer functions ------------------------===//

#include "linrec/Runtime/Backward.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace linrec {

static std::string backwardName(llvm::StringRef funcName) { return (funcName + "_backward").str(); }

llvm::Expected<OwningOpRef<ModuleOp>> deriveBackward(ModuleOp module, llvm::StringRef funcName,
                                                     Target target) {
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(copy->getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  LinrecBuildBackwardOptions options;
  options.function = funcName.str();
  options.transposedReads = target == Target::CPU || target == Target::Reference;
  pm.addPass(createLinrecBuildBackward(options));
  pm.addPass(createCanonicalizerPass());
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  ScopedDiagnosticHandler handler(copy->getContext(), [&](Diagnostic &d) {
    os << d << "\n";
    return success();
  });
  if (failed(pm.run(*copy)))
    return llvm::createStringError("no derived backward: " + llvm::StringRef(diagnostics).trim());
  if (!copy->lookupSymbol<func::FuncOp>(backwardName(funcName)))
    return llvm::createStringError("no public function @" + funcName + " to differentiate");
  return std::move(copy);
}

std::vector<bool> gateGradients(ModuleOp backward, llvm::StringRef funcName) {
  auto func = backward.lookupSymbol<func::FuncOp>(backwardName(funcName));
  std::vector<bool> gates;
  for (unsigned i = 0; func && i < func.getNumResults(); ++i)
    gates.push_back(func.getResultAttr(i, "linrec.gate") != nullptr);
  return gates;
}

llvm::Expected<std::vector<Array>>
runFunctionBackward(ModuleOp module, llvm::StringRef funcName, llvm::ArrayRef<Array> args,
                    llvm::ArrayRef<Array> cotangents, Target target, KernelCompiler &compiler,
                    const KernelOptions &options) {
  if (target == Target::Reference) {
    llvm::Expected<std::vector<Array>> all =
        interpretFunctionGradient(module, funcName, args, cotangents);
    if (!all)
      return all.takeError();
    std::vector<Array> gradients; // the float arguments' only, as the derived backward
    for (auto [arg, gradient] : llvm::zip(args, *all))
      if (arg.dtype == DType::F32 || arg.dtype == DType::F64)
        gradients.push_back(std::move(gradient));
    return gradients;
  }
  llvm::Expected<OwningOpRef<ModuleOp>> backward = deriveBackward(module, funcName, target);
  if (!backward)
    return backward.takeError();
  return runDerivedBackward(**backward, funcName, args, cotangents, target, compiler, options);
}

llvm::Expected<std::vector<Array>>
runDerivedBackward(ModuleOp derived, llvm::StringRef funcName, llvm::ArrayRef<Array> args,
                   llvm::ArrayRef<Array> cotangents, Target target, KernelCompiler &compiler,
                   const KernelOptions &options) {
  std::vector<Array> all(args.begin(), args.end());
  for (const Array &c : cotangents) {
    Array f32 = c;
    f32.dtype = DType::F32; // the backward takes f32 cotangents, as the layer's results
    all.push_back(std::move(f32));
  }
  return runFunction(derived, backwardName(funcName), all, target, compiler, options);
}

} // namespace linrec

std::vector<double> linrec::gradientErrors(llvm::ArrayRef<Array> gradients,
                                           llvm::ArrayRef<Array> expected,
                                           llvm::ArrayRef<Array> inputs) {
  // Over the finite entries: a −∞ log-decay (a reset) says nothing about an input's size (an
  // infinite norm would make every floor infinite and every error 0).
  auto norm = [](const Array &a) {
    double sum = 0;
    for (double x : a.data)
      if (std::isfinite(x))
        sum += x * x;
    return std::sqrt(sum);
  };
  double sensitivity = 0;
  for (size_t i = 0; i < expected.size() && i < inputs.size(); ++i)
    sensitivity = std::max(sensitivity, norm(expected[i]) * norm(inputs[i]));
  std::vector<double> errors;
  for (size_t i = 0; i < gradients.size() && i < expected.size(); ++i) {
    double diff = 0;
    for (size_t k = 0; k < expected[i].data.size() && k < gradients[i].data.size(); ++k)
      diff += (gradients[i].data[k] - expected[i].data[k]) *
              (gradients[i].data[k] - expected[i].data[k]);
    double inputNorm = i < inputs.size() ? norm(inputs[i]) : 0.0;
    double floor = inputNorm > 0 ? 1e-4 * sensitivity / inputNorm : 0.0;
    double scale = std::max(norm(expected[i]), floor);
    errors.push_back(scale > 0 ? std::sqrt(diff) / scale : std::sqrt(diff));
  }
  return errors;
}
