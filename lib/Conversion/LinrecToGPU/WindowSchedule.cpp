//===- WindowSchedule.cpp - linrec.window_attention as a GPU schedule -----===//
//
// One program per (batch row, head, block of Cq queries): the work items are B · H · ⌈T / Cq⌉
// (the kernel's linrec.token_block says Cq). The windows of a block's queries lie in the key span [start(first query), last query] (at most Cq + the window's
// reach), so per block:
//
//   load      (i, d), (j, d), (j, v)   Q (scaled), Kᵀ and V of the span (zeros past it)
//   scores    (i, j)                   s_ij = q_i · k_j inside query i's window; −inf (0 for
//                                      relu) outside
//   weights   row i                    softmax: e^{s − max} / Σ; shifted_exp: e^{s − max} and
//                                      the row sum as the denominator output; relu: as is
//   output    (i, v)                   o_iv = Σ_j w_ij V_jv
//
// The CPU window kernel's signature (LinrecToCPU/WindowKernel.cpp), with query blocks as work
// items too.
//
//===----------------------------------------------------------------------===//

#include "ScheduleBuilder.h"
#include "WindowSchedule.h"

#include "../LinrecToCPU/WindowKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;

namespace linrec::gpusched {
namespace {

class WindowSchedule : ScheduleBuilder {
public:
  WindowSchedule(WindowAttentionOp op, cpu::KernelBuilder &k, int64_t queryBlock)
      : ScheduleBuilder(k), op(op), Cq(queryBlock) {
    dk = cast<RankedTensorType>(op.getQ().getType()).getDimSize(3);
    dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
    span = Cq + cpu::windowReach(op);
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
    blocks(begin, end, [&](Value w) {
      Value queries = tile({Cq, dk}), keysT = tile({dk, span}), values = tile({span, dv});
      Value weights = tile({Cq, span});
      Value heads = memref::DimOp::create(b, q, 2), tokens = memref::DimOp::create(b, q, 1);
      Value numBlocks = arith::CeilDivUIOp::create(b, tokens, k.index(Cq));
      Value block = arith::RemUIOp::create(b, w, numBlocks);
      Value rowHead = arith::DivUIOp::create(b, w, numBlocks);
      Value row = arith::DivUIOp::create(b, rowHead, heads);
      Value head = arith::RemUIOp::create(b, rowHead, heads);
      {
        Value first = arith::MulIOp::create(b, block, k.index(Cq));
        Value count = arith::MinUIOp::create(b, k.index(Cq), subIndex(tokens, first));
        Value keyStart = cpu::windowStart(b, op, first);
        Value numKeys = subIndex(addIndex(first, count), keyStart);
        threads(Cq, dk, [&](Value i, Value d) {
          Value x = where(ult(i, count), [&] {
            return mul(at(q, {row, addIndex(first, i), head, d}), k.f32(scale));
          });
          k.store(x, queries, {i, d});
        });
        threads(span, dk, [&](Value j, Value d) {
          Value x = where(ult(j, numKeys),
                          [&] { return at(key, {row, addIndex(keyStart, j), head, d}); });
          k.store(x, keysT, {d, j});
        });
        threads(span, dv, [&](Value j, Value v) {
          Value x = where(ult(j, numKeys),
                          [&] { return at(value, {row, addIndex(keyStart, j), head, v}); });
          k.store(x, values, {j, v});
        });
        emitScores(queries, keysT, weights, first, count, keyStart);
        emitWeights(weights, denominator, row, head, first, count);
        threads(Cq, dv, [&](Value i, Value v) {
          ifThenElse(
              ult(i, count),
              [&] {
                Value o = sum(span, [&](Value j) {
                  return mul(at(weights, {i, j}), at(values, {j, v}));
                });
                k.store(o, out, {row, addIndex(first, i), head, v});
              },
              [] {});
        });
      }
    });
    func::ReturnOp::create(b);
  }

private:
  WindowAttentionOp op;
  int64_t Cq, dk, dv, span;

  bool relu() { return op.getWeighting() == WindowWeighting::Relu; }

  /// s_ij inside query i's window [start(i), i]; outside, −inf (0 for relu, whose weights
  /// are the scores).
  void emitScores(Value queries, Value keysT, Value weights, Value first, Value count,
                  Value keyStart) {
    double outside = relu() ? 0.0 : -std::numeric_limits<double>::infinity();
    threads(Cq, span, [&](Value i, Value j) {
      Value token = addIndex(first, i);
      Value from = subIndex(cpu::windowStart(b, op, token), keyStart);
      Value to = subIndex(token, keyStart);
      Value inside = arith::AndIOp::create(b, ult(i, count),
                                           arith::AndIOp::create(b, ule(from, j), ule(j, to)));
      Value score = where(
          inside,
          [&] {
            Value s = sum(dk, [&](Value d) { return mul(at(queries, {i, d}), at(keysT, {d, j})); });
            return relu() ? arith::MaximumFOp::create(b, s, k.f32(0.0)).getResult() : s;
          },
          outside);
      k.store(score, weights, {i, j});
    });
  }

  /// Row i's weights from its scores, in place (softmax and shifted_exp; relu keeps them).
  void emitWeights(Value weights, Value denominator, Value row, Value head, Value first,
                   Value count) {
    if (relu())
      return;
    threads(Cq, [&](Value i) {
      ifThenElse(
          ult(i, count),
          [&] {
            Value max = k.forLoopCarry(
                k.index(0), k.index(span), k.f32(-std::numeric_limits<double>::infinity()),
                [&](Value j, Value m) {
                  return arith::MaximumFOp::create(b, m, at(weights, {i, j})).getResult();
                });
            // Outside the window the score is −inf: e^{−inf} = 0. Every window holds its own
            // query, so the max is finite.
            Value total = sum(span, [&](Value j) {
              Value e = exp(sub(at(weights, {i, j}), max));
              k.store(e, weights, {i, j});
              return e;
            });
            if (denominator) {
              k.store(total, denominator, {row, addIndex(first, i), head});
              return;
            }
            Value inverse = arith::DivFOp::create(b, k.f32(1.0), total);
            k.forLoop(0, span, [&](Value j) {
              k.store(mul(at(weights, {i, j}), inverse), weights, {i, j});
            });
          },
          [] {});
    });
  }
};

} // namespace

void emitWindowSchedule(WindowAttentionOp op, func::FuncOp kernel, int64_t queryBlock) {
  cpu::KernelBuilder k(op.getLoc(), kernel);
  WindowSchedule(op, k, queryBlock).emit();
}

} // namespace linrec::gpusched
