//===- LinrecModelOps.cpp - named members of the recurrence family --------===//
//
// Every named op is described once in uniform terms (ModelDescription); one verifier and one
// builder of the generic form serve all of them.
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "ShapeChecks.h"

using namespace mlir;
using namespace linrec;
using linrec::detail::checkTensorShape;
using linrec::detail::NamedDim;
using linrec::detail::unifyDim;

namespace {
/// A named op in the terms of the general form (G) of the conformance README.
struct ModelDescription {
  Value q, k, v;
  Value scalarGate;    // [B, T, H] log-decay
  Value keyGate;       // [B, T, H, dk] log-decay
  Value valueGate;     // [B, T, H, dv] log-decay
  Value constantDecay; // [H] log-decay
  Value rawKeyGate;    // [B, T, H, dk]: the key log-decay is logsigmoid(raw) / gateNormalizer
  double gateNormalizer = 1.0;
  bool keyFromGate = false; // no k: the written key is 1 − e^{α} = σ(−raw) (HGRN2)
  Value beta;          // [B, T, H]: delta rule
  Value initialState, initialZ, cuSeqlens, stateIndices;
  FeatureMapKind featureMap = FeatureMapKind::Identity;
  bool normalize = false;
  float eps = 0.0f;
  double scale = 1.0;
};

template <typename OpTy>
ModelDescription describeCommon(OpTy op) {
  ModelDescription d;
  d.q = op.getQ();
  if constexpr (!std::is_same_v<OpTy, LigerHGRN2Op>)
    d.k = op.getK();
  d.v = op.getV();
  d.initialState = op.getInitialState();
  d.cuSeqlens = op.getCuSeqlens();
  d.stateIndices = op.getStateIndices();
  d.scale = op.getScale().convertToDouble();
  return d;
}
} // namespace

static ModelDescription describe(LinearAttentionOp op) {
  ModelDescription d = describeCommon(op);
  d.featureMap = op.getFeatureMap();
  d.normalize = op.getNormalize();
  d.eps = op.getEps().convertToFloat();
  d.initialZ = op.getInitialZ();
  return d;
}
static ModelDescription describe(LightningOp op) {
  ModelDescription d = describeCommon(op);
  d.constantDecay = op.getLogDecay();
  return d;
}
static ModelDescription describe(SimpleGLAOp op) {
  ModelDescription d = describeCommon(op);
  d.scalarGate = op.getG();
  return d;
}
static ModelDescription describe(GLAOp op) {
  ModelDescription d = describeCommon(op);
  d.keyGate = op.getGk();
  d.valueGate = op.getGv();
  return d;
}
static ModelDescription describe(DeltaNetOp op) {
  ModelDescription d = describeCommon(op);
  d.beta = op.getBeta();
  return d;
}
static ModelDescription describe(GatedDeltaNetOp op) {
  ModelDescription d = describeCommon(op);
  d.scalarGate = op.getG();
  d.beta = op.getBeta();
  return d;
}
static ModelDescription describe(KDAOp op) {
  ModelDescription d = describeCommon(op);
  d.keyGate = op.getGk();
  d.beta = op.getBeta();
  return d;
}
static ModelDescription describe(LigerGLAOp op) {
  ModelDescription d = describeCommon(op);
  d.featureMap = FeatureMapKind::Softmax;
  d.rawKeyGate = op.getGraw();
  d.gateNormalizer = op.getGateNormalizer().convertToDouble();
  return d;
}
static ModelDescription describe(LigerHGRN2Op op) {
  ModelDescription d = describeCommon(op);
  d.featureMap = FeatureMapKind::Softmax;
  d.rawKeyGate = op.getGraw();
  d.keyFromGate = true;
  return d;
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

static LogicalResult verifyModel(Operation *op, const ModelDescription &d) {
  // A misspelled option (`featureMap` for `feature_map`) would otherwise be dropped
  // silently and change the model.
  for (NamedAttribute attr : op->getDiscardableAttrs())
    if (!attr.getName().getValue().contains('.'))
      return op->emitOpError() << "has unknown attribute '" << attr.getName().getValue()
                               << "'";
  auto qType = dyn_cast<RankedTensorType>(d.q.getType());
  auto vType = dyn_cast<RankedTensorType>(d.v.getType());
  if (!qType || qType.getRank() != 4)
    return op->emitOpError() << "'q' must be [B, T, H, dk], got " << d.q.getType();
  if (!vType || vType.getRank() != 4)
    return op->emitOpError() << "'v' must be [B, T, H, dv], got " << d.v.getType();
  if (qType.isDynamicDim(3) || vType.isDynamicDim(3))
    return op->emitOpError("head dims (dk, dv) must be static");

  int64_t batch = qType.getDimSize(0), tokens = qType.getDimSize(1),
          heads = qType.getDimSize(2);
  int64_t dk = qType.getDimSize(3), dv = vType.getDimSize(3);
  // B, T, H may be dynamic in q and static elsewhere: take every static value first, so
  // that a clash between two other operands is still caught.
  for (Value x : {d.k, d.v, d.scalarGate, d.keyGate, d.valueGate, d.rawKeyGate, d.beta}) {
    auto type = x ? dyn_cast<RankedTensorType>(x.getType()) : RankedTensorType();
    if (!type || type.getRank() < 3)
      continue;
    unifyDim(batch, type.getDimSize(0));
    unifyDim(tokens, type.getDimSize(1));
    unifyDim(heads, type.getDimSize(2));
  }
  NamedDim B{"B", batch}, T{"T", tokens}, H{"H", heads}, DK{"dk", dk}, DV{"dv", dv};
  NamedDim N{"B", batch};
  if (d.cuSeqlens) {
    if (!unifyDim(batch, 1))
      return op->emitOpError() << "with cu_seqlens the inputs are packed as "
                               << "[1, total_T, H, D], got B = " << batch;
    int64_t offsets = cast<RankedTensorType>(d.cuSeqlens.getType()).getDimSize(0);
    N = {"N", ShapedType::isDynamic(offsets) ? offsets : offsets - 1};
  }

  // With state_indices the states live in pools of P slots (see linrec.recurrence).
  NamedDim stateRows = N;
  if (d.stateIndices) {
    if (!d.initialState || (d.normalize && !d.initialZ))
      return op->emitOpError("with state_indices every state needs an initial state (its "
                             "pool)");
    int64_t n = cast<RankedTensorType>(d.stateIndices.getType()).getDimSize(0);
    if (!unifyDim(N.size, n))
      return op->emitOpError() << "needs one state index per sequence (" << N.size
                               << "), got " << n;
    stateRows = {"P", cast<RankedTensorType>(d.initialState.getType()).getDimSize(0)};
  }

  auto check = [&](Value x, StringRef name, ArrayRef<NamedDim> dims) {
    return !x || succeeded(checkTensorShape(op, name, x.getType(), dims));
  };
  if (!check(d.q, "q", {B, T, H, DK}) || !check(d.k, "k", {B, T, H, DK}) ||
      !check(d.v, "v", {B, T, H, DV}) || !check(d.scalarGate, "gate", {B, T, H}) ||
      !check(d.keyGate, "gate", {B, T, H, DK}) ||
      !check(d.rawKeyGate, "gate_raw", {B, T, H, DK}) ||
      !check(d.valueGate, "value_gate", {B, T, H, DV}) ||
      !check(d.constantDecay, "decay", {H}) || !check(d.beta, "beta", {B, T, H}) ||
      !check(d.initialState, "init", {stateRows, H, DK, DV}) ||
      !check(d.initialZ, "init_z", {stateRows, H, DK}))
    return failure();
  if (d.initialZ && !d.normalize)
    return op->emitOpError("'init_z' needs the `normalize` attribute");
  if (!(d.gateNormalizer > 0))
    return op->emitOpError() << "'gate_normalizer' must be positive, got " << d.gateNormalizer;

  unsigned expectedResults = d.normalize ? 3 : 2;
  if (op->getNumResults() != expectedResults)
    return op->emitOpError() << "has " << op->getNumResults() << " results, expected "
                             << expectedResults
                             << (d.normalize ? " (o, final_state, final_z)"
                                             : " (o, final_state)");
  if (!check(op->getResult(0), "o", {B, T, H, DV}) ||
      !check(op->getResult(1), "final_state", {stateRows, H, DK, DV}) ||
      (d.normalize && !check(op->getResult(2), "final_z", {stateRows, H, DK})))
    return failure();
  return success();
}

LogicalResult LinearAttentionOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult LightningOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult SimpleGLAOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult GLAOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult DeltaNetOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult GatedDeltaNetOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult KDAOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult LigerGLAOp::verify() { return verifyModel(*this, describe(*this)); }
LogicalResult LigerHGRN2Op::verify() { return verifyModel(*this, describe(*this)); }

//===----------------------------------------------------------------------===//
// The generic form
//===----------------------------------------------------------------------===//

/// f32, or vector<D x f32> for the trailing dims after `leadingDims`.
static Type sliceType(Value tensor, unsigned leadingDims) {
  auto type = cast<RankedTensorType>(tensor.getType());
  Type f32 = Float32Type::get(type.getContext());
  ArrayRef<int64_t> trailing = type.getShape().drop_front(leadingDims);
  return trailing.empty() ? f32 : Type(VectorType::get(trailing, f32));
}

static Value splat(OpBuilder &b, Location loc, Type type, float value) {
  if (auto vec = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vec, value));
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

static SmallVector<Value> buildModelRecurrence(OpBuilder &b, Operation *op,
                                               const ModelDescription &d) {
  Location loc = op->getLoc();
  MLIRContext *ctx = b.getContext();
  int64_t dk = cast<RankedTensorType>(d.q.getType()).getDimSize(3);
  int64_t dv = cast<RankedTensorType>(d.v.getType()).getDimSize(3);
  Type f32 = b.getF32Type();
  auto matrixState = StateType::get(ctx, {dk, dv}, f32);
  auto normState = StateType::get(ctx, {dk}, f32);

  // States: S, then z when normalized. Initial states are a prefix of the state list, so
  // when only z has an initial value it goes first.
  bool normalizerFirst = d.normalize && d.initialZ && !d.initialState;
  SmallVector<Type> stateTypes = {matrixState};
  SmallVector<Value> inits;
  if (d.initialState)
    inits.push_back(d.initialState);
  if (d.normalize) {
    stateTypes.insert(normalizerFirst ? stateTypes.begin() : stateTypes.end(), normState);
    if (d.initialZ)
      inits.push_back(d.initialZ);
  }

  // The body argument of each input is found by position: one tensor may be passed as two
  // operands (q and k, say).
  SmallVector<Value> inputs;
  // q, k, v; scalar, key, value gate; beta; raw key gate
  std::array<Value, 8> byRole = {d.q, d.k, d.v, d.scalarGate, d.keyGate, d.valueGate, d.beta,
                                 d.rawKeyGate};
  enum { kQ, kK, kV, kScalarGate, kKeyGate, kValueGate, kBeta, kRawKeyGate };
  std::array<int, 8> position;
  for (auto [i, x] : llvm::enumerate(byRole)) {
    position[i] = x ? int(inputs.size()) : -1;
    if (x)
      inputs.push_back(x);
  }
  SmallVector<Value> params;
  if (d.constantDecay)
    params.push_back(d.constantDecay);

  // Results: o, then the final states in state order.
  SmallVector<Type> resultTypes = {op->getResult(0).getType()};
  SmallVector<Type> finalTypes(llvm::drop_begin(op->getResultTypes()));
  if (normalizerFirst)
    std::swap(finalTypes[0], finalTypes[1]);
  llvm::append_range(resultTypes, finalTypes);

  auto rec = RecurrenceOp::create(b, loc, resultTypes, inputs, params, inits, d.cuSeqlens,
                                  d.stateIndices);
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&rec.getBody());
  for (Type t : stateTypes)
    body->addArgument(t, loc);
  for (Value x : inputs)
    body->addArgument(sliceType(x, 3), loc);
  for (Value x : params)
    body->addArgument(sliceType(x, 1), loc);

  b.setInsertionPointToStart(body);
  unsigned sIndex = normalizerFirst ? 1 : 0;
  Value state = body->getArgument(sIndex);
  auto inputArg = [&](int position) -> Value {
    return position < 0 ? Value() : body->getArgument(stateTypes.size() + position);
  };
  Value q = inputArg(position[kQ]), k = inputArg(position[kK]), v = inputArg(position[kV]);
  auto featureMap = [&](FeatureMapKind kind, Value x) -> Value {
    return FeatureMapOp::create(b, loc, x.getType(), FeatureMapKindAttr::get(ctx, kind), x);
  };
  if (d.featureMap != FeatureMapKind::Identity) {
    q = featureMap(d.featureMap, q);
    if (k)
      k = featureMap(d.featureMap, k);
  }
  Value keyGate = inputArg(position[kKeyGate]);
  if (Value raw = inputArg(position[kRawKeyGate])) {
    keyGate = featureMap(FeatureMapKind::LogSigmoid, raw);
    if (d.gateNormalizer != 1.0)
      keyGate = arith::DivFOp::create(b, loc, keyGate,
                                      splat(b, loc, raw.getType(), float(d.gateNormalizer)));
    if (d.keyFromGate) // 1 − e^{logsigmoid(x)} = σ(−x), exact where e^{α} rounds to 1
      k = featureMap(FeatureMapKind::Sigmoid, arith::NegFOp::create(b, loc, raw));
  }
  FloatAttr scale = d.scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(d.scale);

  if (d.constantDecay)
    state = DecayOp::create(b, loc, state.getType(), state, body->getArguments().back(), DecayAxisAttr());
  if (d.scalarGate)
    state = DecayOp::create(b, loc, state.getType(), state, inputArg(position[kScalarGate]),
                            DecayAxisAttr());
  if (keyGate)
    state = DecayOp::create(b, loc, state.getType(), state, keyGate,
                            DecayAxisAttr::get(ctx, DecayAxis::Key));
  if (d.valueGate)
    state = DecayOp::create(b, loc, state.getType(), state, inputArg(position[kValueGate]),
                            DecayAxisAttr::get(ctx, DecayAxis::Value));
  Value beta = inputArg(position[kBeta]);
  if (beta)
    state = DeltaOp::create(b, loc, state.getType(), state, k, beta);
  state = WriteOp::create(b, loc, state.getType(), state, k, v, beta, /*mask=*/Value());
  Value o = ReadOp::create(b, loc, VectorType::get({dv}, f32), state, q, scale, IntegerAttr());

  SmallVector<Value> yielded = {state};
  if (d.normalize) {
    Value zArg = body->getArgument(1 - sIndex);
    Value z = WriteOp::create(b, loc, zArg.getType(), zArg, k, Value(), Value(), Value());
    Value denom = ReadOp::create(b, loc, f32, z, q, scale, IntegerAttr());
    denom = arith::AddFOp::create(b, loc, denom, splat(b, loc, f32, d.eps));
    Value denomVec = vector::BroadcastOp::create(b, loc, o.getType(), denom);
    o = arith::DivFOp::create(b, loc, o, denomVec);
    yielded.insert(normalizerFirst ? yielded.begin() : yielded.end(), z);
  }
  YieldOp::create(b, loc, yielded, ValueRange{o});

  // Map back to the named op's result order (o, final_state[, final_z]).
  SmallVector<Value> results = {rec.getResult(0)};
  llvm::append_range(results, rec.getResults().drop_front());
  if (normalizerFirst)
    std::swap(results[1], results[2]);
  return results;
}

#define LINREC_DEFINE_BUILD_RECURRENCE(OpTy)                                                \
  SmallVector<Value> OpTy::buildRecurrence(OpBuilder &builder) {                           \
    return buildModelRecurrence(builder, *this, describe(*this));                          \
  }
LINREC_DEFINE_BUILD_RECURRENCE(LinearAttentionOp)
LINREC_DEFINE_BUILD_RECURRENCE(LightningOp)
LINREC_DEFINE_BUILD_RECURRENCE(SimpleGLAOp)
LINREC_DEFINE_BUILD_RECURRENCE(GLAOp)
LINREC_DEFINE_BUILD_RECURRENCE(DeltaNetOp)
LINREC_DEFINE_BUILD_RECURRENCE(GatedDeltaNetOp)
LINREC_DEFINE_BUILD_RECURRENCE(KDAOp)
LINREC_DEFINE_BUILD_RECURRENCE(LigerGLAOp)
LINREC_DEFINE_BUILD_RECURRENCE(LigerHGRN2Op)
#undef LINREC_DEFINE_BUILD_RECURRENCE
