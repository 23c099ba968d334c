//===- LinrecBodyOps.cpp - verifiers of the ops inside a recurrence body --===//

#include "linrec/Dialect/LinrecOps.h"

using namespace mlir;
using namespace linrec;

/// The size of a rank-1 vector, or 0 for a scalar.
static int64_t vectorSize(Type type) {
  auto vec = dyn_cast<VectorType>(type);
  return vec ? vec.getDimSize(0) : 0;
}

LogicalResult DecayOp::verify() {
  StateType state = getState().getType();
  int64_t size = vectorSize(getLogDecay().getType());
  std::optional<DecayAxis> axis = getAxis();
  if (size == 0) {
    if (axis)
      return emitOpError("a scalar log-decay scales the whole state and takes no axis");
    return success();
  }
  if (!axis)
    return emitOpError("a vector log-decay needs an axis: `along <key>` (diag(e^g) S) or "
                       "`along <value>` (S diag(e^g))");
  if (*axis == DecayAxis::Key && size != state.getKeyDim())
    return emitOpError() << "key log-decay has " << size << " elements but the state has dk = "
                         << state.getKeyDim();
  if (*axis == DecayAxis::Value) {
    if (!state.isMatrix())
      return emitOpError("a normalizer state has no value dim to decay");
    if (size != state.getValueDim())
      return emitOpError() << "value log-decay has " << size
                           << " elements but the state has dv = " << state.getValueDim();
  }
  return success();
}

LogicalResult DeltaOp::verify() {
  StateType state = getState().getType();
  if (!state.isMatrix())
    return emitOpError("the delta rule applies to a dk x dv matrix state");
  if (vectorSize(getKey().getType()) != state.getKeyDim())
    return emitOpError() << "key has " << vectorSize(getKey().getType())
                         << " elements but the state has dk = " << state.getKeyDim();
  return success();
}

LogicalResult WriteOp::verify() {
  StateType state = getState().getType();
  if (vectorSize(getKey().getType()) != state.getKeyDim())
    return emitOpError() << "key has " << vectorSize(getKey().getType())
                         << " elements but the state has dk = " << state.getKeyDim();
  if (state.isMatrix() && !getValue())
    return emitOpError("a write to a matrix state needs a value vector (S + k vᵀ)");
  if (!state.isMatrix() && getValue())
    return emitOpError("a write to a normalizer state takes no value vector (z + k)");
  if (getValue() && vectorSize(getValue().getType()) != state.getValueDim())
    return emitOpError() << "value has " << vectorSize(getValue().getType())
                         << " elements but the state has dv = " << state.getValueDim();
  return success();
}

LogicalResult WriteHadamardOp::verify() {
  StateType state = getState().getType();
  if (vectorSize(getKey().getType()) != state.getKeyDim())
    return emitOpError() << "key has " << vectorSize(getKey().getType())
                         << " elements but the state has dk = " << state.getKeyDim();
  if (state.isMatrix() != static_cast<bool>(getValue()))
    return emitOpError(state.isMatrix()
                           ? "a Hadamard write to a matrix state needs a value vector"
                           : "a Hadamard write to a normalizer state takes no value vector");
  if (getValue() && vectorSize(getValue().getType()) != state.getValueDim())
    return emitOpError() << "value has " << vectorSize(getValue().getType())
                         << " elements but the state has dv = " << state.getValueDim();
  if (getFactor().getType().getShape() != state.getShape())
    return emitOpError() << "factor " << getFactor().getType()
                         << " has another shape than the state " << state;
  auto factor = dyn_cast<BlockArgument>(getFactor());
  auto recurrence = (*this)->getParentOfType<RecurrenceOp>();
  if (!factor || !recurrence || factor.getOwner() != &recurrence.getBodyBlock() ||
      factor.getArgNumber() >= recurrence.getNumStates())
    return emitOpError("factor must be a state argument of the enclosing linrec.recurrence "
                       "(the state as the previous step left it)");
  return success();
}

bool ReadOp::seesStateBeforeWrite() {
  Block *block = (*this)->getBlock();
  if (!block || block->empty())
    return false;
  auto yield = dyn_cast<YieldOp>(block->back());
  return yield && !llvm::is_contained(yield.getStates(), getState());
}

LogicalResult ReadOp::verify() {
  StateType state = getState().getType();
  if (getTransposed())
    return verifyTransposed();
  if (vectorSize(getQuery().getType()) != state.getKeyDim())
    return emitOpError() << "query has " << vectorSize(getQuery().getType())
                         << " elements but the state has dk = " << state.getKeyDim();
  int64_t resultSize = vectorSize(getResult().getType());
  if (state.isMatrix() && resultSize != state.getValueDim())
    return emitOpError() << "reading a " << state.getKeyDim() << "x" << state.getValueDim()
                         << " state gives vector<" << state.getValueDim() << "xf32>, not "
                         << getResult().getType();
  if (!state.isMatrix() && resultSize != 0)
    return emitOpError("reading a normalizer state gives an f32");
  if (std::optional<int64_t> block = getBlockStart(); block && *block < 1)
    return emitOpError() << "block_start must be at least 1, got " << *block;
  return success();
}

LogicalResult ReadOp::verifyTransposed() {
  StateType state = getState().getType();
  if (!state.isMatrix())
    return emitOpError("transposed reads a matrix state only");
  if (getBlockStart())
    return emitOpError("a transposed read takes no block_start");
  if (vectorSize(getQuery().getType()) != state.getValueDim())
    return emitOpError() << "transposed query has " << vectorSize(getQuery().getType())
                         << " elements but the state has dv = " << state.getValueDim();
  if (vectorSize(getResult().getType()) != state.getKeyDim())
    return emitOpError() << "reading a " << state.getKeyDim() << "x" << state.getValueDim()
                         << " state transposed gives vector<" << state.getKeyDim()
                         << "xf32>, not " << getResult().getType();
  return success();
}

LogicalResult ReadProductOp::verify() {
  StateType state = getFirst().getType();
  if (vectorSize(getQuery().getType()) != state.getKeyDim())
    return emitOpError() << "query has " << vectorSize(getQuery().getType())
                         << " elements but the states have " << state.getKeyDim() << " rows";
  int64_t expected = state.isMatrix() ? state.getValueDim() : 0;
  if (vectorSize(getResult().getType()) != expected)
    return emitOpError() << "reading " << (state.isMatrix() ? "matrix" : "normalizer")
                         << " states gives "
                         << (state.isMatrix() ? "vector<" + std::to_string(expected) + "xf32>"
                                              : std::string("an f32"));
  return success();
}

LogicalResult ProjectOp::verify() {
  // The kernels read the weight from the param's memory: it must be a param argument.
  auto recurrence = (*this)->getParentOfType<RecurrenceOp>();
  auto arg = dyn_cast<BlockArgument>(getWeight());
  if (!recurrence || !arg || arg.getOwner() != &recurrence.getBody().front() ||
      arg.getArgNumber() + recurrence.getParams().size() < arg.getOwner()->getNumArguments())
    return emitOpError("weight must be the body argument of a [H, D, F] param of the "
                       "enclosing linrec.recurrence");
  ArrayRef<int64_t> weight = getWeight().getType().getShape();
  if (vectorSize(getInput().getType()) != weight[0])
    return emitOpError() << "input has " << vectorSize(getInput().getType())
                         << " elements but the weight has " << weight[0] << " rows";
  if (vectorSize(getResult().getType()) != weight[1])
    return emitOpError() << "result has " << vectorSize(getResult().getType())
                         << " elements but the weight has " << weight[1] << " columns";
  return success();
}

LogicalResult WindowReadOp::verify() {
  if (getSize() < 1)
    return emitOpError() << "window size must be at least 1, got " << getSize();
  bool shifted = getWeighting() == WindowWeighting::ShiftedExp;
  if (shifted != static_cast<bool>(getDenominator()))
    return emitOpError() << (shifted ? "with <shifted_exp> weights also returns the denominator"
                                     : "returns a denominator only with <shifted_exp> weights");
  return success();
}

/// Σ_{p <= degree} d^p, or -1 past int64.
static int64_t polynomialFeatures(int64_t d, int64_t degree) {
  int64_t total = 0, power = 1;
  for (int64_t p = 0; p <= degree; ++p) {
    total += power;
    if (power > (int64_t(1) << 40) / std::max<int64_t>(d, 1))
      return -1;
    power *= d;
  }
  return total;
}

LogicalResult PolynomialMapOp::verify() {
  if (getDegree() < 0 || getDegree() > 4)
    return emitOpError() << "degree must be in [0, 4], got " << getDegree();
  int64_t d = getInput().getType().getDimSize(0);
  int64_t features = polynomialFeatures(d, getDegree());
  if (getResult().getType().getDimSize(0) != features)
    return emitOpError() << "maps " << d << " features to " << features << " at degree "
                         << getDegree() << ", got a result of "
                         << getResult().getType().getDimSize(0);
  return success();
}

LogicalResult HedgehogMapOp::verify() {
  if (getKind() != FeatureMapKind::Softmax && getKind() != FeatureMapKind::Exp)
    return emitOpError("takes <softmax> or <exp>, got <")
           << stringifyFeatureMapKind(getKind()) << ">";
  int64_t features = getInput().getType().getDimSize(0);
  if (getResult().getType().getDimSize(0) != 2 * features)
    return emitOpError() << "maps " << features << " features to " << 2 * features
                         << ", got a result of " << getResult().getType().getDimSize(0);
  return success();
}

LogicalResult FeatureMapOp::verify() {
  if (getKind() == FeatureMapKind::Softmax && !isa<VectorType>(getInput().getType()))
    return emitOpError("softmax is taken over the head dim and needs a vector");
  return success();
}
