//===- SequentialSchedule.cpp - the token scan as a GPU schedule ----------===//
//
// The exact token-by-token evaluation of any body (MoM's routed memories, tensor attention's
// product read, anything the chunked forms do not cover), one program per (sequence, head),
// every state a dk x dv tile in shared memory. Per token, in body order:
//
//   per-token values   one thread         the body's non-state ops that a state op needs (keys,
//                                         values, gates, masks, queries), stored into small tiles
//   state ops          (d, v) or columns   decay, delta (u = Sᵀk by columns, then S − β k uᵀ),
//                                         write (masked), Hadamard write, select, read (by
//                                         columns), read_product
//   outputs            one thread         the body's ops after the reads, then the outputs
//
// A state op updates its operand's tile in place when nothing else reads that value.
//
//===----------------------------------------------------------------------===//

#include "ScheduleBuilder.h"
#include "SequentialSchedule.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace linrec::gpusched {
namespace {

using codegen::WorkItem;

class SequentialSchedule : ScheduleBuilder {
public:
  explicit SequentialSchedule(codegen::KernelEmitter &e) : ScheduleBuilder(e), e(e) {}

  void emit() {
    RecurrenceOp op = e.op;
    Value begin = e.kernel.getArgument(e.kernel.getNumArguments() - 2);
    Value end = e.kernel.getArgument(e.kernel.getNumArguments() - 1);
    blocks(begin, end, [&](Value w) {
      allocateStates();
      WorkItem item = e.workItemAt(w);
      for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
        loadState(e, i, item, states[arg], e.index(0));
      e.forLoop(item.tokenBegin, item.tokenEnd, [&](Value token) { emitToken(item, token); });
      for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
        storeState(e, i, item, states[arg], e.index(0));
    });
  }

private:
  codegen::KernelEmitter &e;
  llvm::DenseMap<Value, Value> states; // state value of the body -> its dk x dv tile
  llvm::DenseMap<Value, Value> tokens; // per-token value -> the tile holding it this token
  /// Block-start read -> the copy of its state (body order).
  llvm::MapVector<Operation *, Value> snapshots;

  /// A tile per state value; a state op's result shares its operand's tile when the operand
  /// has no other reader (the chain of one state's updates is then one tile).
  void allocateStates() {
    RecurrenceOp op = e.op;
    auto newTile = [&](Type type) {
      auto state = cast<StateType>(type);
      return tile({state.getKeyDim(), state.getValueDim()}, state.getElementType());
    };
    for (BlockArgument arg : op.getStateArgs())
      states[arg] = newTile(arg.getType());
    // A block-start read reads a copy of its state taken before each block's first token.
    for (Operation &bodyOp : op.getBodyBlock())
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
        snapshots[read] = newTile(read.getState().getType());
    for (Operation &bodyOp : op.getBodyBlock())
      for (Value result : bodyOp.getResults()) {
        if (!isa<StateType>(result.getType()))
          continue;
        Value operand = isa<SelectOp>(bodyOp) ? cast<SelectOp>(bodyOp).getTrueState()
                                               : bodyOp.getOperand(0);
        states[result] = operand.hasOneUse() ? states[operand] : newTile(result.getType());
      }
  }

  /// The tile holding per-token value `v` this token, computing it (by one thread) if needed:
  /// a vector<n> as n floats, a scalar as one, an i1 as 0 or 1.
  Value tokenValue(Value v, const WorkItem &item, Value token) {
    if (Value known = tokens.lookup(v))
      return known;
    int64_t n = 1;
    if (auto vector = dyn_cast<VectorType>(v.getType()))
      n = vector.getDimSize(0);
    Value holder = tile({n});
    threads(1, [&](Value) {
      IRMapping mapping = readResults();
      e.cloneSliceAt({v}, mapping, item, token);
      Value value = mapping.lookup(v);
      if (value.getType().isInteger(1))
        value = arith::SelectOp::create(b, value, k.f32(1.0), k.f32(0.0));
      k.store(value, holder, {k.index(0)});
    });
    tokens[v] = holder;
    return holder;
  }

  /// A mapping of this token's reads (and read products) so far to their results, loaded from
  /// their tiles: the per-token ops after a read start from it.
  IRMapping readResults() {
    IRMapping mapping;
    for (auto [value, holder] : tokens) {
      Operation *def = value.getDefiningOp();
      if (!def || !isa<ReadOp, ReadProductOp>(def))
        continue;
      int64_t n = cast<MemRefType>(holder.getType()).getDimSize(0);
      Value loaded = k.load(isa<VectorType>(value.getType()) ? Type(k.vectorOf(n))
                                                             : Type(b.getF32Type()),
                            holder, {k.index(0)});
      mapping.map(value, loaded);
    }
    return mapping;
  }

  Value element(Value holder, Value i) { return at(holder, {i}); }
  Value scalar(Value holder) { return at(holder, {k.index(0)}); }
  Value isTrue(Value holder) {
    return arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, scalar(holder), k.f32(0.5));
  }

  void emitToken(const WorkItem &item, Value token) {
    tokens.clear();
    RecurrenceOp op = e.op;
    snapshotBlockStarts(item, token);
    for (Operation &bodyOp : op.getBodyBlock())
      llvm::TypeSwitch<Operation *>(&bodyOp)
          .Case([&](DecayOp o) { emitDecay(o, item, token); })
          .Case([&](DeltaOp o) { emitDelta(o, item, token); })
          .Case([&](WriteOp o) { emitWrite(o, item, token); })
          .Case([&](WriteHadamardOp o) { emitWriteHadamard(o, item, token); })
          .Case([&](SelectOp o) { emitSelect(o, item, token); })
          .Case([&](ReadOp o) { emitRead(o, item, token); })
          .Case([&](ReadProductOp o) { emitReadProduct(o, item, token); })
          .Default([](Operation *) {}); // per-token ops: computed where they are needed
    SmallVector<Value> outputs(op.getYield().getOutputs());
    threads(1, [&](Value) {
      IRMapping mapping = readResults();
      e.cloneSliceAt(outputs, mapping, item, token);
      e.storeOutputs(mapping, item, token);
    });
    // The yielded states become the next token's states.
    for (auto [arg, yielded] : llvm::zip(op.getStateArgs(), op.getYield().getStates()))
      if (states[arg] != states[yielded])
        elementwise(yielded, arg, [&](Value, Value, Value x) { return x; });
  }

  /// At the first token of a block, copies the state a block-start read sees (the state
  /// argument's tile: the state before this token).
  void snapshotBlockStarts(const WorkItem &item, Value token) {
    for (auto [readOp, snapshot] : snapshots) {
      auto read = cast<ReadOp>(readOp);
      Value blockStarts = e.startsBlock(item, token, *read.getBlockStart());
      Value state = states[e.op.getStateArgOf(read.getState())], copy = snapshot;
      StateType type = read.getState().getType();
      // Uniform over the block: every thread takes the branch, the phase's barrier included,
      // so the other tokens pay no phase.
      ifThenElse(
          blockStarts,
          [&] {
            threads(type.getKeyDim(), type.getValueDim(), [&](Value d, Value v) {
              k.store(atNative(state, {d, v}), copy, {d, v});
            });
          },
          [] {});
    }
  }

  /// to[d][v] = f(d, v, from[d][v]) for every element of a state, in the state's float
  /// type (a float64 state computes in f64).
  void elementwise(Value from, Value to, function_ref<Value(Value, Value, Value)> f) {
    auto type = cast<StateType>(from.getType());
    Value in = states[from], out = states[to];
    threads(type.getKeyDim(), type.getValueDim(), [&](Value d, Value v) {
      k.store(f(d, v, atNative(in, {d, v})), out, {d, v});
    });
  }

  void emitDecay(DecayOp decay, const WorkItem &item, Value token) {
    Value g = tokenValue(decay.getLogDecay(), item, token);
    std::optional<DecayAxis> axis = decay.getAxis();
    elementwise(decay.getState(), decay.getResult(), [&](Value d, Value v, Value x) {
      Value exponent = !axis ? scalar(g) : element(g, *axis == DecayAxis::Key ? d : v);
      return mul(x, exp(exponent));
    });
  }

  /// u = Sᵀk by columns, then S − β k uᵀ.
  void emitDelta(DeltaOp delta, const WorkItem &item, Value token) {
    StateType type = delta.getState().getType();
    Value key = tokenValue(delta.getKey(), item, token);
    Value beta = tokenValue(delta.getBeta(), item, token);
    Value in = states[delta.getState()];
    Value u = tile({type.getValueDim()});
    threads(type.getValueDim(), [&](Value v) {
      k.store(sum(type.getKeyDim(), [&](Value d) { return mul(element(key, d), at(in, {d, v})); }),
              u, {v});
    });
    elementwise(delta.getState(), delta.getResult(), [&](Value d, Value v, Value x) {
      return sub(x, mul(mul(scalar(beta), element(key, d)), element(u, v)));
    });
  }

  /// S + β k vᵀ (or z + β k), unless the mask is false.
  void emitWrite(WriteOp write, const WorkItem &item, Value token) {
    Value key = tokenValue(write.getKey(), item, token);
    Value value = write.getValue() ? tokenValue(write.getValue(), item, token) : Value();
    Value beta = write.getBeta() ? tokenValue(write.getBeta(), item, token) : Value();
    Value mask = write.getMask() ? tokenValue(write.getMask(), item, token) : Value();
    elementwise(write.getState(), write.getResult(), [&](Value d, Value v, Value x) {
      // In the state's type: a float64 state's products of f32 values are exact.
      Value term = k.convert(element(key, d), x.getType());
      if (value)
        term = mul(term, element(value, v));
      if (beta)
        term = mul(term, scalar(beta));
      Value updated = add(x, term);
      return mask ? arith::SelectOp::create(b, isTrue(mask), updated, x).getResult() : updated;
    });
  }

  /// S + (k vᵀ) ⊙ X (or z + k ⊙ x).
  void emitWriteHadamard(WriteHadamardOp write, const WorkItem &item, Value token) {
    Value key = tokenValue(write.getKey(), item, token);
    Value value = write.getValue() ? tokenValue(write.getValue(), item, token) : Value();
    Value factor = states[write.getFactor()];
    elementwise(write.getState(), write.getResult(), [&](Value d, Value v, Value x) {
      Value term = mul(element(key, d), at(factor, {d, v}));
      if (value)
        term = mul(term, element(value, v));
      return add(x, term);
    });
  }

  void emitSelect(SelectOp select, const WorkItem &item, Value token) {
    Value condition = tokenValue(select.getCondition(), item, token);
    Value onFalse = states[select.getFalseState()];
    elementwise(select.getTrueState(), select.getResult(), [&](Value d, Value v, Value x) {
      return arith::SelectOp::create(b, isTrue(condition), x, atNative(onFalse, {d, v}))
          .getResult();
    });
  }

  /// Column v of the read: Σ_d term(d, v); the result tile holds the token's read.
  void emitColumnRead(Value result, StateType type, function_ref<Value(Value, Value)> term) {
    Value holder = tile({type.getValueDim()});
    threads(type.getValueDim(), [&](Value v) {
      k.store(sum(type.getKeyDim(), [&](Value d) { return term(d, v); }), holder, {v});
    });
    tokens[result] = holder;
  }

  /// Sᵀ(scale·q), or (scale·q)ᵀz.
  void emitRead(ReadOp read, const WorkItem &item, Value token) {
    Value query = tokenValue(read.getQuery(), item, token);
    double scale = read.getScale() ? read.getScale()->convertToDouble() : 1.0;
    Value in = read.getBlockStart() ? snapshots[read] : states[read.getState()];
    emitColumnRead(read.getResult(), read.getState().getType(), [&](Value d, Value v) {
      return mul(mul(element(query, d), k.f32(scale)), at(in, {d, v}));
    });
  }

  /// (S1 ⊙ S2)ᵀq, or qᵀ(z1 ⊙ z2).
  void emitReadProduct(ReadProductOp read, const WorkItem &item, Value token) {
    Value query = tokenValue(read.getQuery(), item, token);
    Value first = states[read.getFirst()], second = states[read.getSecond()];
    emitColumnRead(read.getResult(), read.getFirst().getType(), [&](Value d, Value v) {
      return mul(element(query, d), mul(at(first, {d, v}), at(second, {d, v})));
    });
  }
};

} // namespace

void emitSequentialSchedule(codegen::KernelEmitter &emitter) { SequentialSchedule(emitter).emit(); }

} // namespace linrec::gpusched
