//===- SequentialKernel.cpp - the token-by-token scan of a recurrence -----===//
//
// The exact evaluation of any body the verifier accepts, token by token: per-token ops are
// cloned, and every state op becomes a pass over a dk x dv buffer (one buffer per state
// value of the body). This is also the decode kernel: with one token per sequence it reads
// each state, applies the step and writes it back.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace linrec::cpu {
namespace {

class SequentialKernel {
public:
  explicit SequentialKernel(KernelEmitter &e) : e(e), b(e.b) {}

  void emit() {
    RecurrenceOp op = e.op;
    // One buffer per state argument and per state-typed result in the body.
    for (BlockArgument arg : op.getStateArgs())
      buffers[arg] = allocState(cast<StateType>(arg.getType()));
    for (Operation &bodyOp : op.getBodyBlock())
      for (Value result : bodyOp.getResults())
        if (auto type = dyn_cast<StateType>(result.getType()))
          buffers[result] = allocState(type);
    // A block-start read reads a copy of its state taken before each block's first token.
    for (Operation &bodyOp : op.getBodyBlock())
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
        snapshots[read] = allocState(read.getState().getType());

    e.forEachWorkItem([&](const WorkItem &item) {
      for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
        e.loadInitialState(i, item, buffers[arg]);
      e.forLoop(item.tokenBegin, item.tokenEnd, [&](Value token) { emitToken(item, token); });
      for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
        e.storeFinalState(i, item, buffers[arg]);
    });
    e.freeAll();
  }

private:
  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  llvm::DenseMap<Value, Value> buffers; // state value -> dk x dv buffer
  /// Block-start read -> the copy of its state (body order).
  llvm::MapVector<Operation *, Value> snapshots;

  Value allocState(StateType type) { return e.alloc({type.getKeyDim(), type.getValueDim()}); }

  Value row(Value buffer, Value r, int64_t n) {
    return e.load(e.vectorOf(n), buffer, {r, e.index(0)});
  }
  Value splat(Value scalar, int64_t n) {
    return vector::BroadcastOp::create(b, e.vectorOf(n), scalar);
  }
  /// Stores a per-token vector (a key, query or decay) into a scratch buffer, so that row
  /// loops read its lanes with scalar loads: a dynamic vector extract would spill the whole
  /// vector once per lane.
  Value spill(Value vector) {
    Value buffer = e.alloc({cast<VectorType>(vector.getType()).getDimSize(0)});
    e.store(vector, buffer, {e.index(0)});
    return buffer;
  }
  Value element(Value spilledVector, Value i) {
    return e.load(b.getF32Type(), spilledVector, {i});
  }

  void emitToken(const WorkItem &item, Value token) {
    RecurrenceOp op = e.op;
    IRMapping mapping;
    e.mapTokenArguments(mapping, item, token);
    snapshotBlockStarts(item, token);
    for (Operation &bodyOp : op.getBodyBlock()) {
      if (isa<YieldOp>(bodyOp))
        break;
      bool handled = llvm::TypeSwitch<Operation *, bool>(&bodyOp)
                         .Case([&](DecayOp decay) { return emitDecay(decay, mapping); })
                         .Case([&](DeltaOp delta) { return emitDelta(delta, mapping); })
                         .Case([&](WriteOp write) { return emitWrite(write, mapping); })
                         .Case([&](ReadOp read) { return emitRead(read, mapping); })
                         .Case([&](ReadProductOp read) { return emitReadProduct(read, mapping); })
                         .Case([&](SelectOp select) { return emitSelect(select, mapping); })
                         .Default([](Operation *) { return false; });
      if (!handled)
        e.cloneBodyOp(bodyOp, mapping);
    }
    YieldOp yield = op.getYield();
    e.storeOutputs(mapping, item, token);
    // The yielded states become the next token's states.
    for (auto [arg, yielded] : llvm::zip(op.getStateArgs(), yield.getStates()))
      if (buffers[arg] != buffers[yielded])
        copy(buffers[yielded], buffers[arg], cast<StateType>(arg.getType()));
  }

  /// At the first token of a block, copies the state a block-start read sees: its operand is
  /// a yielded state, whose argument holds the state before the token.
  void snapshotBlockStarts(const WorkItem &item, Value token) {
    for (auto [readOp, snapshot] : snapshots) {
      auto read = cast<ReadOp>(readOp);
      Value state = buffers[e.op.getStateArgOf(read.getState())], copyTo = snapshot;
      e.ifThenElse(
          e.startsBlock(item, token, *read.getBlockStart()),
          [&] { copy(state, copyTo, read.getState().getType()); }, [] {});
    }
  }

  void copy(Value from, Value to, StateType type) {
    e.forLoop(0, type.getKeyDim(), [&](Value r) {
      e.store(row(from, r, type.getValueDim()), to, {r, e.index(0)});
    });
  }

  /// out[r] = f(r, in[r]) for every row r of a state.
  void mapRows(StateType type, Value in, Value out, function_ref<Value(Value, Value)> f) {
    e.forLoop(0, type.getKeyDim(), [&](Value r) {
      e.store(f(r, row(in, r, type.getValueDim())), out, {r, e.index(0)});
    });
  }

  bool emitDecay(DecayOp decay, IRMapping &mapping) {
    StateType type = decay.getState().getType();
    int64_t dv = type.getValueDim();
    Value g = mapping.lookup(decay.getLogDecay());
    std::optional<DecayAxis> axis = decay.getAxis();
    Value factor = math::ExpOp::create(b, g);
    Value lanes = axis && *axis == DecayAxis::Key ? spill(factor) : Value();
    mapRows(type, buffers[decay.getState()], buffers[decay.getResult()], [&](Value r, Value x) {
      if (!axis)
        return arith::MulFOp::create(b, x, splat(factor, dv)).getResult();
      if (*axis == DecayAxis::Key)
        return arith::MulFOp::create(b, x, splat(element(lanes, r), dv)).getResult();
      return arith::MulFOp::create(b, x, factor).getResult();
    });
    return true;
  }

  /// u = Sᵀk, then S − β k uᵀ.
  bool emitDelta(DeltaOp delta, IRMapping &mapping) {
    StateType type = delta.getState().getType();
    int64_t dv = type.getValueDim();
    Value in = buffers[delta.getState()];
    Value k = spill(mapping.lookup(delta.getKey()));
    Value beta = mapping.lookup(delta.getBeta());
    Value u = e.forLoopCarry(e.index(0), e.index(type.getKeyDim()), e.zeros(e.vectorOf(dv)),
                             [&](Value r, Value acc) {
                               return vector::FMAOp::create(b, splat(element(k, r), dv),
                                                            row(in, r, dv), acc)
                                   .getResult();
                             });
    Value betaU = arith::MulFOp::create(b, u, splat(beta, dv));
    mapRows(type, in, buffers[delta.getResult()], [&](Value r, Value x) {
      return arith::SubFOp::create(b, x,
                                   arith::MulFOp::create(b, splat(element(k, r), dv), betaU))
          .getResult();
    });
    return true;
  }

  /// S + β k vᵀ (or z + β k), unless the mask is false.
  bool emitWrite(WriteOp write, IRMapping &mapping) {
    StateType type = write.getState().getType();
    int64_t dv = type.getValueDim();
    Value k = spill(mapping.lookup(write.getKey()));
    Value v = write.getValue() ? mapping.lookup(write.getValue()) : splat(e.f32(1.0), 1);
    if (write.getBeta())
      v = arith::MulFOp::create(b, v, splat(mapping.lookup(write.getBeta()), dv));
    Value mask = write.getMask() ? mapping.lookup(write.getMask()) : Value();
    mapRows(type, buffers[write.getState()], buffers[write.getResult()], [&](Value r, Value x) {
      Value updated = vector::FMAOp::create(b, splat(element(k, r), dv), v, x).getResult();
      return mask ? arith::SelectOp::create(b, mask, updated, x).getResult() : updated;
    });
    return true;
  }

  /// Sᵀ(scale·q), or (scale·q)ᵀz.
  bool emitRead(ReadOp read, IRMapping &mapping) {
    StateType type = read.getState().getType();
    int64_t dv = type.getValueDim();
    Value q = mapping.lookup(read.getQuery());
    if (std::optional<APFloat> scale = read.getScale())
      q = arith::MulFOp::create(b, q, splat(e.f32(scale->convertToDouble()), type.getKeyDim()));
    q = spill(q);
    Value in = read.getBlockStart() ? snapshots[read] : buffers[read.getState()];
    Value o = e.forLoopCarry(e.index(0), e.index(type.getKeyDim()), e.zeros(e.vectorOf(dv)),
                             [&](Value r, Value acc) {
                               return vector::FMAOp::create(b, splat(element(q, r), dv),
                                                            row(in, r, dv), acc)
                                   .getResult();
                             });
    if (!type.isMatrix())
      o = vector::ExtractOp::create(b, o, ArrayRef<int64_t>{0});
    mapping.map(read.getResult(), o);
    return true;
  }

  /// (S1 ⊙ S2)ᵀq, or qᵀ(z1 ⊙ z2).
  bool emitReadProduct(ReadProductOp read, IRMapping &mapping) {
    StateType type = read.getFirst().getType();
    int64_t dv = type.getValueDim();
    Value q = spill(mapping.lookup(read.getQuery()));
    Value first = buffers[read.getFirst()], second = buffers[read.getSecond()];
    Value o = e.forLoopCarry(e.index(0), e.index(type.getKeyDim()), e.zeros(e.vectorOf(dv)),
                             [&](Value r, Value acc) {
                               Value product = arith::MulFOp::create(b, row(first, r, dv),
                                                                     row(second, r, dv));
                               return vector::FMAOp::create(b, splat(element(q, r), dv),
                                                            product, acc)
                                   .getResult();
                             });
    if (!type.isMatrix())
      o = vector::ExtractOp::create(b, o, ArrayRef<int64_t>{0});
    mapping.map(read.getResult(), o);
    return true;
  }

  bool emitSelect(SelectOp select, IRMapping &mapping) {
    StateType type = select.getResult().getType();
    Value condition = mapping.lookup(select.getCondition());
    Value onFalse = buffers[select.getFalseState()];
    mapRows(type, buffers[select.getTrueState()], buffers[select.getResult()],
            [&](Value r, Value x) {
              return arith::SelectOp::create(b, condition, x,
                                             row(onFalse, r, type.getValueDim()))
                  .getResult();
            });
    return true;
  }
};

} // namespace

void emitSequentialKernel(KernelEmitter &emitter) { SequentialKernel(emitter).emit(); }

} // namespace linrec::cpu
