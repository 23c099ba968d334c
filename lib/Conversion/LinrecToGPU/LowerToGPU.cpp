//===- LowerToGPU.cpp - recurrences to GPU schedules ----------------------===//

#include "ChunkedSchedule.h"
#include "SequentialSchedule.h"
#include "WindowSchedule.h"
#include "KernelCommon/KernelCalls.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/ScheduleOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECLOWERGPU
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// How many value tiles of `width` columns the programs of `op` split each state into: the
/// states must be matrices of one dv that `width` divides, and every output a read.
static int64_t valueTilesOfWidth(RecurrenceOp op, const RecurrenceAnalysis &analysis,
                                 int64_t width) {
  const StateUpdate &first = analysis.states.front();
  if (width < 1 || !first.type.isMatrix() || first.type.getValueDim() % width != 0)
    return 1;
  return codegen::valueTilesFor(op, analysis, first.type.getValueDim() / width);
}

namespace {
struct LinrecLowerGPUPass : linrec::impl::LinrecLowerGPUBase<LinrecLowerGPUPass>,
                            GpuKernelSchedule<PassOption> {
  LinrecLowerGPUPass() : GpuKernelSchedule(static_cast<Pass &>(*this)) {}
  LinrecLowerGPUPass(const LinrecLowerGPUPass &other)
      : LinrecLowerGPUBase(other), GpuKernelSchedule(static_cast<Pass &>(*this)) {}

  void runOnOperation() override {
    auto lowerWindow = [&](WindowAttentionOp op, StringRef name) -> LogicalResult {
      if (chunkSize < 1 || chunkSize > 128)
        return op.emitOpError("GPU query block (chunk size) must be in [1, 128], got ")
               << int64_t(chunkSize);
      func::FuncOp kernel = codegen::createKernelFunction(op, name);
      kernel->setAttr(kGpuScheduleAttr, UnitAttr::get(op.getContext()));
      kernel->setAttr(kTokenBlockAttr, OpBuilder(op).getI64IntegerAttr(chunkSize));
      gpusched::emitWindowSchedule(op, kernel, chunkSize);
      codegen::replaceWindowWithKernelCall(op, kernel);
      return success();
    };
    if (failed(codegen::lowerKernelOps(
            getOperation(), [&](RecurrenceOp op, StringRef name) { return lower(op, name); },
            lowerWindow)))
      signalPassFailure();
  }

  LogicalResult lower(RecurrenceOp op, StringRef name) {
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
    if (failed(codegen::resolveAlgorithm(op, analysis)) ||
        failed(codegen::checkNoTransposedReads(op, "the GPU schedule")))
      return failure();
    if (op.getHeadsNormEps())
      return op.emitOpError("normalizes its output over heads (heads_norm_eps), which has no "
                            "GPU schedule; keep linrec.heads_rms_norm apart (the GPU pipeline "
                            "does not run linrec-fuse-heads-norms)");
    if (!analysis.windows.empty() && analysis.algorithm == Algorithm::Sequential)
      return WindowReadOp(analysis.windows.front()).emitOpError(
                 "needs the chunked schedule, but the recurrence runs sequentially")
             << (analysis.reason.empty() ? "" : " (" + analysis.reason + ")")
             << "; write the window as linrec.window_attention instead";
    // The GPU has no chunked product schedule yet, nor one for a delta rule whose write takes
    // its own key: such recurrences run the exact scan.
    bool separateWrite = llvm::any_of(analysis.states,
                                      [](const StateUpdate &u) { return bool(u.writeKey); });
    bool sequential = analysis.algorithm == Algorithm::Sequential ||
                      analysis.algorithm == Algorithm::ChunkedProduct || separateWrite;
    // Block-start reads need whole blocks per chunk (the scan takes no chunks).
    int64_t chunk = op.getChunkSize().value_or(chunkSize);
    if (!sequential)
      chunk = analysis.chunkSizeFor(chunk);
    if (chunk < 1 || chunk > 128)
      return op.emitOpError("GPU chunk size must be in [1, 128], got ")
             << chunk
             << (!sequential && analysis.readBlock ? " (whole blocks of the block-start reads)"
                                                   : "");
    int64_t tiles = sequential ? 1 : valueTilesOfWidth(op, analysis, valueTile);
    func::FuncOp kernel = codegen::createKernelFunction(op, name);
    OpBuilder attrs(op);
    kernel->setAttr(kAlgorithmAttr,
                    AlgorithmAttr::get(op.getContext(),
                                       sequential ? Algorithm::Sequential : analysis.algorithm));
    kernel->setAttr(kValueTilesAttr, attrs.getI64IntegerAttr(tiles));
    kernel->setAttr(kHeadsPerItemAttr, attrs.getI64IntegerAttr(1));
    kernel->setAttr(kGpuScheduleAttr, attrs.getUnitAttr());
    if (!analysis.windows.empty()) // (linrec-map-to-gpu's shared-memory diagnostic says so)
      kernel->setAttr(kWindowReadsAttr, attrs.getUnitAttr());
    codegen::KernelEmitter emitter(op, analysis, kernel, chunk, tiles);
    if (sequential)
      gpusched::emitSequentialSchedule(emitter);
    else
      gpusched::emitChunkedSchedule(emitter, twoPhase, tensorCores);
    func::ReturnOp::create(emitter.b);
    codegen::replaceWithKernelCall(op, kernel);
    return success();
  }
};
} // namespace
