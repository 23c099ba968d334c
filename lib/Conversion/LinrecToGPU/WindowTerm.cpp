//===- WindowTerm.cpp - a block of queries against their windows on a GPU -===//

#include "WindowTerm.h"

#include "KernelCommon/WindowMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <limits>

using namespace mlir;

namespace linrec::gpusched {

WindowTerm::WindowTerm(codegen::KernelBuilder &k, WindowKind kind, int64_t size,
                       WindowWeighting weighting, int64_t queries, int64_t dk, int64_t dv)
    : ScheduleBuilder(k), kind(kind), size(size), weighting(weighting), Cq(queries), dk(dk),
      dv(dv) {}

void WindowTerm::allocate(ScheduleBuilder &program) {
  queries = program.tile({Cq, dk});
  keysT = program.tile({dk, span()});
  values = program.tile({span(), dv});
  weights = program.tile({Cq, span()});
}

Value WindowTerm::keyStart(Value first) { return codegen::windowStart(b, kind, size, first); }

void WindowTerm::emitWeights(Value first, Value count, Value keyStart,
                             function_ref<void(Value, Value)> denominator) {
  // Scores inside query i's window [start(i), i]; outside, −inf (0 for relu, whose weights are
  // the scores).
  double outside = relu() ? 0.0 : -std::numeric_limits<double>::infinity();
  threads(Cq, span(), [&](Value i, Value j) {
    Value position = addIndex(first, i);
    Value from = subIndex(codegen::windowStart(b, kind, size, position), keyStart);
    Value to = subIndex(position, keyStart);
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
  if (relu())
    return;
  threads(Cq, [&](Value i) {
    ifThenElse(
        ult(i, count),
        [&] {
          Value max = k.forLoopCarry(
              k.index(0), k.index(span()), k.f32(-std::numeric_limits<double>::infinity()),
              [&](Value j, Value m) {
                return arith::MaximumFOp::create(b, m, at(weights, {i, j})).getResult();
              });
          // Outside the window the score is −inf: e^{−inf} = 0. Every window holds its own
          // query, so the max is finite.
          Value total = sum(span(), [&](Value j) {
            Value e = exp(sub(at(weights, {i, j}), max));
            k.store(e, weights, {i, j});
            return e;
          });
          if (weighting == WindowWeighting::ShiftedExp) {
            denominator(i, total);
            return;
          }
          Value inverse = arith::DivFOp::create(b, k.f32(1.0), total);
          k.forLoop(0, span(), [&](Value j) {
            k.store(mul(at(weights, {i, j}), inverse), weights, {i, j});
          });
        },
        [] {});
  });
}

void WindowTerm::emitOutputs(Value count, function_ref<void(Value, Value, Value)> store) {
  threads(Cq, dv, [&](Value i, Value v) {
    ifThenElse(
        ult(i, count),
        [&] {
          // A zero weight (outside the window: later tokens included) contributes nothing,
          // even when the value it meets is NaN: outputs never depend on later tokens.
          Value o = sum(span(), [&](Value j) {
            Value w = at(weights, {i, j});
            Value zero = k.f32(0.0);
            Value outside = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, w, zero);
            return arith::SelectOp::create(b, outside, zero, mul(w, at(values, {j, v})))
                .getResult();
          });
          store(i, v, o);
        },
        [] {});
  });
}

} // namespace linrec::gpusched
