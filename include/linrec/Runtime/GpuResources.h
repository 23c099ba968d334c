//===- GpuResources.h - what a GPU kernel needs, as ptxas reports it -*- C++ -*-===//
//
// The GPU tuner's cost model is the assembler itself: a schedule candidate is lowered to PTX
// (linrec-to-nvvm, format=isa) and assembled by `ptxas -v` for its chip, which reports the
// registers per thread, spills and static shared memory of each kernel; the dynamic shared
// memory is the launch's constant. A candidate that spills or needs more shared memory than a
// block may have is pruned before anything is timed. Needs the CUDA toolkit's ptxas, not a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_GPURESOURCES_H
#define LINREC_RUNTIME_GPURESOURCES_H

#include "linrec/Runtime/Kernel.h"

#include "mlir/IR/Operation.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace linrec {

/// One GPU kernel's resources.
struct GpuKernelResources {
  std::string kernel;
  std::string chip;
  int64_t registers = 0;     // per thread
  int64_t spillBytes = 0;    // spill stores + spill loads
  int64_t staticShared = 0;  // bytes
  int64_t dynamicShared = 0; // bytes, the launch's
  int64_t sharedLimit = 0;   // bytes a block may use on the chip
  /// Why the kernel cannot run well ("spills 12 bytes", "needs 240 KiB of shared memory..."),
  /// or empty.
  std::string problem() const;
};

/// The resources of every GPU kernel `op` (a recurrence or window attention with static
/// shapes) lowers to under `options.gpu` (chip and CUDA toolkit included), by linrec-to-nvvm
/// and `ptxas -v`. An error when the lowering or ptxas fails, or when there is no ptxas.
llvm::Expected<std::vector<GpuKernelResources>> assembleGpuKernels(mlir::Operation *op,
                                                                  const KernelOptions &options);

/// "120 registers, 0 B spilled, 200 KiB shared" for a candidate's kernels (the largest).
std::string describeGpuResources(const std::vector<GpuKernelResources> &kernels);

} // namespace linrec

#endif // LINREC_RUNTIME_GPURESOURCES_H
