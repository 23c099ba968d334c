//===- GpuLaunchRuntime.h - what JIT-compiled host code launches with -*- C++ -*-===//
//
// Host code lowered by gpu-to-llvm calls a small runtime (mgpuModuleLoadJIT,
// mgpuLaunchKernel, mgpuStream*: MLIR's libmlir_cuda_runtime interface, which Debian does not
// ship). linrec implements it in C (linrec-c/GpuLaunch.h, shared with ahead-of-time compiled
// kernel libraries) and hands the symbols to the JIT. The functions cannot return errors to the
// generated code: the first failure is recorded and the caller collects it after the call with
// takeGpuLaunchError.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_GPULAUNCHRUNTIME_H
#define LINREC_RUNTIME_GPULAUNCHRUNTIME_H

#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/Error.h"

namespace linrec {

/// The mgpu* entry points, for ExecutionEngine::registerSymbols.
llvm::orc::SymbolMap gpuLaunchSymbols(llvm::orc::MangleAndInterner interner);

/// The first failure of a GPU launch function since the last call (module load, launch,
/// stream synchronization), or success.
llvm::Error takeGpuLaunchError();

} // namespace linrec

#endif // LINREC_RUNTIME_GPULAUNCHRUNTIME_H
