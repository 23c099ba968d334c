//===- CompiledFunction.cpp - a layer function as one CPU kernel ----------===//

#include "linrec/Runtime/CompiledFunction.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace linrec {

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

llvm::Expected<std::shared_ptr<const CompiledFunction>>
CompiledFunction::compile(CpuCompiler &compiler, ModuleOp module, StringRef funcName,
                          const CpuKernelOptions &options) {
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  pm.addPass(createLinrecFuse());
  pm.addPass(createCanonicalizerPass());
  if (failed(pm.run(module)))
    return error("preparing the module (linrec-normalize, linrec-fuse) failed:\n" + diagnostics);
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return error("no function @" + funcName + " with a body");
  SmallVector<RecurrenceOp> recurrences(func.getOps<RecurrenceOp>());
  if (recurrences.size() != 1)
    return error("a compiled function's body is one recurrence (found " +
                 llvm::Twine(recurrences.size()) + ")");
  RecurrenceOp op = recurrences.front();

  auto function = std::make_shared<CompiledFunction>();
  function->numArgs_ = func.getNumArguments();
  function->numResults_ = func.getNumResults();
  for (Value operand : op->getOperands()) {
    if (auto arg = dyn_cast<BlockArgument>(operand)) {
      function->operandArg.push_back(static_cast<int>(arg.getArgNumber()));
      function->constants.emplace_back();
      function->constantsF32.emplace_back();
      function->constantShapes.emplace_back();
      continue;
    }
    auto constant = operand.getDefiningOp<arith::ConstantOp>();
    auto dense = constant ? dyn_cast<DenseFPElementsAttr>(constant.getValue()) : nullptr;
    if (!dense)
      return error("a recurrence operand is neither a function argument nor a float tensor "
                   "constant");
    function->operandArg.push_back(-1);
    std::vector<double> values;
    for (APFloat v : dense.getValues<APFloat>())
      values.push_back(v.convertToDouble());
    function->constantsF32.emplace_back(values.begin(), values.end());
    function->constants.push_back(std::move(values));
    auto shape = dense.getType().getShape();
    function->constantShapes.emplace_back(shape.begin(), shape.end());
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value returned : ret.getOperands())
    if (returned.getDefiningOp() != op.getOperation())
      return error("every result of the function must be a result of its recurrence");
  for (Value result : op->getResults()) {
    auto it = llvm::find(ret.getOperands(), result);
    if (it == ret.getOperands().end())
      return error("the function must return every result of its recurrence");
    function->resultIndex.push_back(static_cast<int>(it - ret.getOperands().begin()));
  }
  auto kernel = compiler.compile(op, options);
  if (!kernel)
    return error(llvm::toString(kernel.takeError()) + "\n" + diagnostics);
  function->kernel_ = *kernel;
  return std::shared_ptr<const CompiledFunction>(std::move(function));
}

llvm::Error CompiledFunction::run(llvm::ArrayRef<BufferView> args,
                                  llvm::ArrayRef<BufferView> results, unsigned threads) const {
  if (args.size() != numArgs_ || results.size() != numResults_)
    return error("the function takes " + llvm::Twine(numArgs_) + " arguments and " +
                 llvm::Twine(numResults_) + " results, got " + llvm::Twine(args.size()) +
                 " and " + llvm::Twine(results.size()));
  std::vector<BufferView> operands;
  for (size_t i = 0; i < operandArg.size(); ++i) {
    if (operandArg[i] >= 0) {
      operands.push_back(args[operandArg[i]]);
      continue;
    }
    // A constant keeps the element type of its tensor (the kernel checks it).
    BufferView view;
    view.shape = constantShapes[i];
    view.dtype = kernel_->operandDType(i);
    view.data = view.dtype == DType::F64
                    ? static_cast<void *>(const_cast<double *>(constants[i].data()))
                    : static_cast<void *>(const_cast<float *>(constantsF32[i].data()));
    operands.push_back(view);
  }
  std::vector<BufferView> kernelResults;
  for (int index : resultIndex)
    kernelResults.push_back(results[index]);
  return kernel_->run(operands, kernelResults, threads);
}

} // namespace linrec
