//===- SequentialKernel.cpp - the token-by-token scan of a recurrence -----===//
//
// The exact evaluation of any body the verifier accepts, token by token: per-token ops are
// cloned, and consecutive state ops (decays, delta transitions, writes, selects, reads) become
// one loop over the rows of dk x dv buffers (one buffer per state value the loop must keep),
// plus one before it that sums a delta transition's Sᵀk. This is also the decode kernel:
// with one token per sequence it reads each state, applies the step and writes it back.
//
//===----------------------------------------------------------------------===//

#include "CpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/MapVector.h"

using namespace mlir;

namespace linrec::cpu {
namespace {

/// Tokens ahead of the current one whose rows the scan prefetches.
constexpr int64_t kPrefetchDistance = 8;

class SequentialKernel {
public:
  explicit SequentialKernel(KernelEmitter &e) : e(e), b(e.b) {}

  void emit() {
    RecurrenceOp op = e.op;
    // One buffer per state argument (per head of a work item's group: they persist from token
    // to token) and per state-typed result in the body (a token's temporaries, shared).
    int64_t group = e.headsPerItem;
    auto allocGroup = [&](StateType type) {
      return e.alloc({group * type.getKeyDim(), type.getValueDim()}, type.getElementType());
    };
    // States in pools are updated where they lie (KernelEmitter::updatesStatesInPlace): no
    // buffers of their own, no copies in and out.
    bool inPlace = e.updatesStatesInPlace();
    llvm::MapVector<Value, Value> groupStates;
    if (!inPlace)
      for (BlockArgument arg : op.getStateArgs())
        groupStates[arg] = buffers[arg] = allocGroup(cast<StateType>(arg.getType()));
    for (Operation &bodyOp : op.getBodyBlock())
      for (Value result : bodyOp.getResults())
        if (auto type = dyn_cast<StateType>(result.getType()))
          buffers[result] = allocState(type);
    // A block-start read reads a copy of its state taken before each block's first token.
    llvm::MapVector<Operation *, Value> groupSnapshots;
    for (Operation &bodyOp : op.getBodyBlock())
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
        groupSnapshots[read] = snapshots[read] = allocGroup(read.getState().getType());

    // Runs `body` for each head of the group with the persistent buffers at that head's rows.
    auto forEachHead = [&](const WorkItem &groupItem, function_ref<void(const WorkItem &)> body) {
      e.forLoop(e.index(0), groupItem.numHeads, [&](Value local) {
        WorkItem item = groupItem;
        item.head = arith::AddIOp::create(b, groupItem.head, local);
        item.numHeads = e.index(1);
        if (inPlace)
          for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
            buffers[arg] = e.finalStateView(i, item);
        if (group > 1) {
          for (auto [arg, all] : groupStates)
            buffers[arg] = headRows(all, local, cast<StateType>(arg.getType()));
          for (auto [read, all] : groupSnapshots)
            snapshots[read] = headRows(all, local, cast<ReadOp>(read).getState().getType());
        }
        body(item);
      });
    };
    e.forEachWorkItem([&](const WorkItem &groupItem) {
      if (!inPlace)
        forEachHead(groupItem, [&](const WorkItem &item) {
          for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
            e.loadInitialState(i, item, buffers[arg]);
        });
      // States updated in place are checked by the first pass that loads their rows (the
      // value checks loadInitialState does), not by a pass of their own.
      if (inPlace)
        statesToCheck.insert(op.getStateArgs().begin(), op.getStateArgs().end());
      // Tokens outer, heads inner: a token's rows of adjacent heads are adjacent in memory.
      e.forLoop(groupItem.tokenBegin, groupItem.tokenEnd, [&](Value token) {
        forEachHead(groupItem, [&](const WorkItem &item) {
          // A head's next rows are H·D apart: too far for the hardware prefetcher, and each
          // token's work is too short to hide a miss.
          e.prefetchTokenRows(item,
                              arith::AddIOp::create(b, token, e.index(kPrefetchDistance)));
          emitToken(item, token);
        });
      });
      if (!inPlace)
        forEachHead(groupItem, [&](const WorkItem &item) {
          for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
            e.storeFinalState(i, item, buffers[arg]);
        });
      // A sequence without tokens (packed, empty) runs no pass: its states are checked here.
      if (inPlace && e.checksValues()) {
        Value empty = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, groupItem.tokenBegin,
                                            groupItem.tokenEnd);
        e.ifThenElse(
            empty,
            [&] {
              forEachHead(groupItem, [&](const WorkItem &) {
                for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
                  e.checkStateInPlace(i, buffers[arg]);
              });
            },
            [] {});
      }
      // A state no pass loads is yielded as it is: checked after the tokens just the same.
      if (!statesToCheck.empty())
        forEachHead(groupItem, [&](const WorkItem &) {
          for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
            if (statesToCheck.contains(arg))
              e.checkStateInPlace(i, buffers[arg]);
        });
      statesToCheck.clear();
    });
    e.freeAll();
  }

private:
  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  llvm::DenseMap<Value, Value> buffers; // state value -> dk x dv buffer
  /// Block-start read -> the copy of its state (body order).
  llvm::MapVector<Operation *, Value> snapshots;

  Value allocState(StateType type) {
    return e.alloc({type.getKeyDim(), type.getValueDim()}, type.getElementType());
  }
  /// Head `local`'s dk rows of a group's buffer.
  Value headRows(Value all, Value local, StateType type) {
    Value row0 = arith::MulIOp::create(b, local, e.index(type.getKeyDim()));
    return e.view(all, row0, b.getIndexAttr(0), type.getKeyDim(), type.getValueDim());
  }

  /// Row r of a state buffer, in the state's float type (a float64 state computes in f64;
  /// what it meets from the token is converted to it, what is read from it to f32). A state
  /// kept narrower (a bf16 pool updated in place) computes in f32.
  Value row(Value buffer, Value r, int64_t n) {
    Type element = cast<MemRefType>(buffer.getType()).getElementType();
    if (element.getIntOrFloatBitWidth() < 32)
      element = b.getF32Type();
    return e.load(VectorType::get({n}, element), buffer, {r, e.index(0)});
  }
  /// `x` in the float type of `like`.
  Value as(Value x, Value like) { return e.convert(x, getElementTypeOrSelf(like.getType())); }
  Value asF32(Value x) { return e.convert(x, b.getF32Type()); }
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
    e.checkTokenArguments(mapping);
    snapshotBlockStarts(item, token);
    RowPass pass;
    for (Operation &bodyOp : op.getBodyBlock()) {
      if (isa<YieldOp>(bodyOp))
        break;
      // An op waits for the pass when it needs one of its reads, and a pass covers the rows
      // of one key dim; a delta transition joins unless its state comes from another delta
      // of the pass (its Sᵀk would need that one's).
      bool needsRead = llvm::any_of(bodyOp.getOperands(), [&](Value v) {
        return !isa<StateType>(v.getType()) && pass.produces(v);
      });
      bool rowWise = isRowWise(&bodyOp);
      if (needsRead || (rowWise && !pass.ops.empty() &&
                        (rowsOf(&bodyOp) != rowsOf(pass.ops.front()) ||
                         (isa<DeltaOp>(bodyOp) && pass.deltaUpstreamOf(bodyOp.getOperand(0))))))
        emitRowPass(pass, mapping);
      if (rowWise)
        pass.ops.push_back(&bodyOp);
      else
        e.cloneBodyOp(bodyOp, mapping);
    }
    emitRowPass(pass, mapping);
    YieldOp yield = op.getYield();
    e.storeOutputs(mapping, item, token);
    // The yielded states become the next token's states (unless a pass stored them there).
    for (auto [arg, yielded] : llvm::zip(op.getStateArgs(), yield.getStates()))
      if (buffers[arg] != buffers[yielded] && !storedInPlace.contains(yielded))
        copy(buffers[yielded], buffers[arg], cast<StateType>(arg.getType()));
    storedInPlace.clear();
  }

  /// Consecutive state ops that work row by row (decays, delta transitions, writes, selects,
  /// reads): one loop over the rows applies all of them with each state's row in registers,
  /// loading a row once and storing it once, instead of a pass over the state per op. A delta
  /// transition S − β k (Sᵀk)ᵀ needs Sᵀk over all rows first: a loop before recomputes the
  /// rows its state comes from and sums them. (Per-token ops that need no read of the pass
  /// are emitted before its loops.)
  struct RowPass {
    SmallVector<Operation *> ops;
    bool produces(Value v) const { return llvm::is_contained(ops, v.getDefiningOp()); }
    /// The pass's ops that `state` is computed from (within the pass), in pass order.
    SmallVector<Operation *> upstreamOf(ArrayRef<Value> states) const {
      llvm::SmallPtrSet<Operation *, 8> needed;
      SmallVector<Value> work(states.begin(), states.end());
      while (!work.empty()) {
        Operation *def = work.pop_back_val().getDefiningOp();
        if (!def || !produces(def->getResult(0)) || !needed.insert(def).second)
          continue;
        for (Value operand : def->getOperands())
          if (isa<StateType>(operand.getType()))
            work.push_back(operand);
      }
      SmallVector<Operation *> ordered;
      for (Operation *op : ops)
        if (needed.contains(op))
          ordered.push_back(op);
      return ordered;
    }
    bool deltaUpstreamOf(Value state) const {
      return llvm::any_of(upstreamOf({state}), [](Operation *op) { return isa<DeltaOp>(op); });
    }
  };
  /// State arguments updated in place whose rows the next pass that loads them checks.
  llvm::SmallPtrSet<Value, 4> statesToCheck;
  /// Yielded state values a pass stored straight into their state argument's buffer.
  llvm::SmallPtrSet<Value, 4> storedInPlace;

  static bool isRowWise(Operation *op) {
    return isa<DecayOp, DeltaOp, WriteOp, WriteHadamardOp, ReadOp, ReadProductOp, SelectOp>(op);
  }
  /// The key dim of the state a row-wise op works on (its first state operand; a select's
  /// first operand is its condition).
  static int64_t rowsOf(Operation *op) {
    for (Value operand : op->getOperands())
      if (auto type = dyn_cast<StateType>(operand.getType()))
        return type.getKeyDim();
    llvm_unreachable("a row-wise op has a state operand");
  }
  static int64_t widthOf(Value state) {
    return cast<StateType>(state.getType()).getValueDim();
  }
  static int64_t readWidth(Operation *read) {
    return widthOf(isa<ReadOp>(read) ? cast<ReadOp>(read).getState()
                                     : cast<ReadProductOp>(read).getFirst());
  }

  /// What a pass's op needs per row, prepared before its loops: lanes of keys, queries and
  /// key decays (spilled, read element by element), value rows, factors, masks, and a delta's
  /// β·Sᵀk once known.
  struct Prepared {
    Value lanes, factor, row, mask;
    Value out; // a transposed read's result, one element per row
  };

  Prepared prepare(Operation *rowOp, int64_t rows, IRMapping &mapping) {
    Prepared p;
    if (auto decay = dyn_cast<DecayOp>(rowOp)) {
      p.factor = math::ExpOp::create(b, mapping.lookup(decay.getLogDecay()));
      if (decay.getAxis() == DecayAxis::Key)
        p.lanes = spill(p.factor);
    } else if (auto delta = dyn_cast<DeltaOp>(rowOp)) {
      p.lanes = spill(mapping.lookup(delta.getKey()));
      p.factor = mapping.lookup(delta.getBeta());
    } else if (auto write = dyn_cast<WriteOp>(rowOp)) {
      // β v in the state's float type: a float64 state's products of f32 values are exact.
      int64_t dv = widthOf(write.getState());
      Type element = write.getState().getType().getElementType();
      p.lanes = spill(mapping.lookup(write.getKey()));
      p.row = write.getValue() ? mapping.lookup(write.getValue()) : splat(e.f32(1.0), 1);
      p.row = e.convert(p.row, element);
      if (write.getBeta()) {
        Value beta = e.convert(mapping.lookup(write.getBeta()), element);
        p.row = arith::MulFOp::create(
            b, p.row, vector::BroadcastOp::create(b, VectorType::get({dv}, element), beta));
      }
      if (write.getMask())
        p.mask = mapping.lookup(write.getMask());
    } else if (auto write = dyn_cast<WriteHadamardOp>(rowOp)) {
      p.lanes = spill(mapping.lookup(write.getKey()));
      p.row = write.getValue() ? mapping.lookup(write.getValue()) : splat(e.f32(1.0), 1);
    } else if (auto read = dyn_cast<ReadOp>(rowOp); read && read.getTransposed()) {
      // S u: row r gives element r (the row's dot product with u).
      p.row = mapping.lookup(read.getQuery());
      if (std::optional<APFloat> scale = read.getScale())
        p.row = arith::MulFOp::create(
            b, p.row, splat(e.f32(scale->convertToDouble()), widthOf(read.getState())));
      p.out = e.alloc({rows});
    } else if (auto read = dyn_cast<ReadOp>(rowOp)) {
      Value q = mapping.lookup(read.getQuery());
      if (std::optional<APFloat> scale = read.getScale())
        q = arith::MulFOp::create(b, q, splat(e.f32(scale->convertToDouble()), rows));
      p.lanes = spill(q);
    } else if (auto product = dyn_cast<ReadProductOp>(rowOp)) {
      p.lanes = spill(mapping.lookup(product.getQuery()));
    } else if (auto select = dyn_cast<SelectOp>(rowOp)) {
      p.mask = mapping.lookup(select.getCondition());
    }
    return p;
  }

  /// The rows of one loop iteration: each state value's row at row r, loaded on first use.
  struct Rows {
    SequentialKernel &k;
    Value r;
    DenseMap<Value, Value> of;
    Value get(Value state) {
      auto it = of.find(state);
      if (it != of.end())
        return it->second;
      Value loaded = k.row(k.buffers[state], r, widthOf(state));
      of[state] = loaded;
      if (k.statesToCheck.erase(state))
        k.e.checkStateRow(cast<BlockArgument>(state).getArgNumber(), loaded);
      return loaded;
    }
  };

  /// Row r of a decay, write, Hadamard write or select (a delta needs its β·Sᵀk:
  /// `deltaTerm`).
  void applyRowOp(Operation *rowOp, const Prepared &p, Rows &rows, Value deltaTerm = {}) {
    Value r = rows.r;
    if (auto decay = dyn_cast<DecayOp>(rowOp)) {
      int64_t dv = widthOf(decay.getState());
      std::optional<DecayAxis> axis = decay.getAxis();
      Value factor = !axis ? splat(p.factor, dv)
                     : *axis == DecayAxis::Key ? splat(element(p.lanes, r), dv)
                                               : p.factor;
      Value x = rows.get(decay.getState());
      rows.of[decay.getResult()] = arith::MulFOp::create(b, x, as(factor, x));
    } else if (auto delta = dyn_cast<DeltaOp>(rowOp)) {
      int64_t dv = widthOf(delta.getState());
      Value x = rows.get(delta.getState());
      rows.of[delta.getResult()] = arith::SubFOp::create(
          b, x, as(arith::MulFOp::create(b, splat(element(p.lanes, r), dv), deltaTerm), x));
    } else if (auto write = dyn_cast<WriteOp>(rowOp)) {
      Value x = rows.get(write.getState());
      Value updated = vector::FMAOp::create(
          b, as(splat(element(p.lanes, r), widthOf(write.getState())), x), as(p.row, x), x);
      rows.of[write.getResult()] =
          p.mask ? arith::SelectOp::create(b, p.mask, updated, x).getResult() : updated;
    } else if (auto write = dyn_cast<WriteHadamardOp>(rowOp)) {
      Value x = rows.get(write.getState());
      Value term = arith::MulFOp::create(b, as(p.row, x), as(rows.get(write.getFactor()), x));
      rows.of[write.getResult()] = vector::FMAOp::create(
          b, as(splat(element(p.lanes, r), widthOf(write.getState())), x), term, x);
    } else if (auto select = dyn_cast<SelectOp>(rowOp)) {
      rows.of[select.getResult()] = arith::SelectOp::create(
          b, p.mask, rows.get(select.getTrueState()), rows.get(select.getFalseState()));
    }
  }

  void emitRowPass(RowPass &pass, IRMapping &mapping) {
    if (pass.ops.empty())
      return;
    int64_t rows = rowsOf(pass.ops.front());
    DenseMap<Operation *, Prepared> prepared;
    SmallVector<Operation *> readOps, deltas;
    for (Operation *rowOp : pass.ops) {
      prepared[rowOp] = prepare(rowOp, rows, mapping);
      if (isa<ReadOp, ReadProductOp>(rowOp) && !prepared[rowOp].out)
        readOps.push_back(rowOp);
      if (isa<DeltaOp>(rowOp))
        deltas.push_back(rowOp);
    }
    DenseMap<Operation *, Value> deltaTerms = emitDeltaSums(pass, deltas, prepared, rows);
    llvm::MapVector<Value, Value> destination = destinationsOf(pass);
    SmallVector<Value> zeros;
    for (Operation *read : readOps)
      zeros.push_back(e.zeros(e.vectorOf(readWidth(read))));
    SmallVector<Value> sums = e.forLoopCarry(
        e.index(0), e.index(rows), 1, zeros, [&](Value r, ValueRange accs) {
          Rows rowsAt{*this, r, DenseMap<Value, Value>()};
          SmallVector<Value> next(accs.begin(), accs.end());
          unsigned readIndex = 0;
          for (Operation *rowOp : pass.ops) {
            const Prepared &p = prepared[rowOp];
            if (p.out) { // a transposed read
              Value x = asF32(rowsAt.get(cast<ReadOp>(rowOp).getState()));
              Value dot = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                                      arith::MulFOp::create(b, x, p.row));
              e.store(dot, p.out, {r});
              continue;
            }
            Value read;
            if (auto plain = dyn_cast<ReadOp>(rowOp))
              read = asF32(plain.getBlockStart() ? row(snapshots[plain], r, readWidth(plain))
                                                 : rowsAt.get(plain.getState()));
            else if (auto product = dyn_cast<ReadProductOp>(rowOp))
              read = arith::MulFOp::create(b, asF32(rowsAt.get(product.getFirst())),
                                           asF32(rowsAt.get(product.getSecond())));
            if (!read) {
              applyRowOp(rowOp, p, rowsAt, deltaTerms.lookup(rowOp));
              continue;
            }
            next[readIndex] = vector::FMAOp::create(
                b, splat(element(p.lanes, r), readWidth(rowOp)), read, next[readIndex]);
            ++readIndex;
          }
          for (auto [v, buffer] : destination)
            e.store(rowsAt.of.lookup(v), buffer, {r, e.index(0)});
          return next;
        });
    for (Operation *rowOp : pass.ops)
      if (Value out = prepared[rowOp].out)
        mapping.map(rowOp->getResult(0), e.load(e.vectorOf(rows), out, {e.index(0)}));
    for (auto [read, sum] : llvm::zip(readOps, sums)) {
      Value o = sum;
      if (!isa<VectorType>(read->getResult(0).getType()))
        o = vector::ExtractOp::create(b, o, ArrayRef<int64_t>{0});
      mapping.map(read->getResult(0), o);
    }
    pass.ops.clear();
  }

  /// β·Sᵀk of each delta transition of the pass, from one loop over the rows that recomputes
  /// the states they transform (the pass's decays, writes and selects before them).
  DenseMap<Operation *, Value> emitDeltaSums(RowPass &pass, ArrayRef<Operation *> deltas,
                                             DenseMap<Operation *, Prepared> &prepared,
                                             int64_t rows) {
    DenseMap<Operation *, Value> terms;
    if (deltas.empty())
      return terms;
    SmallVector<Value> inputs, zeros;
    for (Operation *delta : deltas) {
      inputs.push_back(delta->getOperand(0));
      zeros.push_back(e.zeros(e.vectorOf(widthOf(inputs.back()))));
    }
    SmallVector<Operation *> upstream = pass.upstreamOf(inputs);
    SmallVector<Value> sums = e.forLoopCarry(
        e.index(0), e.index(rows), 1, zeros, [&](Value r, ValueRange accs) {
          Rows rowsAt{*this, r, DenseMap<Value, Value>()};
          for (Operation *rowOp : upstream)
            applyRowOp(rowOp, prepared[rowOp], rowsAt);
          SmallVector<Value> next;
          for (auto [delta, input, acc] : llvm::zip(deltas, inputs, accs)) {
            Value k = splat(element(prepared[delta].lanes, r), widthOf(input));
            next.push_back(vector::FMAOp::create(b, k, asF32(rowsAt.get(input)), acc));
          }
          return next;
        });
    for (auto [delta, sum] : llvm::zip(deltas, sums))
      terms[delta] = arith::MulFOp::create(
          b, sum, splat(prepared[delta].factor, widthOf(delta->getOperand(0))));
    return terms;
  }

  /// Where each state value a pass produces goes: into its argument's buffer when it is
  /// yielded once and read by nothing after the pass, and nothing after the pass reads the
  /// argument (rows are independent: a row is loaded before it is stored); into its own
  /// buffer when something after the pass reads it; nowhere when only the pass does.
  llvm::MapVector<Value, Value> destinationsOf(RowPass &pass) {
    RecurrenceOp op = e.op;
    YieldOp yield = op.getYield();
    Operation *passStart = pass.ops.front();
    auto usedAfter = [&](Value v, bool countYield) {
      return llvm::any_of(v.getUsers(), [&](Operation *user) {
        if (user == yield.getOperation())
          return countYield;
        return !llvm::is_contained(pass.ops, user) && !user->isBeforeInBlock(passStart);
      });
    };
    llvm::MapVector<Value, Value> destination; // in pass order: a deterministic kernel
    for (Operation *rowOp : pass.ops) {
      if (rowOp->getNumResults() == 0 || !isa<StateType>(rowOp->getResult(0).getType()))
        continue;
      Value v = rowOp->getResult(0);
      if (!usedAfter(v, /*countYield=*/true))
        continue; // lives in registers only
      if (llvm::count(yield.getStates(), v) == 1 && !usedAfter(v, /*countYield=*/false)) {
        BlockArgument arg = op.getStateArgOf(v);
        // (A block-start read's snapshot of the argument is taken at the token's start.)
        if (!usedAfter(arg, /*countYield=*/true)) {
          destination[v] = buffers[arg];
          storedInPlace.insert(v);
          continue;
        }
      }
      destination[v] = buffers[v];
    }
    return destination;
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
};

} // namespace

void emitSequentialKernel(KernelEmitter &emitter) { SequentialKernel(emitter).emit(); }

} // namespace linrec::cpu
