//===- LowerReverse.cpp - reverse recurrences as forward ones -------------===//
//
// A reverse recurrence over tokens T−1 … 0 is the forward recurrence over the tensors read
// from their end. With cu_seqlens the packed token dim reverses as a whole: each sequence
// reverses and so does their order, so offsets and per-sequence states reverse with them.
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECLOWERREVERSE
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

/// A copy of `x` read backwards along `dim` (static size), with `payload` applied to each
/// element (the identity when null).
static Value reverseAlong(OpBuilder &b, Location loc, Value x, unsigned dim,
                          function_ref<Value(OpBuilder &, Location, Value)> payload = nullptr) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> reads;
  for (unsigned d = 0; d < rank; ++d)
    reads.push_back(d == dim ? getAffineConstantExpr(type.getDimSize(d) - 1, ctx) -
                                   getAffineDimExpr(d, ctx)
                             : getAffineDimExpr(d, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, reads, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  Value init = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{x}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value value = payload ? payload(nb, nloc, args[0]) : args[0];
        linalg::YieldOp::create(nb, nloc, value);
      });
  return generic.getResult(0);
}

static LogicalResult lowerReverse(RecurrenceOp op) {
  for (Value operand : op->getOperands())
    if (!cast<RankedTensorType>(operand.getType()).hasStaticShape())
      return op.emitOpError("a reverse recurrence needs static shapes to run as a forward one");
  // Blocks count from the sequence's start: on the reversed tokens they would not line up
  // unless every sequence's length were a multiple of the block.
  for (Operation &bodyOp : op.getBodyBlock())
    if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
      return read.emitOpError("a block-start read of a reverse recurrence does not run as a "
                              "forward one (its blocks count from the sequence's start)");
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value cuSeqlens = op.getCuSeqlens();
  // Token tensors reverse along T; per-sequence states along N when sequences are packed.
  auto reverseTokens = [&](Value x) { return reverseAlong(b, loc, x, 1); };
  // State pools stay as they are: their indices reverse instead.
  Value stateIndices = op.getStateIndices();
  auto reverseStates = [&](Value x) {
    return cuSeqlens && !stateIndices ? reverseAlong(b, loc, x, 0) : x;
  };

  SmallVector<Value> inputs, inits;
  for (Value input : op.getInputs())
    inputs.push_back(reverseTokens(input));
  for (Value init : op.getInits())
    inits.push_back(reverseStates(init));
  Value offsets;
  if (cuSeqlens) {
    // Sequence n of the reversed tokens is sequence N−1−n: offsets total − cu[N − i].
    int64_t total = cast<RankedTensorType>(op.getInputs()[0].getType()).getDimSize(1);
    offsets = reverseAlong(b, loc, cuSeqlens, 0, [&](OpBuilder &nb, Location nloc, Value c) {
      Value totalValue = arith::ConstantIntOp::create(nb, nloc, c.getType(), total);
      return arith::SubIOp::create(nb, nloc, totalValue, c).getResult();
    });
  }
  Value reversedIndices =
      cuSeqlens && stateIndices ? reverseAlong(b, loc, stateIndices, 0) : Value();
  auto forward = cast<RecurrenceOp>(b.clone(*op));
  forward.removeReverseAttr();
  forward.getInputsMutable().assign(inputs);
  forward.getInitsMutable().assign(inits);
  if (offsets)
    forward.getCuSeqlensMutable().assign(offsets);
  if (reversedIndices)
    forward.getStateIndicesMutable().assign(reversedIndices);
  b.setInsertionPointAfter(forward);
  SmallVector<Value> results;
  for (Value output : forward.getOutputs())
    results.push_back(reverseTokens(output));
  for (Value state : forward.getFinalStates())
    results.push_back(reverseStates(state));
  op->replaceAllUsesWith(results);
  op->erase();
  return success();
}

namespace {
struct LinrecLowerReversePass : linrec::impl::LinrecLowerReverseBase<LinrecLowerReversePass> {
  void runOnOperation() override {
    SmallVector<RecurrenceOp> reverse;
    getOperation()->walk([&](RecurrenceOp op) {
      if (op.getReverse())
        reverse.push_back(op);
    });
    for (RecurrenceOp op : reverse)
      if (failed(lowerReverse(op)))
        return signalPassFailure();
  }
};
} // namespace
