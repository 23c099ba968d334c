//===- CopiesToLinalg.cpp - memref.copy as linalg.copy --------------------===//

#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECCOPIESTOLINALG
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;

namespace {
struct LinrecCopiesToLinalgPass
    : linrec::impl::LinrecCopiesToLinalgBase<LinrecCopiesToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      copy.erase();
    }
  }
};
} // namespace
