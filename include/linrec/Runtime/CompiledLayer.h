//===- CompiledLayer.h - a whole layer function JIT-compiled ----*- C++ -*-===//
//
// A layer function with static shapes compiles as a whole: its linrec ops become kernel calls
// (linrec-lower-cpu), the tensor ops around them (projections, norms over heads, routing,
// token shifts and slices) are bufferized and lowered to loops, intermediates are freed by
// ownership-based deallocation, and results are written into the caller's buffers. Each
// kernel call runs its work items on OpenMP threads. CPU only: a layer that holds more than
// kernel ops has no GPU form yet.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_COMPILEDLAYER_H
#define LINREC_RUNTIME_COMPILEDLAYER_H

#include "linrec/Runtime/Kernel.h"

#include "mlir/IR/BuiltinOps.h"

namespace linrec {

class CompiledLayer {
public:
  /// Compiles @funcName of `module` (lowered in place; static shapes). Fails with a message
  /// when an op has no CPU lowering.
  static llvm::Expected<std::shared_ptr<const CompiledLayer>>
  compile(mlir::ModuleOp module, llvm::StringRef funcName, const KernelOptions &options);
  ~CompiledLayer();

  /// Runs on the function's arguments and writes its results; every buffer must have the
  /// function's static shape and element type. Kernel calls run on `threads` OpenMP threads
  /// (0: every hardware thread).
  llvm::Error run(llvm::ArrayRef<BufferView> args, llvm::ArrayRef<BufferView> results,
                  unsigned threads = 0) const;

private:
  CompiledLayer() = default;
  struct Spec {
    DType dtype;
    std::vector<int64_t> shape;
  };
  std::unique_ptr<mlir::ExecutionEngine> engine;
  void (*entry)(void **) = nullptr;
  std::vector<Spec> argSpecs, resultSpecs;
};

} // namespace linrec

#endif // LINREC_RUNTIME_COMPILEDLAYER_H
