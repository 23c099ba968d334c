//===- Pipelines.h - named linrec pipelines ---------------------*- C++ -*-===//
//
// The pipelines the runtime runs, also registered for linrec-opt:
//   linrec-to-cpu:  named ops -> generic -> classified -> CPU kernels -> LLVM dialect.
//   linrec-to-nvvm: named ops -> generic -> classified -> GPU schedules -> gpu.launch ->
//                   outlined GPU kernels -> NVVM -> PTX / cubin (gpu.binary).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_PIPELINES_PIPELINES_H
#define LINREC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace linrec {

/// The schedule of the CPU kernels: every choice is a parameter the autotuner can search.
struct CpuPipelineOptions {
  /// Tokens per chunk of the chunked algorithms.
  int64_t chunkSize = 64;
  /// Register tile of the kernels' matmuls (rows x columns).
  int64_t matmulRows = 4;
  int64_t matmulColumns = 64;
  /// Split each (sequence, head) into value-dim tiles of separate work items, for
  /// parallelism when B·H is small (used where the recurrence allows).
  int64_t valueTiles = 1;
  /// Adjacent heads per work item, advanced together chunk by chunk (their token rows are
  /// adjacent in memory); fewer, larger work items. 0 chooses from the static B and H and
  /// `threads` (autoHeadsPerItem); dynamic shapes get 1.
  int64_t headsPerItem = 0;
  /// Hybrid layers in one kernel: window attentions that feed a recurrence move into its
  /// chunked kernel (linrec-fuse-windows); off, they run as their own kernels (to measure what
  /// fusion buys).
  bool fuseWindows = true;
  /// Worker threads for the (sequence, head) work items; 0 uses every hardware thread.
  unsigned threads = 0;
};

/// What surrounds a recurrence moved into it: linrec-normalize, linrec-fuse-delays,
/// linrec-fuse, linrec-fuse-projections, linrec-fuse-windows (with `fuseWindows`),
/// linrec-fuse-heads-norms (with `fuseHeadsNorms`: the CPU's chunked kernels; for batches of at
/// least `threads` rows, 0 meaning the host's hardware threads) and the canonicalizer. Both
/// code generators start from it.
void buildRecurrenceFusion(mlir::OpPassManager &pm, bool fuseWindows,
                           bool fuseHeadsNorms = false, unsigned threads = 0);

/// buildRecurrenceFusion (heads norms too), linrec-expand-layer-ops, linrec-classify,
/// linrec-lower-cpu: every recurrence becomes a kernel function on memrefs (and a call of it).
void buildCpuKernelPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);

/// Kernel functions (scf, vector, memref, math, arith) to the LLVM dialect; `gpuLaunches`
/// also lowers gpu.launch_func and gpu.binary (host code of GPU kernels, gpu-to-llvm).
void buildCpuToLLVMPipeline(mlir::OpPassManager &pm, bool gpuLaunches = false);

/// The schedule and target of the GPU kernels.
struct GpuPipelineOptions {
  /// Tokens per chunk (workgroup tiles grow with it: C x dk per key tile).
  int64_t chunkSize = 32;
  /// Value columns per program (one block per sequence, head and value tile).
  int64_t valueTile = 64;
  /// The two-phase schedule (state pass + chunk-parallel output pass) instead of the fused one.
  bool twoPhase = false;
  /// The chunk's products on the tensor cores (f16 operands, f32 accumulation).
  bool tensorCores = false;
  /// Window attentions that feed a recurrence computed inside its chunked schedule
  /// (linrec-fuse-windows): one kernel, but one more set of workgroup tiles (C + the window's
  /// reach rows of keys and values, C rows of scores). Off by default: with the recurrence's
  /// own tiles it exceeds a block's shared memory at head dims of 128 (fits at 16-64).
  bool fuseWindows = false;
  /// Threads per block.
  int64_t blockSize = 256;
  /// Registers per thread (ptxas .maxnreg): 128 x 256 threads leaves two blocks per SM.
  int64_t maxRegisters = 128;
  /// The NVVM target: chip and PTX features (sm_90 needs +ptx80 or newer).
  std::string chip = "sm_90a";
  std::string features = "+ptx80";
  /// gpu-module-to-binary's format: isa (PTX), bin (cubin), fatbin, offload (LLVM IR).
  std::string format = "isa";
  /// The CUDA toolkit (libdevice for math functions, ptxas for cubins); empty: $CUDA_HOME,
  /// $CUDA_PATH, or /usr/local/cuda.
  std::string cudaPath;
};

/// The CUDA toolkit the GPU pipeline uses when none is given.
std::string defaultCudaPath();

/// The shared memory one block may use on `chip` (bytes; opt-in dynamic shared memory).
int64_t sharedMemoryLimitOf(llvm::StringRef chip);

/// linrec-normalize, linrec-classify, linrec-lower-gpu: every recurrence becomes a kernel
/// function holding its GPU schedule (block and thread loops, workgroup tiles), not yet
/// mapped onto gpu.launch.
void buildGpuSchedulePipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// A GPU schedule on the CPU: linrec-gpu-schedule-to-cpu, then the CPU's LLVM lowering. The
/// runtime runs it like a CPU kernel, which is how the schedule is tested without a GPU.
void buildGpuScheduleToCpuPipeline(mlir::OpPassManager &pm);

/// GPU schedules onto gpu.launch, outlined into a gpu.module, lowered to NVVM and serialized
/// by gpu-module-to-binary (ptxas from the CUDA toolkit for cubins). The host functions stay
/// at the memref level: the linrec runtime launches the kernels itself.
void buildGpuScheduleToNvvmPipeline(mlir::OpPassManager &pm, const GpuPipelineOptions &options);

/// Registers `linrec-to-cpu` (the whole module: kernels, bufferization of the functions that
/// call them, LLVM dialect) and `linrec-to-nvvm` (kernels to GPU binaries).
void registerLinrecPipelines();

} // namespace linrec

#endif // LINREC_PIPELINES_PIPELINES_H
