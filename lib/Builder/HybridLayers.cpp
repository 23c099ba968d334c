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
    o = HeadsRmsNormOp::create(b, loc, o.getType(), o, b.getF64FloatAttr(c.eps));
  return {o};
}

SmallVector<Value> buildLigerAttention(OpBuilder &b, Location loc, const LayerConfig &c,
                                       Value q, Value k, Value v, Value graw, Value qAttn,
                                       Value kAttn, Type finalStateType) {
  MLIRContext *ctx = b.getContext();
  Type oType = withLastDim(v, cast<RankedTensorType>(v.getType()).getDimSize(3));
  FloatAttr scale = b.getF64FloatAttr(c.scale);
  // The window term first: defined before the recurrence, it can become an input of the
  // recurrence's fused stores.
  auto window = WindowAttentionOp::create(
      b, loc, oType, Type(), qAttn, kAttn, v, WindowKindAttr::get(ctx, WindowKind::Sliding),
      b.getI64IntegerAttr(c.windowSize), WindowWeightingAttr::get(ctx, WindowWeighting::Softmax),
      b.getF64FloatAttr(c.attentionScale));
  Operation *linear;
  if (c.linearVariant == LayerKind::LigerHGRN2)
    linear = LigerHGRN2Op::create(b, loc, TypeRange{oType, finalStateType}, q, v, graw, Value(),
                                  Value(), Value(), scale);
  else
    linear = LigerGLAOp::create(b, loc, TypeRange{oType, finalStateType}, q, k, v, graw,
                                Value(), Value(), Value(), scale, b.getF64FloatAttr(c.gateNormalizer));
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

/// Normalized-read pieces of Hedgehog linear attention in which token t writes
/// β_t φ_k(uk_t) v_tᵀ (β_t ∈ {0, 1} selects the tokens that write) and reads with
/// φ_q(uq_t): returns (Σ φ_qᵀφ_k v, Σ φ_qᵀφ_k) per token over the keys written so far, or
/// with `readBlock` over those written before the token's block.
static std::pair<Value, Value> buildHedgehogTerms(OpBuilder &b, Location loc,
                                                  const LayerConfig &c, Value uq, Value uk,
                                                  Value v, Value beta, int64_t readBlock = 0) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto uType = cast<RankedTensorType>(uq.getType());
  int64_t features = 2 * uType.getDimSize(3), dv = cast<RankedTensorType>(v.getType()).getDimSize(3);
  int64_t batch = uType.getDimSize(0), heads = uType.getDimSize(2);
  auto matrix = StateType::get(ctx, {features, dv}, f32);
  auto normalizer = StateType::get(ctx, {features}, f32);
  SmallVector<Type> resultTypes = {withLastDim(v, dv), perToken(v),
                                   RankedTensorType::get({batch, heads, features, dv}, f32),
                                   RankedTensorType::get({batch, heads, features}, f32)};
  auto rec = RecurrenceOp::create(b, loc, resultTypes, ValueRange{uq, uk, v, beta},
                                  ValueRange{}, ValueRange{}, Value());
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&rec.getBody());
  Value S = body->addArgument(matrix, loc), z = body->addArgument(normalizer, loc);
  auto featureType = VectorType::get({features / 2}, f32);
  Value uqT = body->addArgument(featureType, loc), ukT = body->addArgument(featureType, loc);
  Value vT = body->addArgument(VectorType::get({dv}, f32), loc);
  Value betaT = body->addArgument(f32, loc);
  b.setInsertionPointToStart(body);
  auto kind = FeatureMapKindAttr::get(ctx, c.hedgehogFeature);
  auto phiType = VectorType::get({features}, f32);
  Value phiQ = HedgehogMapOp::create(b, loc, phiType, kind, uqT);
  Value phiK = HedgehogMapOp::create(b, loc, phiType, kind, ukT);
  // β = 0 or 1 rather than a mask: a scaled write keeps the recurrence chunkable.
  Value S1 = WriteOp::create(b, loc, matrix, S, phiK, vT, betaT, Value());
  Value z1 = WriteOp::create(b, loc, normalizer, z, phiK, Value(), betaT, Value());
  IntegerAttr blockStart = readBlock ? b.getI64IntegerAttr(readBlock) : IntegerAttr();
  Value numerator =
      ReadOp::create(b, loc, VectorType::get({dv}, f32), S1, phiQ, FloatAttr(), blockStart);
  Value denominator = ReadOp::create(b, loc, f32, z1, phiQ, FloatAttr(), blockStart);
  YieldOp::create(b, loc, ValueRange{S1, z1}, ValueRange{numerator, denominator});
  return {rec.getResult(0), rec.getResult(1)};
}

/// The linear terms outside a window of w, from k and v delayed by w tokens (no writes
/// before token w). Sliding: the state at token i holds exactly the keys j <= i − w. Terraced:
/// the keys of block m enter at the first query of block m + 2, all at once; the state at the
/// start of block n holds exactly the keys before block n − 1, so the reads are block-start
/// reads.
static std::pair<Value, Value> buildDelayedLinearTerms(OpBuilder &b, Location loc,
                                                       const LayerConfig &c, Value uq, Value uk,
                                                       Value v) {
  auto type = cast<RankedTensorType>(uq.getType());
  int64_t w = c.windowSize;
  Value entered = buildTokenMask(b, loc, type.getDimSize(0), type.getDimSize(1),
                                 type.getDimSize(2), [&](int64_t t) { return t >= w; });
  int64_t readBlock = c.window == WindowKind::Terraced ? w : 0;
  return buildHedgehogTerms(b, loc, c, uq, buildTokenShift(b, loc, uk, w),
                            buildTokenShift(b, loc, v, w), entered, readBlock);
}

/// The terraced window without block-start reads (LayerConfig::blockStartReads): the
/// recurrence writes one key per token, so it runs over a sequence of events: per block n,
/// the w keys of block n − 2 (writes), then the queries of block n (reads, no writes); the
/// reads are gathered back afterwards.
static std::pair<Value, Value> buildTerracedLinearTermsAsEvents(OpBuilder &b, Location loc,
                                                                const LayerConfig &c, Value uq,
                                                                Value uk, Value v) {
  auto type = cast<RankedTensorType>(uq.getType());
  int64_t B = type.getDimSize(0), T = type.getDimSize(1), H = type.getDimSize(2);
  int64_t w = c.windowSize;
  struct Segment {
    int64_t source, length, event; // tokens [source, source + length) at events [event, ...)
    bool writes;
  };
  SmallVector<Segment> segments;
  int64_t events = 0;
  for (int64_t start = 0, n = 0; start < T; start += w, ++n) {
    if (n >= 2) {
      segments.push_back({(n - 2) * w, w, events, true});
      events += w;
    }
    int64_t length = std::min(w, T - start);
    segments.push_back({start, length, events, false});
    events += length;
  }
  auto zeros = [&](Value like, int64_t tokens) {
    auto likeType = cast<RankedTensorType>(like.getType());
    SmallVector<int64_t> shape(likeType.getShape());
    shape[1] = tokens;
    auto zeroType = RankedTensorType::get(shape, likeType.getElementType());
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(zeroType, 0.0f)).getResult();
  };
  Value uqEvents = zeros(uq, events), ukEvents = zeros(uk, events), vEvents = zeros(v, events);
  for (const Segment &s : segments) {
    if (s.writes) {
      ukEvents = buildTokenInsert(b, loc, buildTokenSlice(b, loc, uk, s.source, s.length),
                                  ukEvents, s.event);
      vEvents = buildTokenInsert(b, loc, buildTokenSlice(b, loc, v, s.source, s.length), vEvents,
                                 s.event);
    } else {
      uqEvents = buildTokenInsert(b, loc, buildTokenSlice(b, loc, uq, s.source, s.length),
                                  uqEvents, s.event);
    }
  }
  Value writes = buildTokenMask(b, loc, B, events, H, [&](int64_t e) {
    return llvm::any_of(segments, [&](const Segment &s) {
      return s.writes && s.event <= e && e < s.event + s.length;
    });
  });
  auto [numerators, denominators] =
      buildHedgehogTerms(b, loc, c, uqEvents, ukEvents, vEvents, writes);
  Value numerator = zeros(numerators, T), denominator = zeros(denominators, T);
  for (const Segment &s : segments)
    if (!s.writes) {
      numerator = buildTokenInsert(b, loc, buildTokenSlice(b, loc, numerators, s.event, s.length),
                                   numerator, s.source);
      denominator = buildTokenInsert(
          b, loc, buildTokenSlice(b, loc, denominators, s.event, s.length), denominator, s.source);
    }
  return {numerator, denominator};
}

llvm::Expected<SmallVector<Value>> buildLoLCATs(OpBuilder &b, Location loc, const LayerConfig &c,
                                          Value q, Value k, Value v, Value wq, Value wk,
                                          Value windowLogit) {
  if (c.window == WindowKind::Block)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "lolcats windows are sliding or terraced");
  MLIRContext *ctx = b.getContext();
  int64_t dv = cast<RankedTensorType>(v.getType()).getDimSize(3);
  // The window term, shifted by each row's window max m_i exactly as LoLCATs does.
  auto window = WindowAttentionOp::create(
      b, loc, withLastDim(v, dv), perToken(v), q, k, v, WindowKindAttr::get(ctx, c.window),
      b.getI64IntegerAttr(c.windowSize), WindowWeightingAttr::get(ctx, WindowWeighting::ShiftedExp),
      b.getF64FloatAttr(c.scale));
  Value uq = buildProjection(b, loc, q, wq, Value());
  Value uk = buildProjection(b, loc, k, wk, Value());
  auto [linearNumerator, linearDenominator] =
      c.window == WindowKind::Terraced && !c.blockStartReads
          ? buildTerracedLinearTermsAsEvents(b, loc, c, uq, uk, v)
          : buildDelayedLinearTerms(b, loc, c, uq, uk, v);
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
