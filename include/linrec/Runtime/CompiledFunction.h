//===- CompiledFunction.h - a layer function as one CPU kernel --*- C++ -*-===//
//
// A func.func whose body (after linrec-normalize and linrec-fuse) is a sequence of kernel ops
// (recurrences, window attentions) runs as those CPU kernels in order: the function's
// arguments and results are the kernels' buffers, so callers' buffers pass through without
// copies; tensor constants of the function (a lightning layer's decays) are materialized once
// and values passed from one kernel to the next live in f32 scratch buffers.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_COMPILEDFUNCTION_H
#define LINREC_RUNTIME_COMPILEDFUNCTION_H

#include "linrec/Runtime/Kernel.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <vector>

namespace linrec {

class CompiledFunction {
public:
  /// Prepares @funcName of `module` (normalized and fused in place) and compiles each of its
  /// kernel ops (recurrences, window attentions) with `compiler`. Fails with a message when the
  /// body holds anything else than those, tensor constants and the return (projections,
  /// routing, norms over heads still need the op-by-op evaluator).
  static llvm::Expected<std::shared_ptr<const CompiledFunction>>
  compile(KernelCompiler &compiler, mlir::ModuleOp module, llvm::StringRef funcName,
          const KernelOptions &options);
  /// compile()'s preparation alone, in place: the target's fusion pipeline (what surrounds a
  /// recurrence moves into it). Its kernel ops are the ones the kernel compiler sees.
  static llvm::Error prepare(mlir::ModuleOp module, const KernelOptions &options);

  /// Runs on the function's arguments and writes its results (each kernel checks its
  /// buffers). Values passed between kernels live in f32 scratch buffers. With
  /// `failedChecks`: per argument, the ValueCheck bits its kernels' value checks failed.
  llvm::Error run(llvm::ArrayRef<BufferView> args, llvm::ArrayRef<BufferView> results,
                  unsigned threads, std::vector<uint32_t> *failedChecks = nullptr) const;
  /// Per argument, the ValueCheck bits that some kernel checks in every one of its values
  /// (compiled in the checked mode, KernelOptions::checkInputValues).
  llvm::ArrayRef<uint32_t> verifiedChecks() const { return verifiedChecks_; }

  size_t numArgs() const { return numArgs_; }
  size_t numResults() const { return numResults_; }
  /// How many kernels it runs, and their JIT compile time (cached kernels count as compiled).
  size_t numKernels() const { return steps.size(); }
  double compileSeconds() const {
    double total = 0;
    for (const Step &step : steps)
      total += step.kernel->compileSeconds();
    return total;
  }

private:
  /// Where a kernel operand comes from, or where a kernel result goes.
  struct Slot {
    enum Kind { Argument, Constant, Intermediate, Result } kind;
    int index; // argument, constant, intermediate or function result number
  };
  struct Step {
    std::shared_ptr<const Kernel> kernel;
    std::vector<Slot> operands, results;
    /// Per result: its static shape with -1 for B, T, H (from operand #0) or N (state rows).
    std::vector<std::vector<int64_t>> resultShapes;
    std::vector<bool> resultIsOutput; // [B, T, H, ...] rather than [N, H, ...]
  };
  struct Constant {
    std::vector<double> f64;
    std::vector<float> f32;
    std::vector<int64_t> shape;
  };

  size_t numArgs_ = 0, numResults_ = 0, numIntermediates = 0;
  std::vector<uint32_t> verifiedChecks_;
  std::vector<Step> steps;
  std::vector<Constant> constants;
};

} // namespace linrec

#endif // LINREC_RUNTIME_COMPILEDFUNCTION_H
