//===- LinrecOps.cpp - the generic recurrence op --------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "ShapeChecks.h"
#include "linrec/Dialect/Limits.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace linrec;
using linrec::detail::checkTensorShape;
using linrec::detail::NamedDim;
using linrec::detail::unifyDim;

#include "linrec/Dialect/LinrecInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "linrec/Dialect/LinrecOps.cpp.inc"

void RecurrenceOp::build(OpBuilder &builder, OperationState &state, TypeRange resultTypes,
                         ValueRange inputs, ValueRange params, ValueRange inits,
                         Value cuSeqlens, Value stateIndices) {
  state.addOperands(inputs);
  state.addOperands(params);
  state.addOperands(inits);
  if (cuSeqlens)
    state.addOperands(cuSeqlens);
  if (stateIndices)
    state.addOperands(stateIndices);
  state.getOrAddProperties<Properties>().operandSegmentSizes = {
      static_cast<int32_t>(inputs.size()), static_cast<int32_t>(params.size()),
      static_cast<int32_t>(inits.size()), cuSeqlens ? 1 : 0, stateIndices ? 1 : 0};
  state.addTypes(resultTypes);
  state.addRegion();
}

int64_t RecurrenceOp::getInputDelay(unsigned i) {
  std::optional<ArrayRef<int64_t>> delays = getDelays();
  return delays && i < delays->size() ? (*delays)[i] : 0;
}

BlockArgument RecurrenceOp::getStateArgOf(Value yielded) {
  auto states = getYield().getStates();
  auto it = llvm::find(states, yielded);
  assert(it != states.end() && "not a yielded state");
  return getStateArgs()[std::distance(states.begin(), it)];
}

YieldOp RecurrenceOp::getYield() { return cast<YieldOp>(getBodyBlock().getTerminator()); }
unsigned RecurrenceOp::getNumStates() { return getYield().getStates().size(); }
unsigned RecurrenceOp::getNumOutputs() { return getYield().getOutputs().size(); }
ResultRange RecurrenceOp::getOutputs() { return getResults().take_front(getNumOutputs()); }
ResultRange RecurrenceOp::getFinalStates() { return getResults().drop_front(getNumOutputs()); }
Block::BlockArgListType RecurrenceOp::getStateArgs() {
  return getBodyBlock().getArguments().take_front(getNumStates());
}
Block::BlockArgListType RecurrenceOp::getInputArgs() {
  return getBodyBlock().getArguments().slice(getNumStates(), getInputs().size());
}
Block::BlockArgListType RecurrenceOp::getParamArgs() {
  return getBodyBlock().getArguments().take_back(getParams().size());
}

/// The body-argument type a per-token or per-head tensor slice has: the trailing dims after
/// `leadingDims` as an f32 vector, or f32 when none are left.
static Type getSliceType(RankedTensorType type, unsigned leadingDims) {
  Type f32 = Float32Type::get(type.getContext());
  ArrayRef<int64_t> trailing = type.getShape().drop_front(leadingDims);
  if (trailing.empty())
    return f32;
  return VectorType::get(trailing, f32);
}

/// The states `state` is computed from: one for decay/delta/write, two for a select, none
/// for a block argument or anything else.
static SmallVector<Value, 2> stateOperands(Value state) {
  Operation *def = state.getDefiningOp();
  if (!def)
    return {};
  if (auto decay = dyn_cast<DecayOp>(def))
    return {decay.getState()};
  if (auto delta = dyn_cast<DeltaOp>(def))
    return {delta.getState()};
  if (auto write = dyn_cast<WriteOp>(def))
    return {write.getState()};
  if (auto write = dyn_cast<WriteHadamardOp>(def))
    return {write.getState()};
  if (auto select = dyn_cast<SelectOp>(def))
    return {select.getTrueState(), select.getFalseState()};
  return {};
}

/// Follows a state value back through decay/delta/write/select to the block argument it
/// derives from. Returns null if it derives from none, or from several (a select mixing two
/// chains), or from itself (a chain that uses its own result: the verifier runs before
/// dominance is checked). Each value is traced once (`roots`), so chained selects cost
/// linear time, not 2^depth, and with an explicit stack, so a long chain cannot overflow
/// the call stack.
static BlockArgument traceStateRoot(Value state, DenseMap<Value, BlockArgument> &roots) {
  DenseSet<Value> open; // expanded, its operands not all traced yet
  SmallVector<Value> stack{state};
  while (!stack.empty()) {
    Value value = stack.back();
    if (roots.count(value)) {
      stack.pop_back();
      continue;
    }
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      roots[value] = arg;
      stack.pop_back();
      continue;
    }
    SmallVector<Value, 2> operands = stateOperands(value);
    if (open.insert(value).second) { // first visit: trace the operands first
      for (Value operand : operands)
        if (!roots.count(operand) && !open.contains(operand))
          stack.push_back(operand);
      continue;
    }
    // Second visit: every operand is traced, or open (a cycle: no root).
    BlockArgument root;
    for (auto [i, operand] : llvm::enumerate(operands)) {
      BlockArgument operandRoot = roots.lookup(operand);
      root = i == 0 ? operandRoot : (root == operandRoot ? root : BlockArgument());
    }
    roots[value] = root;
    open.erase(value);
    stack.pop_back();
  }
  return roots.lookup(state);
}

static BlockArgument traceStateRoot(Value state) {
  DenseMap<Value, BlockArgument> roots;
  return traceStateRoot(state, roots);
}

/// Whether `use` is a Hadamard write's factor: it reads the state, like a read.
static bool isHadamardFactor(OpOperand &use) {
  auto write = dyn_cast<WriteHadamardOp>(use.getOwner());
  return write && &use == &write.getFactorMutable();
}

/// Whether `state` is this token's state before its delta transition and write: only those
/// (at least one) lead from it to `yielded`, and it is not itself their result.
static bool isStateBeforeWrite(Value state, Value yielded) {
  if (state.getDefiningOp<DeltaOp>() || state.getDefiningOp<WriteOp>())
    return false;
  bool updated = false;
  while (state != yielded) {
    Operation *next = nullptr;
    for (OpOperand &use : state.getUses()) {
      Operation *user = use.getOwner();
      if (isa<ReadOp, ReadProductOp, YieldOp>(user) || isHadamardFactor(use))
        continue;
      if (next && next != user)
        return false;
      next = user;
    }
    if (!next || !isa<DeltaOp, WriteOp>(next) || next->getOperand(0) != state)
      return false;
    updated = true;
    state = next->getResult(0);
  }
  return updated;
}

static bool isAllowedInBody(Operation &op) {
  StringRef ns = op.getDialect() ? op.getDialect()->getNamespace() : "";
  if (ns == "arith" || ns == "math")
    return op.getNumRegions() == 0;
  // Broadcasts and reductions over the head dim: per-token norms (RMSNorm) and gates of the
  // output are written in the body, where the kernels fuse them into their stores.
  // Shuffles concatenate features (the expanded Hedgehog map).
  if (isa<vector::BroadcastOp, vector::ReductionOp, vector::ShuffleOp>(op))
    return true;
  // A one-element vector's element: what the canonicalizer makes of a reduction over a head
  // dim of 1 (dk = 1 or dv = 1).
  if (auto extract = dyn_cast<vector::ExtractOp>(op))
    return extract.getSourceVectorType().getNumElements() == 1 &&
           !isa<VectorType>(extract.getResult().getType());
  return isa<DecayOp, DeltaOp, WriteOp, WriteHadamardOp, ReadOp, ReadProductOp, WindowReadOp,
             ProjectOp, SelectOp, FeatureMapOp, HedgehogMapOp, PolynomialMapOp, L2NormOp,
             YieldOp>(op);
}

namespace {
/// The B, T, H (and N, the number of state rows) shared by all operands of a recurrence.
struct ProblemDims {
  int64_t batch = ShapedType::kDynamic;
  int64_t tokens = ShapedType::kDynamic;
  int64_t heads = ShapedType::kDynamic;
};
} // namespace

LogicalResult RecurrenceOp::verifyRegions() {
  Block &body = getBodyBlock();
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("body must end with linrec.yield");
  unsigned numStates = yield.getStates().size();
  if (numStates == 0)
    return emitOpError("body must yield at least one state");
  unsigned expectedArgs = numStates + getInputs().size() + getParams().size();
  if (body.getNumArguments() != expectedArgs)
    return emitOpError() << "body has " << body.getNumArguments() << " arguments, expected "
                         << expectedArgs << " (" << numStates << " states, "
                         << getInputs().size() << " inputs, " << getParams().size()
                         << " params)";
  if (std::optional<ArrayRef<int64_t>> delays = getDelays()) {
    if (delays->size() != getInputs().size())
      return emitOpError() << "has " << delays->size() << " delays for "
                           << getInputs().size() << " inputs";
    if (llvm::any_of(*delays, [](int64_t d) { return d < 0; }))
      return emitOpError("delays must not be negative");
  }
  if (getReverse()) {
    for (Operation &op : body)
      if (isa<WindowReadOp>(op))
        return op.emitOpError("is defined for forward recurrences only, not in a reverse one");
    if (getHeadsNormEps())
      return emitOpError("heads_norm_eps is for forward recurrences only");
  }
  if (std::optional<APFloat> eps = getHeadsNormEps()) {
    if (yield.getOutputs().empty() || !isa<VectorType>(yield.getOutputs()[0].getType()))
      return emitOpError("heads_norm_eps normalizes output #0, which must be a [B, T, H, D] "
                         "tensor of vectors");
    if (eps->convertToDouble() < 0)
      return emitOpError("heads_norm_eps must be >= 0");
  }

  // States: block argument types, the yielded types, and each chain's root.
  for (unsigned i = 0; i < numStates; ++i) {
    auto stateType = dyn_cast<StateType>(body.getArgument(i).getType());
    if (!stateType)
      return emitOpError() << "body argument #" << i
                           << " must be a !linrec.state (the body yields " << numStates
                           << " states)";
    Value yielded = yield.getStates()[i];
    if (yielded.getType() != stateType)
      return yield.emitOpError() << "state #" << i << " has type " << yielded.getType()
                                 << " but the body argument has type " << stateType;
    if (traceStateRoot(yielded) != body.getArgument(i))
      return yield.emitOpError() << "state #" << i
                                 << " does not derive from body argument #" << i;
  }

  // Per-token inputs: [B, T, H] or [B, T, H, D], all with the same B, T, H.
  if (getInputs().empty())
    return emitOpError("needs at least one per-token input (they define B, T and H)");
  ProblemDims dims;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    auto type = cast<RankedTensorType>(input.getType());
    if (type.getRank() != 3 && type.getRank() != 4)
      return emitOpError() << "input #" << i << " must be [B, T, H] or [B, T, H, D], got "
                           << type;
    if (!isa<FloatType>(type.getElementType()))
      return emitOpError() << "input #" << i << " must have a float element type, got "
                           << type.getElementType();
    if (type.getRank() == 4 && type.isDynamicDim(3))
      return emitOpError() << "input #" << i << " must have a static head dim, got " << type;
    if (std::optional<std::string> why =
            limits::checkDims({"B", "T", "H", "D"}, type.getShape()))
      return emitOpError() << "input #" << i << " " << type << ": " << *why
                           << " (include/linrec/Dialect/Limits.h)";
    const char *names[] = {"B", "T", "H"};
    int64_t *known[] = {&dims.batch, &dims.tokens, &dims.heads};
    for (unsigned d = 0; d < 3; ++d)
      if (!unifyDim(*known[d], type.getDimSize(d)))
        return emitOpError() << "input #" << i << " has " << names[d] << " = "
                             << type.getDimSize(d) << " but an earlier input has "
                             << names[d] << " = " << *known[d];
    Type expected = getSliceType(type, 3);
    if (getInputArgs()[i].getType() != expected)
      return emitOpError() << "body argument for input #" << i << " must be " << expected
                           << ", got " << getInputArgs()[i].getType();
  }
  if (getCuSeqlens() && !unifyDim(dims.batch, 1))
    return emitOpError() << "with cu_seqlens the inputs are packed as [1, total_T, H, D], "
                         << "got B = " << dims.batch;

  // Per-head params: [H, ...].
  for (auto [i, param] : llvm::enumerate(getParams())) {
    auto type = cast<RankedTensorType>(param.getType());
    if (llvm::any_of(type.getShape().drop_front(), ShapedType::isDynamic))
      return emitOpError() << "param #" << i << " must have static trailing dims, got "
                           << type;
    if (type.getRank() < 1 || !unifyDim(dims.heads, type.getDimSize(0)))
      return emitOpError() << "param #" << i << " must be [H, ...] with H = " << dims.heads
                           << ", got " << type;
    if (!isa<FloatType>(type.getElementType()))
      return emitOpError() << "param #" << i << " must have a float element type";
    Type expected = getSliceType(type, 1);
    if (getParamArgs()[i].getType() != expected)
      return emitOpError() << "body argument for param #" << i << " must be " << expected
                           << ", got " << getParamArgs()[i].getType();
    // A per-head matrix is a projection's weight: the kernels read it in place.
    if (type.getRank() > 3)
      return emitOpError() << "param #" << i << " must be [H], [H, D] or [H, D, F], got "
                           << type;
    if (type.getRank() == 3)
      for (OpOperand &use : getParamArgs()[i].getUses())
        if (!isa<ProjectOp>(use.getOwner()) || use.getOperandNumber() != 1)
          return emitOpError() << "param #" << i
                               << " is a per-head matrix: only linrec.project may use it, "
                                  "as its weight";
  }

  // The rows of a state tensor: B, or the number of sequences with cu_seqlens.
  int64_t stateRows = dims.batch;
  if (auto cu = getCuSeqlens()) {
    int64_t offsets = cast<RankedTensorType>(cu.getType()).getDimSize(0);
    stateRows = ShapedType::isDynamic(offsets) ? offsets : offsets - 1;
  }
  // With state_indices the states are pools of P slots, one index per state row.
  int64_t poolSlots = ShapedType::kDynamic;
  if (auto indices = getStateIndices()) {
    if (getInits().size() != numStates)
      return emitOpError() << "with state_indices every state needs an initial state (its "
                              "pool): got "
                           << getInits().size() << " for " << numStates << " states";
    int64_t n = cast<RankedTensorType>(indices.getType()).getDimSize(0);
    if (!unifyDim(stateRows, n))
      return emitOpError() << "needs one state index per sequence (" << stateRows
                           << "), got " << n;
    for (Value init : getInits())
      unifyDim(poolSlots, cast<RankedTensorType>(init.getType()).getDimSize(0));
  }
  auto stateDims = [&](StateType state) {
    SmallVector<NamedDim> d = {getStateIndices() ? NamedDim{"P", poolSlots}
                                                 : NamedDim{getCuSeqlens() ? "N" : "B", stateRows},
                               {"H", dims.heads}};
    d.push_back({"dk", state.getKeyDim()});
    if (state.isMatrix())
      d.push_back({"dv", state.getValueDim()});
    return d;
  };

  if (getInits().size() > numStates)
    return emitOpError() << "has " << getInits().size() << " initial states for "
                         << numStates << " states";
  for (auto [i, init] : llvm::enumerate(getInits())) {
    auto state = cast<StateType>(body.getArgument(i).getType());
    if (failed(checkTensorShape(*this, "init #" + Twine(i), init.getType(), stateDims(state))))
      return failure();
  }

  // Results: one tensor per yielded output, then the final states.
  unsigned numOutputs = yield.getOutputs().size();
  if (getNumResults() != numOutputs + numStates)
    return emitOpError() << "has " << getNumResults() << " results, expected " << numOutputs
                         << " outputs and " << numStates << " final states";
  for (auto [i, out] : llvm::enumerate(yield.getOutputs())) {
    SmallVector<NamedDim> d = {{"B", dims.batch}, {"T", dims.tokens}, {"H", dims.heads}};
    if (auto vec = dyn_cast<VectorType>(out.getType()))
      d.push_back({"D", vec.getDimSize(0)});
    if (failed(checkTensorShape(*this, "output #" + Twine(i), getResult(i).getType(), d)))
      return failure();
  }
  for (unsigned i = 0; i < numStates; ++i) {
    auto state = cast<StateType>(body.getArgument(i).getType());
    if (failed(checkTensorShape(*this, "final state #" + Twine(i),
                                getResult(numOutputs + i).getType(), stateDims(state))))
      return failure();
  }

  // The body: only per-token arithmetic and state ops, and reads of the updated state.
  for (Operation &op : body) {
    if (!isAllowedInBody(op))
      return op.emitOpError("is not allowed in a linrec.recurrence body (allowed: linrec "
                            "state and feature ops, arith, math, vector.broadcast, "
                            "vector.reduction, vector.shuffle, vector.extract of a "
                            "one-element vector)");
    SmallVector<Value, 2> readStates;
    if (auto read = dyn_cast<ReadOp>(op))
      readStates = {read.getState()};
    else if (auto product = dyn_cast<ReadProductOp>(op))
      readStates = {product.getFirst(), product.getSecond()};
    auto read = dyn_cast<ReadOp>(op);
    bool mayReadBeforeWrite = read && !read.getBlockStart();
    for (Value state : readStates) {
      BlockArgument root = traceStateRoot(state);
      if (!root)
        return op.emitOpError("reads a state that derives from no single state argument");
      Value yielded = yield.getStates()[root.getArgNumber()];
      if (state != yielded && !(mayReadBeforeWrite && isStateBeforeWrite(state, yielded)))
        return op.emitOpError()
               << "reads state #" << root.getArgNumber()
               << " in the middle of its update in this step; a read sees S_t, the state "
                  "after this token's update (the value that linrec.yield returns)"
               << (mayReadBeforeWrite ? ", or S'_t, the state after its decays that its "
                                        "delta transition or write takes"
                                      : "");
    }
  }
  return success();
}
