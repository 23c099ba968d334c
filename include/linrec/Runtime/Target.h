//===- Target.h - where compiled code runs ----------------------*- C++ -*-===//

#ifndef LINREC_RUNTIME_TARGET_H
#define LINREC_RUNTIME_TARGET_H

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace linrec {

/// Where a function or a kernel runs.
enum class Target {
  /// The float64 reference interpreter: no kernels.
  Reference,
  /// CPU kernels (linrec-lower-cpu), JIT-compiled for the host.
  CPU,
  /// The GPU schedule (linrec-lower-gpu) run on the CPU, a thread loop at a time: how the GPU
  /// lowering is tested on machines without a GPU.
  GPUScheduleOnCPU,
  /// GPU kernels (linrec-to-nvvm), launched through the CUDA driver on buffers copied to the
  /// device and back.
  CUDA,
};

/// "reference", "cpu", "gpu-schedule", "cuda".
std::optional<Target> parseTarget(llvm::StringRef name);
llvm::StringRef targetName(Target target);

/// Whether `target` compiles the GPU schedule (linrec-lower-gpu) rather than CPU kernels.
inline bool usesGpuSchedule(Target target) {
  return target == Target::GPUScheduleOnCPU || target == Target::CUDA;
}

} // namespace linrec

#endif // LINREC_RUNTIME_TARGET_H
