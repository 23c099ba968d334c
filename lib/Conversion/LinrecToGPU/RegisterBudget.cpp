//===- RegisterBudget.cpp - cap the registers of GPU kernels --------------===//

#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/ScheduleOptions.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECGPUREGISTERBUDGET
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;

namespace {
struct LinrecGpuRegisterBudgetPass
    : linrec::impl::LinrecGpuRegisterBudgetBase<LinrecGpuRegisterBudgetPass>,
      linrec::GpuRegisterSchedule<linrec::PassOption> {
  LinrecGpuRegisterBudgetPass() : GpuRegisterSchedule(static_cast<Pass &>(*this)) {}
  LinrecGpuRegisterBudgetPass(const LinrecGpuRegisterBudgetPass &other)
      : LinrecGpuRegisterBudgetBase(other), GpuRegisterSchedule(static_cast<Pass &>(*this)) {}

  void runOnOperation() override {
    if (maxRegisters < 16 || maxRegisters > 255) {
      getOperation().emitError("the register budget must be in [16, 255], got ")
          << int64_t(maxRegisters);
      return signalPassFailure();
    }
    auto budget = IntegerAttr::get(IntegerType::get(&getContext(), 32),
                                   int64_t(maxRegisters));
    getOperation().walk([&](gpu::GPUFuncOp func) {
      if (func.isKernel())
        func->setAttr("nvvm.maxnreg", budget);
    });
  }
};
} // namespace
