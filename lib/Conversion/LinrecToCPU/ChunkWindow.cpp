//===- ChunkWindow.cpp - a linrec.window_read inside the chunked kernel ---===//

#include "ChunkWindow.h"
#include "KernelCommon/WindowMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec::cpu {

ChunkWindow::ChunkWindow(KernelEmitter &e, WindowReadOp op, int64_t chunkSize)
    : e(e), op(op), C(chunkSize), size(static_cast<int64_t>(op.getSize())) {
  history = historyRows(op);
  span = history + C;
  dk = op.getQuery().getType().getDimSize(0);
  dv = op.getValue().getType().getDimSize(0);
  queries = e.alloc({C, dk});
  keys = e.alloc({span, dk});
  keysT = e.alloc({dk, span});
  values = e.alloc({span, dv});
  scores = e.alloc({C, span});
  out = e.alloc({C, dv});
  if (op.getDenominator())
    denominators = e.alloc({C});
}

void ChunkWindow::clearHistory() {
  e.fill(keys, 0.0);
  e.fill(values, 0.0);
}

void ChunkWindow::clearPadding(Value count) {
  e.forLoop(count, e.index(C), [&](Value i) {
    Value at = arith::AddIOp::create(e.b, i, e.index(history));
    e.store(e.zeros(e.vectorOf(dk)), keys, {at, e.index(0)});
    e.store(e.zeros(e.vectorOf(dv)), values, {at, e.index(0)});
  });
}

void ChunkWindow::storeTokenRows(IRMapping &mapping, Value i) {
  ImplicitLocOpBuilder &b = e.b;
  Value zero = e.index(0);
  Value scale = vector::BroadcastOp::create(
      b, e.vectorOf(dk), e.f32(op.getScale().convertToDouble()));
  e.store(arith::MulFOp::create(b, mapping.lookup(op.getQuery()), scale), queries, {i, zero});
  Value at = arith::AddIOp::create(b, i, e.index(history));
  e.store(mapping.lookup(op.getKey()), keys, {at, zero});
  e.store(mapping.lookup(op.getValue()), values, {at, zero});
}

void ChunkWindow::emit(const WorkItem &item, Value first) {
  ImplicitLocOpBuilder &b = e.b;
  Value zero = e.index(0);
  e.forLoop(0, dk, [&](Value d) {
    e.forLoop(0, span, [&](Value j) {
      e.store(e.load(b.getF32Type(), keys, {j, d}), keysT, {d, j});
    });
  });
  // Span row j holds the token at position p0 − history + j of the sequence (p0: the chunk's
  // first position), so query r at position p sees span rows [a(p) − p0 + history, r + history]
  // (a(p): its window's first position). The queries go in blocks of `block` rows; block
  // [r0, r0 + block) needs the band of span rows [r0, r0 + block + history) only (80 of 128
  // for a sliding window of 64 and C = 64).
  int64_t block = C % kQueryBlock == 0 ? kQueryBlock : C, band = block + history;
  VectorType bandRow = e.vectorOf(band);
  Value positions = e.positions(band);
  Value p0 = arith::SubIOp::create(b, first, item.tokenBegin);
  e.forLoop(0, C / block, [&](Value blockIndex) {
    Value r0 = arith::MulIOp::create(b, blockIndex, e.index(block));
    Value bandScores = e.view(scores, r0, b.getIndexAttr(0), block, band);
    e.matmul(e.view(queries, r0, b.getIndexAttr(0), block, dk),
             e.view(keysT, b.getIndexAttr(0), r0, dk, band), bandScores, /*accumulate=*/false);
    Value bandFirst = arith::AddIOp::create(b, p0, r0); // the band's first query position
    e.forLoop(0, block, [&](Value i) {
      Value last = arith::AddFOp::create(b, e.indexToF32(i), e.f32(double(history)));
      // The window's first band row: a(p) − (p0 + r0) + history, in integers (exact for any
      // T; a(p) >= p − reach keeps it >= 0).
      Value position = arith::AddIOp::create(b, bandFirst, i);
      Value fromRow = arith::SubIOp::create(
          b,
          arith::AddIOp::create(b, codegen::windowStart(b, op.getWindow(), size, position),
                                e.index(history)),
          bandFirst);
      Value from = e.indexToF32(fromRow);
      Value keep = arith::AndIOp::create(
          b,
          arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, positions,
                                vector::BroadcastOp::create(b, bandRow, from)),
          arith::CmpFOp::create(b, arith::CmpFPredicate::OLE, positions,
                                vector::BroadcastOp::create(b, bandRow, last)));
      auto [weights, sum] = codegen::windowWeights(b, op.getWeighting(),
                                                   e.load(bandRow, bandScores, {i, zero}), keep);
      if (sum) // shifted_exp: the body adds its own terms before dividing
        e.store(sum, denominators, {arith::AddIOp::create(b, r0, i)});
      e.store(weights, bandScores, {i, zero});
    });
    // Query i's last row is i + history: the band ends with the block's own tokens.
    e.matmul(bandScores, e.view(values, r0, b.getIndexAttr(0), band, dv),
             e.view(out, r0, b.getIndexAttr(0), block, dv), /*accumulate=*/false,
             /*lowerTriangular=*/true);
  });
}

void ChunkWindow::mapResult(IRMapping &mapping, Value i) {
  mapping.map(op.getResult(), e.load(e.vectorOf(dv), out, {i, e.index(0)}));
  if (Value denominator = op.getDenominator())
    mapping.map(denominator, e.load(e.b.getF32Type(), denominators, {i}));
}

void ChunkWindow::shiftHistory() {
  // Row j takes row j + C; with history > C the ranges overlap, and ascending j reads each
  // source row before it is overwritten.
  e.forLoop(0, history, [&](Value j) {
    Value from = arith::AddIOp::create(e.b, j, e.index(C));
    e.store(e.load(e.vectorOf(dk), keys, {from, e.index(0)}), keys, {j, e.index(0)});
    e.store(e.load(e.vectorOf(dv), values, {from, e.index(0)}), values, {j, e.index(0)});
  });
}

} // namespace linrec::cpu
