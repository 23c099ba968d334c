//===- ParallelizeKernelCalls.cpp - kernel calls as scf.parallel ----------===//

#include "linrec/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECPARALLELIZEKERNELCALLS
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {
struct LinrecParallelizeKernelCallsPass
    : linrec::impl::LinrecParallelizeKernelCallsBase<LinrecParallelizeKernelCallsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<func::CallOp> calls;
    getOperation().walk([&](func::CallOp call) {
      if (call.getCallee().starts_with(kKernelPrefix) &&
          !call->getParentOfType<func::FuncOp>().getSymName().starts_with(kKernelPrefix))
        calls.push_back(call);
    });
    for (func::CallOp call : calls)
      parallelize(call);
  }

  /// `call @kernel(operands..., 0, work)` becomes `scf.parallel` over the work items, one call
  /// each.
  static void parallelize(func::CallOp call) {
    ImplicitLocOpBuilder b(call.getLoc(), call);
    SmallVector<Value> operands(call.getOperands());
    Value work = operands.back();
    operands.resize(operands.size() - 2);
    Value zero = arith::ConstantIndexOp::create(b, 0), one = arith::ConstantIndexOp::create(b, 1);
    scf::ParallelOp::create(b, ValueRange{zero}, ValueRange{work}, ValueRange{one},
                            [&](OpBuilder &nested, Location loc, ValueRange ivs) {
                              SmallVector<Value> args = operands;
                              args.push_back(ivs[0]);
                              args.push_back(arith::AddIOp::create(nested, loc, ivs[0], one));
                              func::CallOp::create(nested, loc, call.getCallee(), TypeRange{},
                                                   args);
                            });
    call.erase();
  }
};
} // namespace
