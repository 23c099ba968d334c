//===- LowerToCPU.cpp - recurrences to CPU kernels ------------------------===//

#include "ChunkWindow.h"
#include "CpuKernels.h"
#include "KernelCommon/KernelCalls.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/ScheduleOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <thread>

namespace linrec {
#define GEN_PASS_DEF_LINRECLOWERCPU
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

int64_t linrec::autoHeadsPerItem(int64_t rows, int64_t heads, int64_t valueTiles,
                                 int64_t threads) {
  if (ShapedType::isDynamic(rows) || ShapedType::isDynamic(heads) || threads < 1)
    return 1;
  int64_t best = 1;
  for (int64_t group : {2, 4, 8}) {
    if (heads % group != 0)
      continue;
    int64_t items = rows * (heads / group) * valueTiles;
    if (items >= threads && (items % threads == 0 || items >= 4 * threads))
      best = group;
  }
  return best;
}

int64_t linrec::autoHeadsPerItem(RecurrenceOp op, int64_t valueTiles, int64_t threads) {
  auto input = cast<RankedTensorType>(op.getInputs().front().getType());
  int64_t rows = input.getDimSize(0);
  if (Value cuSeqlens = op.getCuSeqlens()) {
    int64_t offsets = cast<RankedTensorType>(cuSeqlens.getType()).getDimSize(0);
    rows = ShapedType::isDynamic(offsets) ? offsets : offsets - 1;
  }
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  // A work item keeps every state of its heads: at most as many heads as keep them within
  // half of a 1 MB L2 (tensor attention's states of degree 3 are 1.1 MB per head).
  int64_t stateBytes = 0;
  for (BlockArgument arg : op.getStateArgs()) {
    auto type = cast<StateType>(arg.getType());
    stateBytes += type.getKeyDim() * type.getValueDim() * 4;
  }
  int64_t fitting = 1;
  while (2 * fitting * stateBytes <= (512 << 10))
    fitting *= 2;
  return std::min(fitting, autoHeadsPerItem(rows, input.getDimSize(2), valueTiles, threads));
}

namespace {
struct LinrecLowerCPUPass : linrec::impl::LinrecLowerCPUBase<LinrecLowerCPUPass>,
                            CpuKernelSchedule<PassOption> {
  LinrecLowerCPUPass() : CpuKernelSchedule(static_cast<Pass &>(*this)) {}
  LinrecLowerCPUPass(const LinrecLowerCPUPass &other)
      : LinrecLowerCPUBase(other), CpuKernelSchedule(static_cast<Pass &>(*this)) {}

  void runOnOperation() override {
    auto lowerWindow = [&](WindowAttentionOp op, StringRef name) -> LogicalResult {
      if (matmulRows < 1 || matmulColumns < 1)
        return op.emitOpError("matmul register tiles must be at least 1 x 1");
      func::FuncOp kernel = codegen::createKernelFunction(op, name);
      cpu::emitWindowKernel(op, kernel, matmulRows, matmulColumns);
      allowReassociatedSums(kernel);
      codegen::replaceWindowWithKernelCall(op, kernel);
      return success();
    };
    if (failed(codegen::lowerKernelOps(
            getOperation(), [&](RecurrenceOp op, StringRef name) { return lower(op, name); },
            lowerWindow)))
      signalPassFailure();
  }

  /// Window reads have a chunked form only, over spans of at most kMaxWindowSpan rows.
  static LogicalResult checkWindowReads(RecurrenceOp op, const RecurrenceAnalysis &analysis,
                                        int64_t chunk) {
    if (analysis.windows.empty())
      return success();
    if (analysis.algorithm == Algorithm::Sequential)
      return WindowReadOp(analysis.windows.front()).emitOpError(
                 "needs the chunked kernel, but the recurrence runs sequentially")
             << (analysis.reason.empty() ? "" : " (" + analysis.reason + ")")
             << "; write the window as linrec.window_attention instead";
    for (WindowReadOp window : analysis.windows) {
      int64_t span = cpu::ChunkWindow::historyRows(window) + chunk;
      if (span > kMaxWindowSpan)
        return window.emitOpError("window of ")
               << window.getSize() << " tokens with chunks of " << chunk
               << " needs a span of " << span << " rows; the chunked kernel takes at most "
               << kMaxWindowSpan << " (use linrec.window_attention)";
    }
    return success();
  }
  static constexpr int64_t kMaxWindowSpan = 1024;

  LogicalResult lower(RecurrenceOp op, StringRef name) {
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
    if (failed(codegen::resolveAlgorithm(op, analysis)))
      return failure();
    if (analysis.algorithm == Algorithm::ChunkedProduct &&
        failed(codegen::checkNoTransposedReads(op, "the chunked product kernel")))
      return failure();
    int64_t chunk = op.getChunkSize().value_or(chunkSize);
    if (chunk < 1 || chunk > 256)
      return op.emitOpError("chunk size must be in [1, 256], got ") << chunk;
    // Block-start reads need whole blocks per chunk (the scan takes no chunks).
    if (analysis.algorithm != Algorithm::Sequential)
      chunk = analysis.chunkSizeFor(chunk);

    func::FuncOp kernel = codegen::createKernelFunction(op, name, valueChecks);
    if (matmulRows < 1 || matmulColumns < 1)
      return op.emitOpError("matmul register tiles must be at least 1 x 1");
    if (failed(checkWindowReads(op, analysis, chunk)))
      return failure();
    int64_t tiles = codegen::valueTilesFor(op, analysis, valueTiles);
    // The chunked kernel of the attention-like forms: ChunkedKernel.cpp.
    bool attentionForm = analysis.algorithm == Algorithm::ChunkedDiagonal ||
                         analysis.algorithm == Algorithm::ChunkedDelta;
    // A window keeps one head's history: heads with windows are not grouped.
    // The chunked product kernel takes one head per work item.
    bool groupsHeads = analysis.algorithm != Algorithm::ChunkedProduct;
    int64_t group = !groupsHeads || !analysis.windows.empty() ? 1
                    : headsPerItem == 0 ? autoHeadsPerItem(op, tiles, threads)
                                        : headsPerItem;
    if (group < 1)
      return op.emitOpError("heads per work item must be at least 1");
    if (op.getHeadsNormEps()) {
      // The norm over heads needs every head of a row in one work item, and whole rows.
      int64_t heads = cast<RankedTensorType>(op.getInputs().front().getType()).getDimSize(2);
      if (!attentionForm || !analysis.windows.empty() || ShapedType::isDynamic(heads))
        return op.emitOpError("normalizes its output over heads (heads_norm_eps), which needs "
                              "the chunked kernel, static heads and no window reads; keep "
                              "linrec.heads_rms_norm apart instead");
      group = heads;
      tiles = 1;
    }
    kernel->setAttr(kAlgorithmAttr, AlgorithmAttr::get(op.getContext(), analysis.algorithm));
    kernel->setAttr(kValueTilesAttr, OpBuilder(op).getI64IntegerAttr(tiles));
    kernel->setAttr(kHeadsPerItemAttr, OpBuilder(op).getI64IntegerAttr(group));
    codegen::KernelEmitter emitter(op, analysis, kernel, chunk, tiles, group);
    emitter.matmulRows = matmulRows;
    emitter.matmulColumns = matmulColumns;
    if (analysis.algorithm == Algorithm::Sequential)
      cpu::emitSequentialKernel(emitter);
    else if (analysis.algorithm == Algorithm::ChunkedProduct)
      cpu::emitChunkedProductKernel(emitter);
    else
      cpu::emitChunkedKernel(emitter);
    emitter.finishValueChecks();
    func::ReturnOp::create(emitter.b);
    allowReassociatedSums(kernel);
    codegen::replaceWithKernelCall(op, kernel);
    return success();
  }

  /// Float sums and products over a vector (a token's dot products: the backward's ε · dδ,
  /// an L2 norm's sum of squares) may reassociate: LLVM then adds in a tree of shuffles
  /// instead of one dependent scalar add per element (128 at d = 128, 4 cycles each), in
  /// an order no less accurate.
  static void allowReassociatedSums(func::FuncOp kernel) {
    kernel.walk([](vector::ReductionOp reduction) {
      vector::CombiningKind kind = reduction.getKind();
      if ((kind != vector::CombiningKind::ADD && kind != vector::CombiningKind::MUL) ||
          !isa<FloatType>(reduction.getType()))
        return;
      arith::FastMathFlags flags = reduction.getFastmath() | arith::FastMathFlags::reassoc;
      reduction.setFastmathAttr(arith::FastMathFlagsAttr::get(reduction.getContext(), flags));
    });
  }
};
} // namespace
