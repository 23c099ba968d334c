//===- GpuScheduleToCPU.cpp - run a GPU schedule on the CPU ---------------===//

#include "linrec/Conversion/Passes.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECGPUSCHEDULETOCPU
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;

/// `type` without its GPU memory space (workgroup tiles become ordinary stack memory).
static Type withoutGpuMemorySpace(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  if (!memref || !isa_and_nonnull<gpu::AddressSpaceAttr>(memref.getMemorySpace()))
    return type;
  return MemRefType::get(memref.getShape(), memref.getElementType(), memref.getLayout());
}

namespace {
struct LinrecGpuScheduleToCPUPass
    : linrec::impl::LinrecGpuScheduleToCPUBase<LinrecGpuScheduleToCPUPass> {
  void runOnOperation() override {
    // A block's workgroup tiles become one stack buffer per kernel call, at the function's
    // entry: the work items of a call run one after the other and reuse it (an alloca in the
    // block loop would grow the stack with every work item).
    getOperation()->walk([](memref::AllocaOp alloca) {
      auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(alloca.getType().getMemorySpace());
      auto func = alloca->getParentOfType<FunctionOpInterface>();
      if (!space || space.getValue() != gpu::AddressSpace::Workgroup || !func ||
          !alloca.getType().hasStaticShape())
        return;
      alloca->moveBefore(&func.getFunctionBody().front().front());
    });
    // Every value changes type together (results and block arguments), so each op still
    // sees operand and result types that agree.
    getOperation()->walk([](Operation *op) {
      for (Value result : op->getResults())
        result.setType(withoutGpuMemorySpace(result.getType()));
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            arg.setType(withoutGpuMemorySpace(arg.getType()));
      if (isa<scf::ParallelOp>(op))
        op->removeAttr(gpu::getMappingAttrName());
    });
  }
};
} // namespace
