//===- TransposeReads.cpp - transposed reads as plain reads of a copy ----===//
//
// A transposed read S u of a state S (dk x dv) is the plain read (Sᵀ)ᵀ u of its transpose.
// A state read only transposed is carried transposed: its decays with their axes exchanged,
// its write with key and value exchanged, from the transposed initial state, its final state
// transposed back after the recurrence. A state read both ways gets Sᵀ as one more state (for
// kernels without transposed reads, the GPU's), whose final state is dropped.
//
//===----------------------------------------------------------------------===//

#include "AdjointTensors.h"

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECTRANSPOSEREADS
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

static bool hasTransposedRead(RecurrenceOp op) {
  return llvm::any_of(op.getBodyBlock(), [](Operation &bodyOp) {
    auto read = dyn_cast<ReadOp>(bodyOp);
    return read && read.getTransposed();
  });
}

/// What a state op without a transposed form says; the GPU's derived backward has none.
static constexpr StringLiteral kNoTransposedForm =
    "on a state read transposed: only decays and plain writes have a transposed form "
    "(linrec-transpose-reads; a derived backward for a GPU target: "
    "linrec-build-backward{transposed-reads=0})";

static StateType transposedStateType(StateType type) {
  return StateType::get(type.getContext(), {type.getValueDim(), type.getKeyDim()},
                        type.getElementType());
}

/// How the chain of state ops from a state argument is used: whether anything but a
/// transposed read reads it (plain and product reads), and whether every op on it has a
/// transposed form (decays and unmasked writes, no fork).
struct ChainUse {
  bool readPlainly = false;
  bool transposable = true;
};
static ChainUse inspectChain(Value state) {
  ChainUse use;
  while (true) {
    Operation *next = nullptr;
    for (Operation *user : state.getUsers()) {
      if (auto read = dyn_cast<ReadOp>(user)) {
        use.readPlainly |= !read.getTransposed();
        continue;
      }
      if (isa<YieldOp>(user))
        continue;
      if (isa<ReadProductOp>(user)) {
        use.readPlainly = true;
        continue;
      }
      if (next && next != user) {
        use.transposable = false; // a fork
        return use;
      }
      next = user;
    }
    if (!next)
      return use;
    auto write = dyn_cast<WriteOp>(next);
    if (!isa<DecayOp>(next) && !(write && !write.getMask())) {
      use.transposable = false;
      return use;
    }
    state = next->getResult(0);
  }
}

/// Rewrites the chain from `state` (a state argument read only transposed, transposable) in
/// place into the chain of its transpose: decay axes and write operands exchanged, the
/// transposed reads plain ones.
static void carryTransposed(BlockArgument state) {
  Type type = transposedStateType(cast<StateType>(state.getType()));
  Value current = state;
  current.setType(type);
  while (current) {
    Value following;
    for (Operation *user : llvm::make_early_inc_range(current.getUsers())) {
      if (auto read = dyn_cast<ReadOp>(user)) {
        OpBuilder b(read);
        Value plain = ReadOp::create(b, read.getLoc(), read.getType(), current, read.getQuery(),
                                     read.getScaleAttr(), IntegerAttr(), UnitAttr());
        read.replaceAllUsesWith(plain);
        read.erase();
        continue;
      }
      if (auto decay = dyn_cast<DecayOp>(user)) {
        if (std::optional<DecayAxis> axis = decay.getAxis())
          decay.setAxisAttr(DecayAxisAttr::get(
              decay.getContext(), *axis == DecayAxis::Key ? DecayAxis::Value : DecayAxis::Key));
        following = decay.getResult();
      } else if (auto write = dyn_cast<WriteOp>(user)) {
        Value key = write.getKey(), value = write.getValue();
        write.getKeyMutable().assign(value);
        write.getValueMutable().assign(key);
        following = write.getResult();
      }
    }
    if (following)
      following.setType(type);
    current = following;
  }
}

/// Mirrors the chain of state ops from `state` (a state argument) onto `mirror`, its
/// transpose, right after each op; maps every state value of the chain to its transpose.
static LogicalResult mirrorChain(Value state, Value mirror, IRMapping &transposes) {
  transposes.map(state, mirror);
  while (true) {
    SmallVector<Operation *> users;
    for (Operation *user : state.getUsers())
      if (!isa<ReadOp, YieldOp>(user) && !llvm::is_contained(users, user))
        users.push_back(user);
    if (users.empty())
      return success();
    Operation *next = users.front();
    if (users.size() > 1)
      return next->emitOpError("on a state read transposed whose chain forks "
                               "(linrec-transpose-reads)");
    OpBuilder b(next->getContext());
    b.setInsertionPointAfter(next);
    Location loc = next->getLoc();
    Type type = mirror.getType();
    if (auto decay = dyn_cast<DecayOp>(next)) {
      std::optional<DecayAxis> axis = decay.getAxis();
      DecayAxisAttr exchanged;
      if (axis)
        exchanged = DecayAxisAttr::get(
            b.getContext(), *axis == DecayAxis::Key ? DecayAxis::Value : DecayAxis::Key);
      mirror = DecayOp::create(b, loc, type, mirror, decay.getLogDecay(), exchanged);
    } else if (auto write = dyn_cast<WriteOp>(next); write && !write.getMask()) {
      mirror = WriteOp::create(b, loc, type, mirror, write.getValue(), write.getKey(),
                               write.getBeta(), Value());
    } else {
      return next->emitOpError(kNoTransposedForm);
    }
    state = next->getResult(0);
    transposes.map(state, mirror);
  }
}

/// The states `op` reads transposed, by state argument, in order. Without `mirror`, states
/// whose reads are not on a plain chain of decays, delta transitions and writes are skipped;
/// with it, they are an error.
static FailureOr<SmallVector<unsigned>> transposedSources(RecurrenceOp op, bool mirror) {
  SmallVector<unsigned> sources;
  for (Operation &bodyOp : op.getBodyBlock()) {
    auto read = dyn_cast<ReadOp>(bodyOp);
    if (!read || !read.getTransposed())
      continue;
    // The read's state is on the chain of exactly one state argument.
    Value v = read.getState();
    while (v && !isa<BlockArgument>(v)) {
      Operation *def = v.getDefiningOp();
      if (!isa<DecayOp, DeltaOp, WriteOp>(def)) {
        if (mirror)
          return def->emitOpError(kNoTransposedForm);
        v = Value();
        break;
      }
      v = def->getOperand(0);
    }
    if (!v)
      continue;
    unsigned index = cast<BlockArgument>(v).getArgNumber();
    if (!llvm::is_contained(sources, index))
      sources.push_back(index);
  }
  return sources;
}

/// The recurrence with its states read transposed rewritten: a state read only transposed
/// (and transposable) carried transposed; with `mirror`, any other gets a transposed copy,
/// one more state; without, it keeps its transposed reads (the CPU's kernels read both ways).
static LogicalResult transposeReads(RecurrenceOp op, bool mirror) {
  Block &body = op.getBodyBlock();
  unsigned numStates = op.getStateArgs().size();
  unsigned numInits = op.getInits().size();
  FailureOr<SmallVector<unsigned>> sources = transposedSources(op, mirror);
  if (failed(sources))
    return failure();
  SmallVector<unsigned> carried, mirrored;
  for (unsigned source : *sources) {
    ChainUse use = inspectChain(body.getArgument(source));
    if (use.transposable && !use.readPlainly)
      carried.push_back(source);
    else if (mirror)
      mirrored.push_back(source);
  }
  if (carried.empty() && mirrored.empty())
    return success();
  bool anyInit = llvm::any_of(mirrored, [&](unsigned s) { return s < numInits; });
  for (unsigned s = 0; s < numStates && anyInit; ++s)
    if (!cast<RankedTensorType>(op.getFinalStates()[s].getType()).hasStaticShape())
      return op.emitOpError("reads a state transposed with dynamic state shapes "
                            "(linrec-transpose-reads needs static ones)");

  // The mirrored states, appended after the others (first: a chain without a transposed form
  // fails before the carried states change).
  IRMapping transposes;
  Location loc = op.getLoc();
  for (auto [i, source] : llvm::enumerate(mirrored)) {
    auto type = cast<StateType>(body.getArgument(source).getType());
    Value mirror = body.insertArgument(numStates + i, transposedStateType(type), loc);
    if (failed(mirrorChain(body.getArgument(source), mirror, transposes)))
      return failure();
  }
  for (unsigned source : carried)
    carryTransposed(body.getArgument(source));
  for (Operation &bodyOp : llvm::make_early_inc_range(body))
    if (auto read = dyn_cast<ReadOp>(bodyOp);
        read && read.getTransposed() && transposes.contains(read.getState())) {
      OpBuilder b(read);
      Value plain = ReadOp::create(b, read.getLoc(), read.getType(),
                                   transposes.lookup(read.getState()), read.getQuery(),
                                   read.getScaleAttr(), IntegerAttr(), UnitAttr());
      read.replaceAllUsesWith(plain);
      read.erase();
    }
  YieldOp yield = op.getYield();
  SmallVector<Value> yielded(yield.getStates());
  for (unsigned source : mirrored)
    yielded.push_back(transposes.lookup(yield.getStates()[source]));
  SmallVector<Value> outputs(yield.getOutputs());
  OpBuilder yb(yield);
  YieldOp::create(yb, yield.getLoc(), yielded, outputs);
  yield.erase();

  // Initial states: a carried state starts from its transposed init; the mirrors from the
  // transposed inits, and then every state needs one (inits are a prefix): zeros where it
  // had none.
  OpBuilder b(op);
  SmallVector<Value> inits(op.getInits());
  for (unsigned source : carried)
    if (source < numInits)
      inits[source] = adjoint::transposeStates(b, loc, inits[source]);
  SmallVector<Type> resultTypes(op.getResultTypes());
  unsigned firstFinal = op.getNumResults() - numStates;
  for (unsigned source : carried)
    resultTypes[firstFinal + source] =
        adjoint::transposedStatesType(op.getFinalStates()[source].getType());
  if (anyInit) {
    for (unsigned s = numInits; s < numStates; ++s)
      inits.push_back(adjoint::zerosLike(b, loc, resultTypes[firstFinal + s]));
    for (unsigned source : mirrored) {
      Type finalType = op.getFinalStates()[source].getType();
      inits.push_back(source < numInits
                          ? adjoint::transposeStates(b, loc, op.getInits()[source])
                          : adjoint::zerosLike(b, loc, adjoint::transposedStatesType(finalType)));
    }
  }
  for (unsigned source : mirrored)
    resultTypes.push_back(adjoint::transposedStatesType(op.getFinalStates()[source].getType()));
  auto rewritten = RecurrenceOp::create(b, loc, resultTypes, op.getInputs(), op.getParams(),
                                        inits, op.getCuSeqlens(),
                                        op.getStateIndices());
  rewritten.getBody().takeBody(op.getBody());
  rewritten.setChunkSizeAttr(op.getChunkSizeAttr());
  rewritten.setAlgorithmAttr(op.getAlgorithmAttr());
  rewritten.setDelaysAttr(op.getDelaysAttr());
  rewritten.setHeadsNormEpsAttr(op.getHeadsNormEpsAttr());
  rewritten.setReverse(op.getReverse());
  SmallVector<Value> replacements(rewritten->getResults().take_front(op->getNumResults()));
  b.setInsertionPointAfter(rewritten);
  for (unsigned source : carried)
    if (!op->getResult(firstFinal + source).use_empty())
      replacements[firstFinal + source] =
          adjoint::transposeStates(b, loc, replacements[firstFinal + source]);
  op->replaceAllUsesWith(replacements);
  op->erase();
  return success();
}

namespace {
struct LinrecTransposeReadsPass
    : linrec::impl::LinrecTransposeReadsBase<LinrecTransposeReadsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<RecurrenceOp> ops;
    getOperation()->walk([&](RecurrenceOp op) {
      if (hasTransposedRead(op))
        ops.push_back(op);
    });
    for (RecurrenceOp op : ops)
      if (failed(transposeReads(op, mirror)))
        return signalPassFailure();
  }
};
} // namespace
