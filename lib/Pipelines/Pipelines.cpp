//===- Pipelines.cpp - named linrec pipelines -----------------------------===//

#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace linrec {

void buildCpuKernelPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  pm.addPass(createLinrecNormalize());
  pm.addPass(createLinrecFuse());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createLinrecClassify());
  LinrecLowerCPUOptions lowerOptions;
  lowerOptions.chunkSize = options.chunkSize;
  lowerOptions.matmulRows = options.matmulRows;
  lowerOptions.matmulColumns = options.matmulColumns;
  lowerOptions.valueTiles = options.valueTiles;
  lowerOptions.headsPerItem = options.headsPerItem;
  pm.addPass(createLinrecLowerCPU(lowerOptions));
}

void buildCpuToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createLinrecExpandFeatureMaps());
  pm.addPass(createLinrecApproximateMath());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
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
                               llvm::cl::desc("Adjacent heads per work item"), llvm::cl::init(1)};
};
} // namespace

void registerLinrecPipelines() {
  PassPipelineRegistration<LinrecToCpuOptions>(
      "linrec-to-cpu",
      "Lower linrec recurrences to CPU kernels and the module to the LLVM dialect",
      [](OpPassManager &pm, const LinrecToCpuOptions &options) {
        buildCpuKernelPipeline(pm, CpuPipelineOptions{options.chunkSize, options.matmulRows,
                                                      options.matmulColumns, options.valueTiles,
                                                      options.headsPerItem});
        bufferization::OneShotBufferizePassOptions bufferize;
        bufferize.bufferizeFunctionBoundaries = true;
        pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
        buildCpuToLLVMPipeline(pm);
      });
}

} // namespace linrec
