//===- WindowKernel.cpp - the CPU kernel of linrec.window_attention -------===//
//
// Work items are the (batch row, head) pairs. Queries go in blocks of C: every window of a
// block's queries lies in [start(first query), last query], a span of at most C + the
// window's reach. Per 16 queries, the scores are one matmul with the band of the span their
// windows reach (register tiles, like the recurrences' intra-chunk blocks), each row is masked
// to its own window and weighted (softmax, relu, or e^{s − max} with the row sum), and the
// outputs are a second matmul with the band's values.
//
//===----------------------------------------------------------------------===//

#include "CpuKernels.h"
#include "KernelCommon/WindowMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;

namespace linrec::cpu {

namespace {
class WindowKernel : KernelBuilder {
public:
  WindowKernel(WindowAttentionOp op, func::FuncOp kernel, int64_t rows, int64_t columns)
      : KernelBuilder(op.getLoc(), kernel), op(op) {
    matmulRows = rows;
    matmulColumns = columns;
    size = static_cast<int64_t>(op.getSize());
    dk = cast<RankedTensorType>(op.getQ().getType()).getDimSize(3);
    dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(3);
    span = (kBlock + op.getReach() + 15) / 16 * 16; // whole 16-lane vectors; padding masked
    band = std::min(span, (kQueryBlock + op.getReach() + 15) / 16 * 16);
  }

  void emit() {
    Value q = kernel.getArgument(0), k = kernel.getArgument(1), v = kernel.getArgument(2);
    Value o = kernel.getArgument(3);
    bool shifted = op.getWeighting() == WindowWeighting::ShiftedExp;
    Value denominator = shifted ? kernel.getArgument(4) : Value();
    unsigned numArgs = kernel.getNumArguments();
    Value begin = kernel.getArgument(numArgs - 2), end = kernel.getArgument(numArgs - 1);

    Value queries = alloc({kBlock, dk}), keys = alloc({span, dk}), keysT = alloc({dk, span});
    Value values = alloc({span, dv}), scores = alloc({kBlock, span}), out = alloc({kBlock, dv});
    Value heads = memref::DimOp::create(b, q, 2), tokens = memref::DimOp::create(b, q, 1);
    Value zero = index(0);
    VectorType bandRow = vectorOf(band);
    Value positions = this->positions(band);
    float scale = static_cast<float>(op.getScale().convertToDouble());

    forLoop(begin, end, [&](Value w) {
      Value row = arith::DivUIOp::create(b, w, heads), head = arith::RemUIOp::create(b, w, heads);
      Value blocks = arith::CeilDivUIOp::create(b, tokens, index(kBlock));
      forLoop(zero, blocks, [&](Value block) {
        Value first = arith::MulIOp::create(b, block, index(kBlock));
        Value count = arith::MinUIOp::create(b, index(kBlock),
                                             arith::SubIOp::create(b, tokens, first));
        Value keyStart = windowStart(first);
        Value numKeys = arith::SubIOp::create(b, arith::AddIOp::create(b, first, count), keyStart);
        // The span's keys and values; values past it are zero (their weights are zero, and
        // 0 · garbage could be NaN).
        fill(values, 0.0);
        forLoop(zero, numKeys, [&](Value j) {
          Value token = arith::AddIOp::create(b, keyStart, j);
          store(load(vectorOf(dk), k, {row, token, head, zero}), keys, {j, zero});
          store(load(vectorOf(dv), v, {row, token, head, zero}), values, {j, zero});
        });
        forLoop(0, dk, [&](Value d) {
          forLoop(zero, numKeys, [&](Value j) {
            store(load(b.getF32Type(), keys, {j, d}), keysT, {d, j});
          });
        });
        Value scaleRow = arith::ConstantOp::create(b, DenseElementsAttr::get(vectorOf(dk), scale));
        forLoop(zero, count, [&](Value r) {
          Value token = arith::AddIOp::create(b, first, r);
          Value x = load(vectorOf(dk), q, {row, token, head, zero});
          store(arith::MulFOp::create(b, x, scaleRow), queries, {r, zero});
        });
        // Per 16 queries, the band of the span their windows reach: [start of the first
        // query's window, last query], at most 16 + reach keys (80 of 128 for 64-token
        // windows); clamped so that the band stays inside the span.
        forLoop(0, kBlock / kQueryBlock, [&](Value blockIndex) {
          Value r0 = arith::MulIOp::create(b, blockIndex, index(kQueryBlock));
          Value firstStart =
              arith::SubIOp::create(b, windowStart(arithAdd(first, r0)), keyStart);
          Value bandStart = arith::MinUIOp::create(b, firstStart, index(span - band));
          Value bandScores = view(scores, r0, zero, kQueryBlock, band);
          matmul(view(queries, r0, zero, kQueryBlock, dk), view(keysT, zero, bandStart, dk, band),
                 bandScores, /*accumulate=*/false);
          forLoop(0, kQueryBlock, [&](Value i) {
            Value r = arithAdd(r0, i);
            Value token = arithAdd(first, r);
            // The window's keys in band coordinates: [from, to].
            Value offset = arithAdd(keyStart, bandStart);
            Value from = asFloat(windowStart(token), offset);
            Value to = asFloat(token, offset);
            Value keep = arith::AndIOp::create(
                b, arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, positions, from),
                arith::CmpFOp::create(b, arith::CmpFPredicate::OLE, positions, to));
            Value weights, sum;
            std::tie(weights, sum) = codegen::windowWeights(b, op.getWeighting(),
                                                   load(bandRow, bandScores, {i, zero}), keep);
            if (sum)
              ifThenElse(
                  arith::CmpIOp::create(b, arith::CmpIPredicate::ult, r, count),
                  [&] { store(sum, denominator, {row, token, head}); }, [] {});
            store(weights, bandScores, {i, zero});
          });
          // Causal: query i takes the band's keys up to its own, (first + r0 − keyStart −
          // bandStart) + i.
          Value ownKey = arith::SubIOp::create(b, arithAdd(first, r0), arithAdd(keyStart, bandStart));
          matmul(bandScores, view(values, bandStart, zero, band, dv),
                 view(out, r0, zero, kQueryBlock, dv), /*accumulate=*/false,
                 /*lowerTriangular=*/true, ownKey);
        });
        forLoop(zero, count, [&](Value r) {
          Value token = arith::AddIOp::create(b, first, r);
          store(load(vectorOf(dv), out, {r, zero}), o, {row, token, head, zero});
        });
      });
    });
    freeAll();
    func::ReturnOp::create(b);
  }

private:
  static constexpr int64_t kBlock = 64;      // queries per block
  static constexpr int64_t kQueryBlock = 16; // queries per band matmul
  WindowAttentionOp op;
  int64_t size, dk, dv, span, band;

  Value arithAdd(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  /// (i − offset) as a vector of floats over the band: subtracted in integers (exact for any
  /// T), possibly negative.
  Value asFloat(Value i, Value offset) {
    Value difference = arith::IndexCastOp::create(b, b.getI64Type(),
                                                  arith::SubIOp::create(b, i, offset));
    return vector::BroadcastOp::create(
        b, vectorOf(band), arith::SIToFPOp::create(b, b.getF32Type(), difference));
  }

  Value windowStart(Value i) { return codegen::windowStart(b, op.getWindow(), op.getSize(), i); }
};
} // namespace

void emitWindowKernel(WindowAttentionOp op, func::FuncOp kernel, int64_t matmulRows,
                      int64_t matmulColumns) {
  WindowKernel(op, kernel, matmulRows, matmulColumns).emit();
}

} // namespace linrec::cpu
