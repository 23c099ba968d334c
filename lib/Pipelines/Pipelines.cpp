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

/// A pass created with the options it shares with `options` (its group in ScheduleOptions.h).
static std::unique_ptr<Pass> configured(std::unique_ptr<Pass> pass,
                                        const mlir::detail::PassOptions &options) {
  copyScheduleOptionsTo(options, *pass);
  return pass;
}

/// What both fusion pipelines share: slices with positive strides only, the named ops normalized, the algorithm asked for marked
/// (the fusions respect it), token shifts, element-wise ops and projections moved in.
static void addCommonFusion(OpPassManager &pm, const mlir::detail::PassOptions &options) {
  pm.addPass(createLinrecCheckSlices());
  pm.addPass(createLinrecNormalize());
  pm.addPass(configured(createLinrecSelectAlgorithm(), options));
  pm.addPass(createLinrecFuseDelays());
  pm.addPass(createLinrecFuse());
  pm.addPass(createLinrecFuseProjections());
}

void buildCpuFusionPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  addCommonFusion(pm, options);
  if (options.fuseWindows)
    pm.addPass(createLinrecFuseWindows());
  // A scan cannot normalize over heads; the fused norm puts a batch row's heads in one work
  // item: fuse when every thread still gets a row.
  if (options.fuseHeadsNorms && !options.sequential) {
    LinrecFuseHeadsNormsOptions norms;
    norms.minBatch = options.threads > 0 ? int64_t(options.threads)
                                         : std::max(1u, std::thread::hardware_concurrency());
    pm.addPass(createLinrecFuseHeadsNorms(norms));
  }
  pm.addPass(createCanonicalizerPass());
}

void buildGpuFusionPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  addCommonFusion(pm, options);
  if (options.fuseWindows)
    pm.addPass(createLinrecFuseWindows());
  pm.addPass(createCanonicalizerPass());
}

void buildCpuKernelPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  buildCpuFusionPipeline(pm, options);
  pm.addPass(createLinrecExpandLayerOps());
  pm.addPass(createLinrecClassify());
  pm.addPass(configured(createLinrecLowerCPU(), options));
  pm.addPass(createSymbolDCEPass()); // private functions nothing calls any more
}

void buildKernelsToLLVMPipeline(OpPassManager &pm, bool gpuLaunches) {
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

/// The functions that call kernels, on buffers (function boundaries included).
static void addBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
}

void buildLinrecToCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  buildCpuKernelPipeline(pm, options);
  addBufferization(pm);
  buildKernelsToLLVMPipeline(pm);
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
  buildGpuFusionPipeline(pm, options);
  pm.addPass(createLinrecExpandLayerOps());
  pm.addPass(createLinrecTransposeReads());
  pm.addPass(createLinrecClassify());
  pm.addPass(configured(createLinrecLowerGPU(), options));
  pm.addPass(createSymbolDCEPass()); // private functions nothing calls any more
}

void buildGpuScheduleOnCpuPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  buildGpuSchedulePipeline(pm, options);
  pm.addPass(createLinrecGpuScheduleToCPU());
  pm.addPass(createConvertLinalgToLoopsPass()); // the tiles' matmuls
  addBufferization(pm);
  buildKernelsToLLVMPipeline(pm);
}

void buildGpuScheduleToNvvmPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  pm.addPass(createLinrecExpandFeatureMaps());
  LinrecMapToGPUOptions mapOptions;
  mapOptions.sharedMemoryLimit = sharedMemoryLimitOf(options.chip);
  pm.addPass(configured(createLinrecMapToGPU(mapOptions), options));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
  device.addPass(configured(createLinrecGpuRegisterBudget(), options));
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
  binary.toolkitPath = options.cudaPath.empty() ? defaultCudaPath() : options.cudaPath.getValue();
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void buildLinrecToNvvmPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  buildGpuSchedulePipeline(pm, options);
  buildGpuScheduleToNvvmPipeline(pm, options);
}

void buildLinrecToCudaPipeline(OpPassManager &pm, const GpuPipelineOptions &options) {
  buildLinrecToNvvmPipeline(pm, options);
  addBufferization(pm);
  buildKernelsToLLVMPipeline(pm, /*gpuLaunches=*/true);
}

void addCpuTransposedStates(OpPassManager &pm) {
  LinrecTransposeReadsOptions carryOnly;
  carryOnly.mirror = false;
  pm.addPass(createLinrecTransposeReads(carryOnly));
}

void buildLayerToCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  addCpuTransposedStates(pm);
  buildCpuKernelPipeline(pm, options);
  pm.addPass(createLinrecParallelizeKernelCalls());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true; // the layer function is the public entry
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createLinrecCopiesToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createLinrecDeallocateLayerBuffers());
  pm.addPass(createConvertSCFToOpenMPPass());
  buildKernelsToLLVMPipeline(pm);
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerLinrecPipelines() {
  PassPipelineRegistration<CpuPipelineOptions>(
      "linrec-cpu-fusion",
      "Move what surrounds each recurrence into it (shifts, element-wise ops, projections, "
      "windows, norms over heads) for the CPU kernels",
      buildCpuFusionPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "linrec-gpu-fusion",
      "Move what surrounds each recurrence into it (shifts, element-wise ops, projections, "
      "windows with fuse-windows=1) for the GPU schedules",
      buildGpuFusionPipeline);
  PassPipelineRegistration<CpuPipelineOptions>(
      "linrec-to-cpu", "Lower linrec recurrences to CPU kernels and the module to the LLVM dialect",
      buildLinrecToCpuPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "linrec-gpu-schedule-on-cpu",
      "Lower linrec recurrences to GPU schedules and run them on the CPU: the module in the "
      "LLVM dialect",
      buildGpuScheduleOnCpuPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "linrec-to-nvvm",
      "Lower linrec recurrences to GPU kernels: schedules, gpu.launch, NVVM, PTX or cubin",
      buildLinrecToNvvmPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "linrec-to-cuda",
      "linrec-to-nvvm, then the host code that launches the kernels to the LLVM dialect",
      buildLinrecToCudaPipeline);
  PassPipelineRegistration<CpuPipelineOptions>(
      "linrec-layer-to-cpu",
      "Compile a whole layer function for the CPU: kernels, the tensor ops around them as "
      "loops, kernel calls on OpenMP threads, results as out-params, the LLVM dialect",
      buildLayerToCpuPipeline);
}

} // namespace linrec
