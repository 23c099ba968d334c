//===- HybridLayers.cpp - layers built around window attention ------------===//

#include "HybridLayers.h"
#include "TensorParts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec {

static RankedTensorType withLastDim(Value like, int64_t size) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = size;
  return RankedTensorType::get(shape, Float32Type::get(like.getContext()));
}

/// [B, T, H] f32 tensor like the leading dims of `like`.
static RankedTensorType perToken(Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  return RankedTensorType::get(type.getShape().take_front(3), Float32Type::get(like.getContext()));
}

SmallVector<Value> buildTransNormerDiag(OpBuilder &b, Location loc, const LayerConfig &c,
                                        Value q, Value k, Value v) {
  MLIRContext *ctx = b.getContext();
  auto window = WindowAttentionOp::create(
      b, loc, withLastDim(v, cast<RankedTensorType>(v.getType()).getDimSize(3)), Type(), q, k, v,
      WindowKindAttr::get(ctx, WindowKind::Block), b.getI64IntegerAttr(c.windowSize),
      WindowWeightingAttr::get(ctx, c.weighting), b.getF64FloatAttr(c.scale));
  Value o = window.getO();
  if (c.weighting == WindowWeighting::Relu) // no denominator: the output norm takes its place
    o = buildHeadsRmsNorm(b, loc, o, c.eps);
  return {o};
}

SmallVector<Value> buildLigerAttention(OpBuilder &b, Location loc, const LayerConfig &c,
                                       Value q, Value k, Value v, Value graw, Value qAttn,
                                       Value kAttn, Type finalStateType) {
  MLIRContext *ctx = b.getContext();
  Type oType = withLastDim(v, cast<RankedTensorType>(v.getType()).getDimSize(3));
  FloatAttr scale = b.getF64FloatAttr(c.scale);
  Operation *linear;
  if (c.linearVariant == LayerKind::LigerHGRN2)
    linear = LigerHGRN2Op::create(b, loc, TypeRange{oType, finalStateType}, q, v, graw, Value(),
                                  Value(), scale);
  else
    linear = LigerGLAOp::create(b, loc, TypeRange{oType, finalStateType}, q, k, v, graw,
                                Value(), Value(), scale, b.getF64FloatAttr(c.gateNormalizer));
  auto window = WindowAttentionOp::create(
      b, loc, oType, Type(), qAttn, kAttn, v, WindowKindAttr::get(ctx, WindowKind::Sliding),
      b.getI64IntegerAttr(c.windowSize), WindowWeightingAttr::get(ctx, WindowWeighting::Softmax),
      b.getF64FloatAttr(c.attentionScale));
  // Element-wise: linrec-fuse moves the mix into the recurrence's stores.
  float mixLinear = c.mixLinear, mixAttention = c.mixAttention;
  Value o = buildElementwise(
      b, loc, linear->getResult(0), ValueRange{linear->getResult(0), window.getO()}, {},
      [&](OpBuilder &n, Location l, ValueRange x) -> Value {
        Value a = arith::MulFOp::create(n, l, x[0],
                                        arith::ConstantOp::create(n, l, n.getF32FloatAttr(mixLinear)));
        Value w = arith::MulFOp::create(
            n, l, x[1], arith::ConstantOp::create(n, l, n.getF32FloatAttr(mixAttention)));
        return arith::AddFOp::create(n, l, a, w);
      });
  return {o, linear->getResult(1)};
}

/// The linear term of LoLCATs over the keys that left a sliding window of w: with k and v
/// delayed by w tokens (and writes masked until token w), the state at token i holds the keys
/// j <= i − w. Returns (Σ φ_qᵀφ_k v, Σ φ_qᵀφ_k) over those keys.
static std::pair<Value, Value> buildDelayedHedgehogTerms(OpBuilder &b, Location loc,
                                                         const LayerConfig &c, Value uq,
                                                         Value uk, Value v) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto uType = cast<RankedTensorType>(uq.getType());
  int64_t features = 2 * uType.getDimSize(3), dv = cast<RankedTensorType>(v.getType()).getDimSize(3);
  int64_t batch = uType.getDimSize(0), tokens = uType.getDimSize(1), heads = uType.getDimSize(2);
  int64_t w = c.windowSize;
  Value ukDelayed = buildTokenShift(b, loc, uk, w), vDelayed = buildTokenShift(b, loc, v, w);
  Value entered = buildTokenMask(b, loc, batch, tokens, heads, [&](int64_t t) { return t >= w; });

  auto matrix = StateType::get(ctx, {features, dv}, f32);
  auto normalizer = StateType::get(ctx, {features}, f32);
  SmallVector<Type> resultTypes = {withLastDim(v, dv), perToken(v),
                                   RankedTensorType::get({batch, heads, features, dv}, f32),
                                   RankedTensorType::get({batch, heads, features}, f32)};
  auto rec = RecurrenceOp::create(b, loc, resultTypes,
                                  ValueRange{uq, ukDelayed, vDelayed, entered}, ValueRange{},
                                  ValueRange{}, Value());
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&rec.getBody());
  Value S = body->addArgument(matrix, loc), z = body->addArgument(normalizer, loc);
  auto featureType = VectorType::get({features / 2}, f32);
  Value uqT = body->addArgument(featureType, loc), ukT = body->addArgument(featureType, loc);
  Value vT = body->addArgument(VectorType::get({dv}, f32), loc);
  Value enteredT = body->addArgument(f32, loc);
  b.setInsertionPointToStart(body);
  auto kind = FeatureMapKindAttr::get(ctx, c.hedgehogFeature);
  auto phiType = VectorType::get({features}, f32);
  Value phiQ = HedgehogMapOp::create(b, loc, phiType, kind, uqT);
  Value phiK = HedgehogMapOp::create(b, loc, phiType, kind, ukT);
  Value writes = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, enteredT,
                                       arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.5f)));
  Value S1 = WriteOp::create(b, loc, matrix, S, phiK, vT, Value(), writes);
  Value z1 = WriteOp::create(b, loc, normalizer, z, phiK, Value(), Value(), writes);
  Value numerator = ReadOp::create(b, loc, VectorType::get({dv}, f32), S1, phiQ, FloatAttr());
  Value denominator = ReadOp::create(b, loc, f32, z1, phiQ, FloatAttr());
  YieldOp::create(b, loc, ValueRange{S1, z1}, ValueRange{numerator, denominator});
  return {rec.getResult(0), rec.getResult(1)};
}

llvm::Expected<SmallVector<Value>> buildLoLCATs(OpBuilder &b, Location loc, const LayerConfig &c,
                                          Value q, Value k, Value v, Value wq, Value wk,
                                          Value windowLogit) {
  if (c.window != WindowKind::Sliding)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "lolcats: the terraced window is not supported yet "
                                   "(the sliding one is)");
  MLIRContext *ctx = b.getContext();
  int64_t dv = cast<RankedTensorType>(v.getType()).getDimSize(3);
  // The window term, shifted by each row's window max m_i exactly as LoLCATs does.
  auto window = WindowAttentionOp::create(
      b, loc, withLastDim(v, dv), perToken(v), q, k, v, WindowKindAttr::get(ctx, c.window),
      b.getI64IntegerAttr(c.windowSize), WindowWeightingAttr::get(ctx, WindowWeighting::ShiftedExp),
      b.getF64FloatAttr(c.scale));
  Value uq = buildProjection(b, loc, q, wq, Value());
  Value uk = buildProjection(b, loc, k, wk, Value());
  auto [linearNumerator, linearDenominator] = buildDelayedHedgehogTerms(b, loc, c, uq, uk, v);
  // o = (γ A + λ L) / (γ a + λ l), γ = σ(window_logit[h]), λ = linear_factor.
  float lambda = c.linearFactor;
  Value o = buildElementwise(
      b, loc, window.getO(),
      ValueRange{window.getO(), window.getDenominator(), linearNumerator, linearDenominator,
                 windowLogit},
      {false, false, false, false, true}, [&](OpBuilder &n, Location l, ValueRange x) -> Value {
        auto constant = [&](float value) {
          return arith::ConstantOp::create(n, l, n.getF32FloatAttr(value));
        };
        Value one = constant(1.0f);
        Value gamma = arith::DivFOp::create(
            n, l, one,
            arith::AddFOp::create(n, l, one,
                                  math::ExpOp::create(n, l, arith::NegFOp::create(n, l, x[4]))));
        Value lambdaValue = constant(lambda);
        Value numerator = arith::AddFOp::create(n, l, arith::MulFOp::create(n, l, gamma, x[0]),
                                                arith::MulFOp::create(n, l, lambdaValue, x[2]));
        Value denominator = arith::AddFOp::create(n, l, arith::MulFOp::create(n, l, gamma, x[1]),
                                                  arith::MulFOp::create(n, l, lambdaValue, x[3]));
        return arith::DivFOp::create(n, l, numerator, denominator);
      });
  return SmallVector<Value>{o};
}

} // namespace linrec
