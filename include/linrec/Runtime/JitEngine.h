//===- JitEngine.h - LLVM's JIT for host code -------------------*- C++ -*-===//
//
// Every compiled function runs as host code JIT-compiled by MLIR's ExecutionEngine: CPU
// kernels, compiled layers, the GPU schedule on the CPU, and the host code that launches
// CUDA kernels.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_JITENGINE_H
#define LINREC_RUNTIME_JITENGINE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <mutex>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace linrec {

/// Initializes the host's LLVM target (once per process).
void initializeNativeTarget();

/// While alive: LLVM's options for CPU kernels (loop strength reduction, partial and run-time
/// unrolling off; the options are process-wide, so the scope holds a lock and resets them).
/// Generate a kernel's CPU code inside one.
class CpuCodeGenerationScope {
public:
  CpuCodeGenerationScope();
  ~CpuCodeGenerationScope();

private:
  static std::mutex &mutex();
  std::lock_guard<std::mutex> lock;
  std::vector<llvm::cl::Option *> overridden;
};

/// JIT-compiles a module already lowered to the LLVM dialect for the host (its target
/// machine, -O3), with its global constructors run; `openMP` links the OpenMP runtime;
/// `gpuLaunches` provides the GPU launch runtime (GpuLaunchRuntime.h) to host code that
/// launches GPU kernels. With `objectFile`, also writes the object code it generated there
/// (what the kernel disk cache keeps).
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
createJitEngine(mlir::ModuleOp module, bool openMP = false, bool gpuLaunches = false,
                llvm::StringRef objectFile = "");

} // namespace linrec

#endif // LINREC_RUNTIME_JITENGINE_H
