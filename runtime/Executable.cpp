//===- Executable.cpp - compiled functions, and running them on arrays ----===//

#include "RuntimeError.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/InputChecks.h"

#include "linrec/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

namespace {
/// A typed host copy of an Array.
struct TypedBuffer {
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<int32_t> i32;
  std::vector<uint16_t> half; // f16 or bf16 bits
  BufferView view;

  TypedBuffer(DType dtype, std::vector<int64_t> shape) {
    view.dtype = dtype;
    view.shape = std::move(shape);
    size_t n = static_cast<size_t>(Array::numElementsOf(view.shape));
    switch (dtype) {
    case DType::F64:
      f64.assign(n, std::numeric_limits<double>::quiet_NaN());
      view.data = f64.data();
      break;
    case DType::I32:
    case DType::I64:
      i32.assign(n, 0);
      view.data = i32.data();
      break;
    case DType::F16:
    case DType::BF16:
      half.assign(n, dtype == DType::F16 ? 0x7e00 : 0x7fc0); // NaN
      view.data = half.data();
      break;
    case DType::F32:
      // Results are poisoned: a value the kernel does not write shows up as NaN.
      f32.assign(n, std::numeric_limits<float>::quiet_NaN());
      view.data = f32.data();
    }
  }
  void copyFrom(const Array &a) {
    for (size_t i = 0; i < a.data.size(); ++i) {
      double x = a.data[i];
      switch (view.dtype) {
      case DType::F32:
        f32[i] = static_cast<float>(x);
        break;
      case DType::F64:
        f64[i] = x;
        break;
      case DType::F16:
        half[i] = doubleToHalf(x);
        break;
      case DType::BF16:
        half[i] = doubleToBf16(x);
        break;
      default:
        i32[i] = static_cast<int32_t>(x);
      }
    }
  }
  Array toArray() const {
    Array a(view.dtype, view.shape);
    for (size_t i = 0; i < a.data.size(); ++i) {
      switch (view.dtype) {
      case DType::F32:
        a.data[i] = f32[i];
        break;
      case DType::F64:
        a.data[i] = f64[i];
        break;
      case DType::F16:
        a.data[i] = halfToDouble(half[i]);
        break;
      case DType::BF16:
        a.data[i] = bf16ToDouble(half[i]);
        break;
      default:
        a.data[i] = i32[i];
      }
    }
    return a;
  }
};
} // namespace

std::vector<int64_t> kernelResultShape(llvm::ArrayRef<int64_t> shape, bool isOutput,
                                       llvm::ArrayRef<int64_t> firstOperand, int64_t rows) {
  std::vector<int64_t> result(shape.begin(), shape.end());
  if (isOutput) {
    for (size_t d = 0; d < 3 && d < result.size(); ++d)
      result[d] = firstOperand[d];
  } else {
    result[0] = rows;
    result[1] = firstOperand[2];
  }
  return result;
}

Expected<std::optional<std::vector<Array>>>
runCompiledFunction(KernelCompiler &compiler, ModuleOp module, StringRef funcName,
                         llvm::ArrayRef<Array> args, const KernelOptions &options) {
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return runtimeError("no function @" + funcName + " with a body");
  auto staticTensor = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return tensor && tensor.hasStaticShape() && elementDType(tensor.getElementType());
  };
  if (!llvm::all_of(func.getArgumentTypes(), staticTensor) ||
      !llvm::all_of(func.getResultTypes(), staticTensor) || args.size() != func.getNumArguments())
    return std::optional<std::vector<Array>>();
  Expected<Executable> executable = compileFunction(compiler, module, funcName, options);
  if (!executable) {
    std::string why = llvm::toString(executable.takeError());
    if (getenv("LINREC_EXPLAIN"))
      llvm::errs() << "linrec: @" << funcName << " runs op by op: " << why << "\n";
    return std::optional<std::vector<Array>>(); // op by op, which reports real errors
  }
  std::vector<std::unique_ptr<TypedBuffer>> in, out;
  std::vector<BufferView> inViews, outViews;
  for (auto [array, type] : llvm::zip(args, func.getArgumentTypes())) {
    auto tensor = cast<RankedTensorType>(type);
    if (array.shape != std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end()))
      return std::optional<std::vector<Array>>(); // the op-by-op path says what is wrong
    in.push_back(std::make_unique<TypedBuffer>(*elementDType(tensor.getElementType()), array.shape));
    in.back()->copyFrom(array);
    inViews.push_back(in.back()->view);
  }
  for (Type type : func.getResultTypes()) {
    auto tensor = cast<RankedTensorType>(type);
    out.push_back(std::make_unique<TypedBuffer>(
        *elementDType(tensor.getElementType()),
        std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end())));
    outViews.push_back(out.back()->view);
  }
  if (Error e = executable->run(inViews, outViews, unsigned(options.cpu.threads)))
    return std::move(e);
  std::vector<Array> results;
  for (auto &b : out)
    results.push_back(b->toArray());
  return std::optional<std::vector<Array>>(std::move(results));
}

Expected<std::vector<Array>> runKernelOp(KernelCompiler &compiler, Operation *op,
                                      llvm::ArrayRef<Array> operands,
                                      const KernelOptions &options) {
  auto kernel = compiler.compile(op, options);
  if (!kernel)
    return kernel.takeError();
  if (operands.size() != op->getNumOperands())
    return runtimeError(op->getName().getStringRef() + " takes " +
                        llvm::Twine(op->getNumOperands()) + " operands, got " +
                        llvm::Twine(operands.size()));
  auto rec = dyn_cast<RecurrenceOp>(op);
  std::vector<std::unique_ptr<TypedBuffer>> in, out;
  for (auto [array, type] : llvm::zip(operands, op->getOperandTypes())) {
    std::optional<DType> dtype = elementDType(cast<RankedTensorType>(type).getElementType());
    in.push_back(std::make_unique<TypedBuffer>(*dtype, array.shape));
    in.back()->copyFrom(array);
  }
  // Result shapes: outputs [B, T, H, ...], final states [N, H, ...].
  const Array &first = operands.front();
  int64_t rows = (*kernel)->finalStateRows([&](unsigned i) { return operands[i].shape[0]; });
  unsigned numOutputs = rec ? rec.getNumOutputs() : op->getNumResults();
  for (auto [i, type] : llvm::enumerate(op->getResultTypes())) {
    auto tensor = cast<RankedTensorType>(type);
    out.push_back(std::make_unique<TypedBuffer>(
        *elementDType(tensor.getElementType()),
        kernelResultShape(tensor.getShape(), i < numOutputs, first.shape, rows)));
  }
  std::vector<BufferView> inViews, outViews;
  for (auto &b : in)
    inViews.push_back(b->view);
  for (auto &b : out)
    outViews.push_back(b->view);
  if (Error e = (*kernel)->run(inViews, outViews, unsigned(options.cpu.threads)))
    return std::move(e);
  std::vector<Array> results;
  for (auto &b : out)
    results.push_back(b->toArray());
  return results;
}

llvm::Error Executable::run(llvm::ArrayRef<BufferView> args,
                               llvm::ArrayRef<BufferView> results, unsigned threads) const {
  return kernels ? kernels->run(args, results, threads) : layer->run(args, results, threads);
}

llvm::Error Executable::runChecked(llvm::ArrayRef<BufferView> args,
                                   llvm::ArrayRef<BufferView> results, unsigned threads,
                                   llvm::ArrayRef<std::string> names,
                                   llvm::ArrayRef<ValueCheck> domains) const {
  if (names.size() != args.size() || domains.size() != args.size())
    return runtimeError("the checked mode needs a name and a domain per argument");
  llvm::ArrayRef<uint32_t> verified;
  if (kernels)
    verified = kernels->verifiedChecks();
  auto checkedInKernel = [&](size_t i) {
    return i < verified.size() && (verified[i] & uint32_t(domains[i]));
  };
  auto scan = [&](size_t i) -> llvm::Error {
    if (std::optional<std::string> why = checkValues(domains[i], names[i], args[i]))
      return runtimeError("input " + *why);
    return llvm::Error::success();
  };
  // A run that updates an argument in place (a state pool) must not start on bad inputs:
  // the kernels would fold them into the states before their checks report. Every other
  // argument is scanned first then (a decode step's token rows: little beside its states);
  // the updated ones keep the kernels' checks, which read only the slots the step uses.
  auto updatedInPlace = [&](size_t i) {
    return args[i].data &&
           llvm::any_of(results, [&](const BufferView &r) { return r.data == args[i].data; });
  };
  bool inPlace = false;
  for (size_t i = 0; i < args.size(); ++i)
    inPlace |= updatedInPlace(i);
  for (size_t i = 0; i < args.size(); ++i)
    if (!checkedInKernel(i) || (inPlace && !updatedInPlace(i)))
      if (llvm::Error e = scan(i))
        return e;
  std::vector<uint32_t> failed;
  if (llvm::Error e = kernels ? kernels->run(args, results, threads, &failed)
                              : layer->run(args, results, threads))
    return e;
  for (size_t i = 0; i < failed.size(); ++i)
    if (checkedInKernel(i) && (failed[i] & uint32_t(domains[i])))
      if (llvm::Error e = scan(i))
        return e;
  return llvm::Error::success();
}

llvm::Error carryTransposedStates(ModuleOp module, StringRef funcName,
                                  const KernelOptions &options) {
  if (options.target != Target::CPU)
    return llvm::Error::success();
  PassManager pm(module.getContext(), func::FuncOp::getOperationName());
  addCpuTransposedStates(pm);
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (func && failed(pm.run(func)))
    return runtimeError("linrec-transpose-reads failed on @" + funcName);
  return llvm::Error::success();
}

llvm::Expected<Executable> compileFunction(KernelCompiler &compiler, ModuleOp module,
                                            StringRef funcName, const KernelOptions &options) {
  Executable executable;
  OwningOpRef<ModuleOp> prepared(module.clone());
  if (llvm::Error e = carryTransposedStates(*prepared, funcName, options))
    return std::move(e);
  OwningOpRef<ModuleOp> kernelsCopy(prepared->clone());
  auto kernels = CompiledFunction::compile(compiler, *kernelsCopy, funcName, options);
  if (kernels) {
    executable.kernels = *kernels;
    return executable;
  }
  if (usesGpuSchedule(options.target))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "GPU kernels compile for functions made of recurrences only (the rest runs op by op): " +
            llvm::toString(kernels.takeError()));
  llvm::consumeError(kernels.takeError()); // not only kernels: compile the whole layer
  OwningOpRef<ModuleOp> layerCopy(prepared->clone());
  KernelOptions layerOptions = options;
  if (auto func = layerCopy->lookupSymbol<func::FuncOp>(funcName))
    compiler.applyTunedLayerSchedule(func, layerOptions);
  auto layer = CompiledLayer::compile(*layerCopy, funcName, layerOptions);
  if (!layer)
    return layer.takeError();
  executable.layer = *layer;
  return executable;
}

} // namespace linrec
