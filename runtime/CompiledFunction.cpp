//===- CompiledFunction.cpp - a layer function as one CPU kernel ----------===//

#include "linrec/Runtime/CompiledFunction.h"
#include "linrec/Pipelines/Pipelines.h"
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

llvm::Error CompiledFunction::prepare(ModuleOp module, const KernelOptions &options) {
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (usesGpuSchedule(options.target))
    buildGpuFusionPipeline(pm, options.gpu);
  else
    buildCpuFusionPipeline(pm, options.cpu);
  if (failed(pm.run(module)))
    return error("preparing the module (linrec-" +
                 llvm::Twine(usesGpuSchedule(options.target) ? "gpu" : "cpu") +
                 "-fusion) failed:\n" + diagnostics);
  return llvm::Error::success();
}

llvm::Expected<std::shared_ptr<const CompiledFunction>>
CompiledFunction::compile(KernelCompiler &compiler, ModuleOp module, StringRef funcName,
                          const KernelOptions &options) {
  if (llvm::Error e = prepare(module, options))
    return std::move(e);
  // What the kernels' compiles report, for their errors.
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return error("no function @" + funcName + " with a body");

  auto function = std::make_shared<CompiledFunction>();
  function->numArgs_ = func.getNumArguments();
  function->numResults_ = func.getNumResults();
  function->verifiedChecks_.assign(func.getNumArguments(), 0);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  llvm::DenseMap<Value, Slot> slots;
  for (BlockArgument arg : func.getArguments())
    slots[arg] = Slot{Slot::Argument, static_cast<int>(arg.getArgNumber())};
  for (Operation &op : func.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      break;
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      auto dense = dyn_cast<DenseFPElementsAttr>(constant.getValue());
      if (!dense)
        return error("a compiled function takes float tensor constants only");
      Constant c;
      for (APFloat v : dense.getValues<APFloat>())
        c.f64.push_back(v.convertToDouble());
      c.f32.assign(c.f64.begin(), c.f64.end());
      c.shape.assign(dense.getType().getShape().begin(), dense.getType().getShape().end());
      slots[constant.getResult()] =
          Slot{Slot::Constant, static_cast<int>(function->constants.size())};
      function->constants.push_back(std::move(c));
      continue;
    }
    if (!isa<RecurrenceOp, WindowAttentionOp>(op))
      return error("'" + op.getName().getStringRef() +
                   "' is not a kernel op (a compiled function runs recurrences and window "
                   "attentions)");
    Step step;
    for (Value operand : op.getOperands()) {
      auto it = slots.find(operand);
      if (it == slots.end())
        return error("a kernel operand comes from outside the function's kernels");
      step.operands.push_back(it->second);
    }
    auto rec = dyn_cast<RecurrenceOp>(op);
    unsigned numOutputs = rec ? rec.getNumOutputs() : op.getNumResults();
    for (auto [i, result] : llvm::enumerate(op.getResults())) {
      auto type = cast<RankedTensorType>(result.getType());
      std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
      for (int64_t &d : shape)
        d = ShapedType::isDynamic(d) ? -1 : d;
      step.resultShapes.push_back(shape);
      step.resultIsOutput.push_back(i < numOutputs);
      // Returned values are written into the caller's buffers; the others into scratch.
      auto returned = llvm::find(ret.getOperands(), result);
      Slot slot = returned != ret.getOperands().end()
                      ? Slot{Slot::Result, static_cast<int>(returned - ret.getOperands().begin())}
                      : Slot{Slot::Intermediate, static_cast<int>(function->numIntermediates++)};
      if (returned != ret.getOperands().end() &&
          llvm::count(ret.getOperands(), result) > 1)
        return error("a compiled function returns each value once");
      // Values passed between kernels live in f32 scratch; a returned one is written in the
      // caller's buffer in its own type (a bf16 state pool).
      if (slot.kind == Slot::Intermediate && !type.getElementType().isF32())
        return error("values passed between kernels are f32 tensors");
      slots[result] = slot;
      step.results.push_back(slot);
    }
    auto kernel = compiler.compile(&op, options);
    if (!kernel)
      return error(llvm::toString(kernel.takeError()) + "\n" + diagnostics);
    step.kernel = *kernel;
    for (auto [i, slot] : llvm::enumerate(step.operands))
      if (slot.kind == Slot::Argument)
        function->verifiedChecks_[slot.index] |= uint32_t(step.kernel->valueCheck(i));
    function->steps.push_back(std::move(step));
  }
  if (function->steps.empty())
    return error("the function has no recurrence or window attention to compile");
  for (Value returned : ret.getOperands()) {
    auto it = slots.find(returned);
    if (it == slots.end() || it->second.kind != Slot::Result)
      return error("every result of a compiled function must be a kernel's result");
  }
  return std::shared_ptr<const CompiledFunction>(std::move(function));
}

llvm::Error CompiledFunction::run(llvm::ArrayRef<BufferView> args,
                                  llvm::ArrayRef<BufferView> results, unsigned threads,
                                  std::vector<uint32_t> *failedChecks) const {
  if (args.size() != numArgs_ || results.size() != numResults_)
    return error("the function takes " + llvm::Twine(numArgs_) + " arguments and " +
                 llvm::Twine(numResults_) + " results, got " + llvm::Twine(args.size()) +
                 " and " + llvm::Twine(results.size()));
  if (failedChecks)
    failedChecks->assign(numArgs_, 0);
  std::vector<std::vector<float>> scratch(numIntermediates);
  std::vector<BufferView> intermediates(numIntermediates);
  for (const Step &step : steps) {
    std::vector<BufferView> operands;
    for (auto [i, slot] : llvm::enumerate(step.operands)) {
      switch (slot.kind) {
      case Slot::Argument:
        operands.push_back(args[slot.index]);
        break;
      case Slot::Result:
        operands.push_back(results[slot.index]);
        break;
      case Slot::Intermediate:
        operands.push_back(intermediates[slot.index]);
        break;
      case Slot::Constant: {
        // A constant keeps the element type of its tensor (the kernel checks it).
        const Constant &c = constants[slot.index];
        BufferView view;
        view.shape = c.shape;
        view.dtype = step.kernel->operandDType(i);
        view.data = view.dtype == DType::F64
                        ? static_cast<void *>(const_cast<double *>(c.f64.data()))
                        : static_cast<void *>(const_cast<float *>(c.f32.data()));
        operands.push_back(view);
        break;
      }
      }
    }
    if (operands.empty() || operands.front().shape.size() < 3)
      return error("a kernel's first operand must be [B, T, H, ...]");
    // Scratch results: B, T, H from operand #0; state rows from B or cu_seqlens.
    const std::vector<int64_t> &first = operands.front().shape;
    int64_t rows =
        step.kernel->finalStateRows([&](unsigned i) { return operands[i].shape[0]; });
    std::vector<BufferView> kernelResults;
    for (auto [i, slot] : llvm::enumerate(step.results)) {
      if (slot.kind == Slot::Result) {
        kernelResults.push_back(results[slot.index]);
        continue;
      }
      std::vector<int64_t> shape =
          kernelResultShape(step.resultShapes[i], step.resultIsOutput[i], first, rows);
      scratch[slot.index].assign(Array::numElementsOf(shape), 0.0f);
      intermediates[slot.index] = BufferView{scratch[slot.index].data(), DType::F32, shape};
      kernelResults.push_back(intermediates[slot.index]);
    }
    uint32_t status = 0;
    if (llvm::Error e = step.kernel->run(operands, kernelResults, threads, &status))
      return e;
    // A failed check is the argument's whose kernel checks it that way.
    if (failedChecks && status)
      for (auto [i, slot] : llvm::enumerate(step.operands))
        if (slot.kind == Slot::Argument)
          (*failedChecks)[slot.index] |= status & uint32_t(step.kernel->valueCheck(i));
  }
  return llvm::Error::success();
}

} // namespace linrec
