//===- WindowSchedule.cpp - linrec.window_attention as a GPU schedule -----===//
//
// One program per (batch row, head, block of Cq queries): the work items are B · H · ⌈T / Cq⌉
// (the kernel's linrec.token_block says Cq). The windows of a block's queries lie in the key
// span [start(first query), last query] (at most Cq + the window's reach), so per block Q
// (scaled), Kᵀ and V of the span are loaded into workgroup tiles (zeros past it) and
// WindowTerm.h computes the masked scores, the weights and the outputs.
//
// The CPU window kernel's signature (LinrecToCPU/WindowKernel.cpp), with query blocks as work
// items too.
//
//===----------------------------------------------------------------------===//

#include "ScheduleBuilder.h"
#include "WindowSchedule.h"
#include "WindowTerm.h"


#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"


using namespace mlir;

namespace linrec::gpusched {
namespace {

class WindowSchedule : ScheduleBuilder {
public:
  WindowSchedule(WindowAttentionOp op, codegen::KernelBuilder &k, int64_t queryBlock)
      : ScheduleBuilder(k), op(op), Cq(queryBlock),
        window(k, op.getWindow(), op.getSize(), op.getWeighting(), queryBlock,
               cast<RankedTensorType>(op.getQ().getType()).getDimSize(3),
               cast<RankedTensorType>(op.getV().getType()).getDimSize(3)) {
    dk = cast<RankedTensorType>(op.getQ().getType()).getDimSize(3);
    dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
  }

  void emit() {
    func::FuncOp kernel = k.kernel;
    Value q = kernel.getArgument(0), key = kernel.getArgument(1), value = kernel.getArgument(2);
    Value out = kernel.getArgument(3);
    Value denominator = op.getWeighting() == WindowWeighting::ShiftedExp
                            ? kernel.getArgument(4)
                            : Value();
    unsigned numArgs = kernel.getNumArguments();
    Value begin = kernel.getArgument(numArgs - 2), end = kernel.getArgument(numArgs - 1);
    double scale = op.getScale().convertToDouble();
    int64_t span = window.span();
    blocks(begin, end, [&](Value w) {
      window.allocate(*this);
      Value heads = memref::DimOp::create(b, q, 2), tokens = memref::DimOp::create(b, q, 1);
      Value numBlocks = arith::CeilDivUIOp::create(b, tokens, k.index(Cq));
      Value block = arith::RemUIOp::create(b, w, numBlocks);
      Value rowHead = arith::DivUIOp::create(b, w, numBlocks);
      Value row = arith::DivUIOp::create(b, rowHead, heads);
      Value head = arith::RemUIOp::create(b, rowHead, heads);
      Value first = arith::MulIOp::create(b, block, k.index(Cq));
      Value count = arith::MinUIOp::create(b, k.index(Cq), subIndex(tokens, first));
      Value keyStart = window.keyStart(first);
      Value numKeys = subIndex(addIndex(first, count), keyStart);
      threads(Cq, dk, [&](Value i, Value d) {
        Value x = where(ult(i, count), [&] {
          return mul(at(q, {row, addIndex(first, i), head, d}), k.f32(scale));
        });
        k.store(x, window.queries, {i, d});
      });
      threads(span, dk, [&](Value j, Value d) {
        Value x = where(ult(j, numKeys),
                        [&] { return at(key, {row, addIndex(keyStart, j), head, d}); });
        k.store(x, window.keysT, {d, j});
      });
      threads(span, dv, [&](Value j, Value v) {
        Value x = where(ult(j, numKeys),
                        [&] { return at(value, {row, addIndex(keyStart, j), head, v}); });
        k.store(x, window.values, {j, v});
      });
      window.emitWeights(first, count, keyStart, [&](Value i, Value total) {
        k.store(total, denominator, {row, addIndex(first, i), head});
      });
      window.emitOutputs(count, [&](Value i, Value v, Value o) {
        k.store(o, out, {row, addIndex(first, i), head, v});
      });
    });
    func::ReturnOp::create(b);
  }

private:
  WindowAttentionOp op;
  int64_t Cq, dk, dv;
  WindowTerm window;
};

} // namespace

void emitWindowSchedule(WindowAttentionOp op, func::FuncOp kernel, int64_t queryBlock) {
  codegen::KernelBuilder k(op.getLoc(), kernel);
  WindowSchedule(op, k, queryBlock).emit();
}

} // namespace linrec::gpusched
