//===- Executable.h - compiled functions, and running them on arrays -*- C++ -*-===//

#ifndef LINREC_RUNTIME_EXECUTABLE_H
#define LINREC_RUNTIME_EXECUTABLE_H

#include "linrec/Runtime/CompiledFunction.h"
#include "linrec/Runtime/CompiledLayer.h"

namespace linrec {

/// A function compiled in the best way its target allows: its kernels (CompiledFunction) when it
/// holds only kernel ops, else, on the CPU, as one compiled layer.
struct Executable {
  std::shared_ptr<const CompiledFunction> kernels;
  std::shared_ptr<const CompiledLayer> layer;
  llvm::Error run(llvm::ArrayRef<BufferView> args, llvm::ArrayRef<BufferView> results,
                  unsigned threads) const;
  /// run() in the checked mode (InputChecks.h): argument #i, called names[i], may hold values
  /// of domains[i] only. Arguments that no kernel checks in that domain as it loads them are
  /// scanned before the run; one whose kernel check failed is scanned after it. Fails with
  /// "input <name>[i, j, ...] = <value>: <rule>" (results are then garbage).
  llvm::Error runChecked(llvm::ArrayRef<BufferView> args, llvm::ArrayRef<BufferView> results,
                         unsigned threads, llvm::ArrayRef<std::string> names,
                         llvm::ArrayRef<ValueCheck> domains) const;
};

/// On the CPU, a state @funcName reads only transposed is carried transposed, in place
/// (linrec-transpose-reads): where that puts transposes of initial or final states around a
/// recurrence, the function is no longer made of recurrences only and compiles as a whole
/// layer. compileFunction's first step (then CompiledFunction::prepare for its kernels).
llvm::Error carryTransposedStates(mlir::ModuleOp module, llvm::StringRef funcName,
                                  const KernelOptions &options);

/// Compiles @funcName of (copies of) `module`; the error says why it compiles neither way.
llvm::Expected<Executable> compileFunction(KernelCompiler &compiler, mlir::ModuleOp module,
                                           llvm::StringRef funcName,
                                           const KernelOptions &options);

/// Runs @funcName (static shapes) compiled as a whole for options.target: as its kernels when
/// it holds only kernel ops, else (CPU only) as one compiled layer (tensor ops lowered to loops).
/// Returns no value when the function cannot be compiled that way (dynamic shapes, an op
/// without a lowering); the op-by-op evaluator then runs it and reports real errors.
llvm::Expected<std::optional<std::vector<Array>>>
runCompiledFunction(KernelCompiler &compiler, mlir::ModuleOp module, llvm::StringRef funcName,
                    llvm::ArrayRef<Array> args, const KernelOptions &options);

/// Runs one recurrence or window attention on host arrays through its kernel for
/// options.target (the compiled counterpart of interpretRecurrence): inputs convert to the
/// op's element types, results come back as arrays of their element types.
llvm::Expected<std::vector<Array>> runKernelOp(KernelCompiler &compiler, mlir::Operation *op,
                                               llvm::ArrayRef<Array> operands,
                                               const KernelOptions &options);

} // namespace linrec

#endif // LINREC_RUNTIME_EXECUTABLE_H
