//===- CheckSlices.cpp - slices with positive strides only ----------------===//
//
// Static strides of 0 or less in any slice-like op (OffsetSizeAndStrideOpInterface) are an
// error: the memref lowerings after bufferization cannot take them (a zero stride made
// expand-strided-metadata allocate 31 GB; found by the mlir fuzzer).
//
//===----------------------------------------------------------------------===//

#include "linrec/Transforms/Passes.h"

#include "mlir/Interfaces/ViewLikeInterface.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECCHECKSLICES
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;

namespace {
struct LinrecCheckSlicesPass : linrec::impl::LinrecCheckSlicesBase<LinrecCheckSlicesPass> {
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([](OffsetSizeAndStrideOpInterface slice) {
      for (auto [dim, stride] : llvm::enumerate(slice.getStaticStrides())) {
        if (ShapedType::isDynamic(stride) || stride > 0)
          continue;
        slice->emitOpError("has stride ")
            << stride << " in dim " << dim
            << "; linrec lowers slices with positive strides only";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
