//===- GpuLaunchRuntime.cpp - the launch runtime, for the JIT -------------===//

#include "linrec/Runtime/GpuLaunchRuntime.h"
#include "linrec-c/GpuLaunch.h"

namespace linrec {

llvm::orc::SymbolMap gpuLaunchSymbols(llvm::orc::MangleAndInterner interner) {
  llvm::orc::SymbolMap symbols;
  auto add = [&](const char *name, auto *function) {
    symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(function),
                               llvm::JITSymbolFlags::Exported};
  };
  add("mgpuModuleLoadJIT", &mgpuModuleLoadJIT);
  add("mgpuModuleLoad", &mgpuModuleLoad);
  add("mgpuModuleUnload", &mgpuModuleUnload);
  add("mgpuModuleGetFunction", &mgpuModuleGetFunction);
  add("mgpuStreamCreate", &mgpuStreamCreate);
  add("mgpuStreamSynchronize", &mgpuStreamSynchronize);
  add("mgpuStreamDestroy", &mgpuStreamDestroy);
  add("mgpuLaunchKernel", &mgpuLaunchKernel);
  add("mgpuMemAlloc", &mgpuMemAlloc);
  add("mgpuMemFree", &mgpuMemFree);
  return symbols;
}

llvm::Error takeGpuLaunchError() {
  char message[1024];
  if (!linrecGpuTakeError(message, sizeof(message)))
    return llvm::Error::success();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

} // namespace linrec
