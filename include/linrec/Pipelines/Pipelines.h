//===- Pipelines.h - named linrec pipelines ---------------------*- C++ -*-===//
//
// Every pipeline the runtime runs, each also registered for linrec-opt under its name (with
// the options of ScheduleOptions.h), so that what the runtime does to a module can be
// reproduced and tested pass by pass:
//
//   linrec-cpu-fusion     what surrounds a recurrence moved into it (CPU: windows and norms
//                         over heads too); the runtime's first step for a layer function
//   linrec-gpu-fusion     the same for the GPU (windows with fuse-windows=1)
//   linrec-to-cpu         CPU kernels, the module bufferized, LLVM dialect: how a kernel op
//                         compiles for Target::CPU
//   linrec-gpu-schedule-on-cpu
//                         the GPU schedule run on the CPU (Target::GPUScheduleOnCPU)
//   linrec-to-nvvm        GPU schedules mapped onto gpu.launch, NVVM, PTX or cubin
//   linrec-to-cuda        linrec-to-nvvm, then the host code that launches the kernels to the
//                         LLVM dialect (Target::CUDA)
//   linrec-layer-to-cpu   a whole layer function (tensor ops around the kernels) to the LLVM
//                         dialect, kernel calls on OpenMP threads: a compiled layer
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_PIPELINES_PIPELINES_H
#define LINREC_PIPELINES_PIPELINES_H

#include "linrec/Pipelines/ScheduleOptions.h"

#include "mlir/Pass/PassManager.h"

#include <string>

namespace linrec {

/// linrec-normalize, linrec-select-algorithm, linrec-fuse-delays, linrec-fuse,
/// linrec-fuse-projections, linrec-fuse-windows (with fuse-windows), linrec-fuse-heads-norms
/// (for batches of at least `threads` rows, 0 meaning the host's hardware threads; not for the
/// scan) and the canonicalizer.
void buildCpuFusionPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);
/// The same for GPU schedules: no norm over heads moves into a recurrence.
void buildGpuFusionPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// The CPU fusion pipeline, linrec-expand-layer-ops, linrec-classify, linrec-lower-cpu,
/// symbol-dce: every recurrence and window becomes a kernel function on memrefs (and a call of
/// it); private functions left without callers go.
void buildCpuKernelPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// linrec-transpose-reads{mirror=0}: a state read only transposed is carried transposed (no
/// transpose per chunk, its initial and final states transposed around the recurrence); the
/// CPU kernels read states read both ways themselves. For whole functions (a layer's
/// pipeline, the runtime's function compile), not a kernel source, whose operands are fixed.
void addCpuTransposedStates(mlir::OpPassManager &pm);

/// Kernel functions (scf, vector, memref, math, arith) to the LLVM dialect; `gpuLaunches`
/// also lowers gpu.launch_func and gpu.binary (host code of GPU kernels, gpu-to-llvm).
void buildKernelsToLLVMPipeline(mlir::OpPassManager &pm, bool gpuLaunches = false);

/// linrec-to-cpu: the CPU kernel pipeline, one-shot bufferization of the functions that call
/// the kernels, and the LLVM dialect.
void buildLinrecToCpuPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// The CUDA toolkit the GPU pipeline uses when none is given.
std::string defaultCudaPath();

/// The shared memory one block may use on `chip` (bytes; opt-in dynamic shared memory).
int64_t sharedMemoryLimitOf(llvm::StringRef chip);

/// The GPU fusion pipeline, linrec-expand-layer-ops, linrec-classify, linrec-lower-gpu,
/// symbol-dce: every recurrence becomes a kernel function holding its GPU schedule (block and
/// thread loops, workgroup tiles), not yet mapped onto gpu.launch.
void buildGpuSchedulePipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// linrec-gpu-schedule-on-cpu: the GPU schedule pipeline, linrec-gpu-schedule-to-cpu, the
/// tiles' matmuls as loops, bufferization and the LLVM dialect. The runtime runs it like a CPU
/// kernel, which is how the schedule is tested without a GPU.
void buildGpuScheduleOnCpuPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// GPU schedules onto gpu.launch, outlined into a gpu.module, lowered to NVVM and serialized
/// by gpu-module-to-binary (ptxas from the CUDA toolkit for cubins). The host functions stay
/// at the memref level.
void buildGpuScheduleToNvvmPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// linrec-to-nvvm: the GPU schedule pipeline, then buildGpuScheduleToNvvmPipeline.
void buildLinrecToNvvmPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// linrec-to-cuda: linrec-to-nvvm, bufferization, and the host code (which launches the
/// kernels through the runtime's GPU launch functions) to the LLVM dialect.
void buildLinrecToCudaPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// linrec-layer-to-cpu: the CPU kernel pipeline, linrec-parallelize-kernel-calls, one-shot
/// bufferization with results as out-params, the layer's copies and linalg ops as loops,
/// linrec-deallocate-layer-buffers, scf.parallel to OpenMP, the LLVM dialect.
void buildLayerToCpuPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// Registers every pipeline above with linrec-opt's pass registry.
void registerLinrecPipelines();

} // namespace linrec

#endif // LINREC_PIPELINES_PIPELINES_H
