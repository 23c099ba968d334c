//===- Pipelines.cpp - named linrec pipelines -----------------------------===//

#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

#include <thread>

using namespace mlir;

namespace linrec {

void buildRecurrenceFusion(OpPassManager &pm, bool fuseWindows, bool fuseHeadsNorms,
                           unsigned threads) {
  pm.addPass(createLinrecNormalize());
  pm.addPass(createLinrecFuseDelays());
  pm.addPass(createLinrecFuse());
  pm.addPass(createLinrecFuseProjections());
  if (fuseWindows)
    pm.addPass(createLinrecFuseWindows());
  if (fuseHeadsNorms) {
    // The fused norm puts a batch row's heads in one work item: fuse when every thread
    // still gets a row.
    LinrecFuseHeadsNormsOptions norms;
    norms.minBatch = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    pm.addPass(createLinrecFuseHeadsNorms(norms));
  }
  pm.addPass(createCanonicalizerPass());
}

/// The recurrences fused and their algorithms recorded: what both code generators start from;
/// the layer ops left outside the recurrences as linalg.
static void addRecurrencePreparation(OpPassManager &pm, bool fuseWindows, bool fuseHeadsNorms,
                                     unsigned threads = 0) {
  buildRecurrenceFusion(pm, fuseWindows, fuseHeadsNorms, threads);
  pm.addPass(createLinrecExpandLayerOps());
  pm.addPass(createLinrecClassify());
}

void buildCpuKernelPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  addRecurrencePreparation(pm, options.fuseWindows, /*fuseHeadsNorms=*/true, options.threads);
  LinrecLowerCPUOptions lowerOptions;
  lowerOptions.chunkSize = options.chunkSize;
  lowerOptions.matmulRows = options.matmulRows;
  lowerOptions.matmulColumns = options.matmulColumns;
  lowerOptions.valueTiles = options.valueTiles;
  lowerOptions.headsPerItem = options.headsPerItem;
  lowerOptions.threads = options.threads;
  pm.addPass(createLinrecLowerCPU(lowerOptions));
}

void buildCpuToLLVMPipeline(OpPassManager &pm, bool gpuLaunches) {
  pm.addPass(createLinrecExpandFeatureMaps());
  pm.addPass(createLinrecApproximateMath());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertVectorToLLVMPass());
  if (gpuLaunches)
    pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

int64_t sharedMemoryLimitOf(llvm::StringRef chip) {
  if (chip.starts_with("sm_90") || chip.starts_with("sm_100") || chip.starts_with("sm_120"))
    return 227 * 1024;
  if (chip == "sm_80" || chip == "sm_87")
    return 163 * 1024;
  if (chip.starts_with("sm_8"))
    return 99 * 1024;
  return 48 * 1024;
}

std::string defaultCudaPath() {
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *path = getenv(variable); path && *path)
      return path;
  return "/usr/local/cuda";
}

void buildGpuSchedulePipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  addRecurrencePreparation(pm, options.fuseWindows, /*fuseHeadsNorms=*/false);
  LinrecLowerGPUOptions lowerOptions;
  lowerOptions.chunkSize = options.chunkSize;
  lowerOptions.valueTile = options.valueTile;
  lowerOptions.twoPhase = options.twoPhase;
  lowerOptions.tensorCores = options.tensorCores;
  pm.addPass(createLinrecLowerGPU(lowerOptions));
}

void buildGpuScheduleToCpuPipeline(OpPassManager &pm) {
  pm.addPass(createLinrecGpuScheduleToCPU());
  pm.addPass(createConvertLinalgToLoopsPass()); // the tiles' matmuls
  buildCpuToLLVMPipeline(pm);
}

void buildGpuScheduleToNvvmPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  pm.addPass(createLinrecExpandFeatureMaps());
  LinrecMapToGPUOptions mapOptions;
  mapOptions.blockSize = options.blockSize;
  mapOptions.sharedMemoryLimit = sharedMemoryLimitOf(options.chip);
  pm.addPass(createLinrecMapToGPU(mapOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
  LinrecGpuRegisterBudgetOptions budget;
  budget.maxRegisters = options.maxRegisters;
  device.addPass(createLinrecGpuRegisterBudget(budget));
  device.addPass(createSCFToControlFlowPass());
  device.addPass(memref::createExpandStridedMetadataPass());
  device.addPass(createLowerAffinePass());
  device.addPass(createConvertNVGPUToNVVMPass()); // the tiles' ldmatrix + mma.sync
  device.addPass(createConvertGpuOpsToNVVMOps());
  device.addPass(createCanonicalizerPass());
  device.addPass(createCSEPass());
  device.addPass(createReconcileUnrealizedCastsPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  // Without the toolkit path math functions stay calls to libdevice that nothing resolves.
  binary.toolkitPath = options.cudaPath.empty() ? defaultCudaPath() : options.cudaPath;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

namespace {
struct LinrecToCpuOptions : PassPipelineOptions<LinrecToCpuOptions> {
  Option<int64_t> chunkSize{*this, "chunk-size",
                            llvm::cl::desc("Tokens per chunk of the chunked kernels"),
                            llvm::cl::init(64)};
  Option<int64_t> matmulRows{*this, "matmul-rows", llvm::cl::desc("Rows of a matmul tile"),
                             llvm::cl::init(4)};
  Option<int64_t> matmulColumns{*this, "matmul-columns",
                                llvm::cl::desc("Columns of a matmul tile"), llvm::cl::init(64)};
  Option<int64_t> valueTiles{*this, "value-tiles",
                             llvm::cl::desc("Value-dim tiles per (sequence, head)"),
                             llvm::cl::init(1)};
  Option<int64_t> headsPerItem{*this, "heads-per-item",
                               llvm::cl::desc("Adjacent heads per work item (0: as many as "
                                              "keep every thread busy)"),
                               llvm::cl::init(1)};
  Option<unsigned> threads{*this, "threads",
                           llvm::cl::desc("Threads the kernels run on, for heads-per-item=0 "
                                          "(0: every hardware thread)"),
                           llvm::cl::init(0)};
  Option<bool> fuseWindows{*this, "fuse-windows",
                           llvm::cl::desc("Compute windows that feed a recurrence inside its "
                                          "chunked kernel"),
                           llvm::cl::init(true)};
};

struct LinrecToNvvmOptions : PassPipelineOptions<LinrecToNvvmOptions> {
  Option<int64_t> chunkSize{*this, "chunk-size", llvm::cl::desc("Tokens per chunk"),
                            llvm::cl::init(32)};
  Option<int64_t> valueTile{*this, "value-tile",
                            llvm::cl::desc("Value columns per program"), llvm::cl::init(64)};
  Option<bool> twoPhase{*this, "two-phase",
                        llvm::cl::desc("State pass + chunk-parallel output pass"),
                        llvm::cl::init(false)};
  Option<bool> tensorCores{*this, "tensor-cores",
                           llvm::cl::desc("The chunk's products on the tensor cores (f16)"),
                           llvm::cl::init(false)};
  Option<bool> fuseWindows{*this, "fuse-windows",
                           llvm::cl::desc("Compute windows that feed a recurrence inside its "
                                          "chunked schedule (more shared memory)"),
                           llvm::cl::init(false)};
  Option<int64_t> blockSize{*this, "block-size", llvm::cl::desc("Threads per block"),
                            llvm::cl::init(256)};
  Option<int64_t> maxRegisters{*this, "max-registers",
                               llvm::cl::desc("Registers per thread (ptxas .maxnreg)"),
                               llvm::cl::init(128)};
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture (sm_80, sm_90a)"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features", llvm::cl::desc("PTX features"),
                               llvm::cl::init("+ptx80")};
  Option<std::string> cudaPath{*this, "cuda-path",
                               llvm::cl::desc("CUDA toolkit (default: $CUDA_HOME, $CUDA_PATH "
                                              "or /usr/local/cuda)"),
                               llvm::cl::init("")};
  Option<std::string> format{*this, "format",
                             llvm::cl::desc("Binary format: isa (PTX), bin, fatbin, offload"),
                             llvm::cl::init("isa")};
};
} // namespace

void registerLinrecPipelines() {
  PassPipelineRegistration<LinrecToNvvmOptions>(
      "linrec-to-nvvm",
      "Lower linrec recurrences to GPU kernels: schedules, gpu.launch, NVVM, PTX or cubin",
      [](OpPassManager &pm, const LinrecToNvvmOptions &options) {
        GpuPipelineOptions gpu;
        gpu.chunkSize = options.chunkSize;
        gpu.valueTile = options.valueTile;
        gpu.twoPhase = options.twoPhase;
        gpu.tensorCores = options.tensorCores;
        gpu.fuseWindows = options.fuseWindows;
        gpu.blockSize = options.blockSize;
        gpu.maxRegisters = options.maxRegisters;
        gpu.chip = options.chip;
        gpu.features = options.features;
        gpu.format = options.format;
        gpu.cudaPath = options.cudaPath;
        buildGpuSchedulePipeline(pm, gpu);
        buildGpuScheduleToNvvmPipeline(pm, gpu);
      });
  PassPipelineRegistration<LinrecToCpuOptions>(
      "linrec-to-cpu",
      "Lower linrec recurrences to CPU kernels and the module to the LLVM dialect",
      [](OpPassManager &pm, const LinrecToCpuOptions &options) {
        buildCpuKernelPipeline(pm, CpuPipelineOptions{options.chunkSize, options.matmulRows,
                                                      options.matmulColumns, options.valueTiles,
                                                      options.headsPerItem,
                                                      options.fuseWindows, options.threads});
        bufferization::OneShotBufferizePassOptions bufferize;
        bufferize.bufferizeFunctionBoundaries = true;
        pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
        buildCpuToLLVMPipeline(pm);
      });
}

} // namespace linrec
