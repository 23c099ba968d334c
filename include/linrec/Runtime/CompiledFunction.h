//===- CompiledFunction.h - a layer function as one CPU kernel --*- C++ -*-===//
//
// A func.func whose body is one recurrence (after linrec-normalize and linrec-fuse) runs as
// that recurrence's CPU kernel: the function's arguments are the kernel's operands (tensor
// constants of the function, such as a lightning layer's decays, are materialized once) and
// its results are the kernel's results, so callers' buffers pass through without copies.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_COMPILEDFUNCTION_H
#define LINREC_RUNTIME_COMPILEDFUNCTION_H

#include "linrec/Runtime/CpuRuntime.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <vector>

namespace linrec {

class CompiledFunction {
public:
  /// Prepares @funcName of `module` (normalized and fused in place) and compiles its
  /// recurrence with `compiler`. Fails with a message when the body is not one recurrence fed
  /// by arguments and float constants whose results the function returns.
  static llvm::Expected<std::shared_ptr<const CompiledFunction>>
  compile(CpuCompiler &compiler, mlir::ModuleOp module, llvm::StringRef funcName,
          const CpuKernelOptions &options);

  /// Runs on the function's arguments and writes its results (checked by the kernel).
  llvm::Error run(llvm::ArrayRef<BufferView> args, llvm::ArrayRef<BufferView> results,
                  unsigned threads) const;

  size_t numArgs() const { return numArgs_; }
  size_t numResults() const { return numResults_; }
  const CpuKernel &kernel() const { return *kernel_; }

private:
  std::shared_ptr<const CpuKernel> kernel_;
  size_t numArgs_ = 0, numResults_ = 0;
  /// For each kernel operand: the function argument it is, or -1 for a constant.
  std::vector<int> operandArg;
  std::vector<std::vector<double>> constants; // per operand, when a constant
  std::vector<std::vector<float>> constantsF32;
  std::vector<std::vector<int64_t>> constantShapes;
  /// For each kernel result: the function result it is.
  std::vector<int> resultIndex;
};

} // namespace linrec

#endif // LINREC_RUNTIME_COMPILEDFUNCTION_H
