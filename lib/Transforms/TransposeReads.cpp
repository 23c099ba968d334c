//===- TransposeReads.cpp - transposed reads as plain reads of a copy ----===//
//
// A transposed read S u of a state S (dk x dv) is the plain read (Sᵀ)ᵀ u of its transpose.
// For a kernel without transposed reads, the recurrence carries Sᵀ as one more state: the
// same decays with their axes exchanged and the write with its key and value exchanged,
// starting from the transposed initial state. Its final state is dropped.
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

/// The recurrence with one more state per state read transposed; its transposed reads plain
/// reads of those.
static LogicalResult transposeReads(RecurrenceOp op) {
  Block &body = op.getBodyBlock();
  unsigned numStates = op.getStateArgs().size();
  unsigned numInits = op.getInits().size();
  SmallVector<unsigned> sources; // the states read transposed, in order
  for (Operation &bodyOp : body)
    if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getTransposed()) {
      // The read's state is on the chain of exactly one state argument.
      Value v = read.getState();
      while (!isa<BlockArgument>(v)) {
        Operation *def = v.getDefiningOp();
        if (!isa<DecayOp, DeltaOp, WriteOp>(def))
          return def->emitOpError(kNoTransposedForm);
        v = def->getOperand(0);
      }
      unsigned index = cast<BlockArgument>(v).getArgNumber();
      if (!llvm::is_contained(sources, index))
        sources.push_back(index);
    }
  bool anyInit = llvm::any_of(sources, [&](unsigned s) { return s < numInits; });
  for (unsigned s = 0; s < numStates && anyInit; ++s)
    if (!cast<RankedTensorType>(op.getFinalStates()[s].getType()).hasStaticShape())
      return op.emitOpError("reads a state transposed with dynamic state shapes "
                            "(linrec-transpose-reads needs static ones)");

  // The mirrored states, appended after the others.
  IRMapping transposes;
  Location loc = op.getLoc();
  for (auto [i, source] : llvm::enumerate(sources)) {
    auto type = cast<StateType>(body.getArgument(source).getType());
    Value mirror = body.insertArgument(numStates + i, transposedStateType(type), loc);
    if (failed(mirrorChain(body.getArgument(source), mirror, transposes)))
      return failure();
  }
  for (Operation &bodyOp : llvm::make_early_inc_range(body))
    if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getTransposed()) {
      OpBuilder b(read);
      Value plain = ReadOp::create(b, read.getLoc(), read.getType(),
                                   transposes.lookup(read.getState()), read.getQuery(),
                                   read.getScaleAttr(), IntegerAttr(), UnitAttr());
      read.replaceAllUsesWith(plain);
      read.erase();
    }
  YieldOp yield = op.getYield();
  SmallVector<Value> yielded(yield.getStates());
  for (unsigned source : sources)
    yielded.push_back(transposes.lookup(yield.getStates()[source]));
  SmallVector<Value> outputs(yield.getOutputs());
  OpBuilder yb(yield);
  YieldOp::create(yb, yield.getLoc(), yielded, outputs);
  yield.erase();

  // Initial states: the mirrors start from the transposed inits, and then every state needs
  // one (inits are a prefix): zeros where it had none.
  OpBuilder b(op);
  SmallVector<Value> inits(op.getInits());
  SmallVector<Type> resultTypes(op.getResultTypes());
  if (anyInit) {
    for (unsigned s = numInits; s < numStates; ++s)
      inits.push_back(adjoint::zerosLike(b, loc, op.getFinalStates()[s].getType()));
    for (unsigned source : sources) {
      Type finalType = op.getFinalStates()[source].getType();
      inits.push_back(source < numInits
                          ? adjoint::transposeStates(b, loc, op.getInits()[source])
                          : adjoint::zerosLike(b, loc, adjoint::transposedStatesType(finalType)));
    }
  }
  for (unsigned source : sources)
    resultTypes.push_back(adjoint::transposedStatesType(op.getFinalStates()[source].getType()));
  auto rewritten = RecurrenceOp::create(b, loc, resultTypes, op.getInputs(), op.getParams(),
                                        inits, op.getCuSeqlens());
  rewritten.getBody().takeBody(op.getBody());
  rewritten.setChunkSizeAttr(op.getChunkSizeAttr());
  rewritten.setAlgorithmAttr(op.getAlgorithmAttr());
  rewritten.setDelaysAttr(op.getDelaysAttr());
  rewritten.setHeadsNormEpsAttr(op.getHeadsNormEpsAttr());
  rewritten.setReverse(op.getReverse());
  op->replaceAllUsesWith(rewritten->getResults().take_front(op->getNumResults()));
  op->erase();
  return success();
}

namespace {
struct LinrecTransposeReadsPass
    : linrec::impl::LinrecTransposeReadsBase<LinrecTransposeReadsPass> {
  void runOnOperation() override {
    SmallVector<RecurrenceOp> ops;
    getOperation()->walk([&](RecurrenceOp op) {
      if (hasTransposedRead(op))
        ops.push_back(op);
    });
    for (RecurrenceOp op : ops)
      if (failed(transposeReads(op)))
        return signalPassFailure();
  }
};
} // namespace
