//===- DeallocateLayerBuffers.cpp - free a layer's intermediates ----------===//

#include "linrec/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Pass/PassManager.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECDEALLOCATELAYERBUFFERS
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecDeallocateLayerBuffersPass
    : linrec::impl::LinrecDeallocateLayerBuffersBase<LinrecDeallocateLayerBuffersPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *context) override {
    deallocation = std::make_shared<OpPassManager>(func::FuncOp::getOperationName());
    bufferization::buildBufferDeallocationPipeline(
        *deallocation, bufferization::BufferDeallocationPipelineOptions());
    return success();
  }

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    OpPassManager pipeline(func::FuncOp::getOperationName());
    bufferization::buildBufferDeallocationPipeline(
        pipeline, bufferization::BufferDeallocationPipelineOptions());
    pipeline.getDependentDialects(registry);
  }

  void runOnOperation() override {
    for (auto func : llvm::make_early_inc_range(getOperation().getOps<func::FuncOp>())) {
      if (func.isExternal() || func.getSymName().starts_with(kKernelPrefix))
        continue;
      if (failed(runPipeline(*deallocation, func)))
        return signalPassFailure();
    }
  }

  /// Shared by the clones of the pass (a pass manager runs one pipeline at a time per op).
  std::shared_ptr<OpPassManager> deallocation;
};
} // namespace
