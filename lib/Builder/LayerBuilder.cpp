//===- LayerBuilder.cpp - build recurrence layers from parameters ---------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Dialect/Limits.h"
#include "HybridLayers.h"
#include "MixtureOfMemories.h"
#include "TensorParts.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

namespace linrec {

static constexpr std::pair<LayerKind, const char *> kLayerNames[] = {
    {LayerKind::Linear, "linear"},         {LayerKind::Lightning, "lightning"},
    {LayerKind::SimpleGLA, "simple_gla"},  {LayerKind::GLA, "gla"},
    {LayerKind::DeltaNet, "delta"},        {LayerKind::GatedDeltaNet, "gated_delta"},
    {LayerKind::KDA, "kda"},               {LayerKind::LigerGLA, "liger_gla"},
    {LayerKind::LigerHGRN2, "liger_hgrn2"}, {LayerKind::Hedgehog, "hedgehog"},
    {LayerKind::TransNormerNorm, "transnormer_norm"},
    {LayerKind::TransNormerDiag, "transnormer_diag"},
    {LayerKind::LigerAttention, "liger_attention"}, {LayerKind::LoLCATs, "lolcats"},
    {LayerKind::MixtureOfMemories, "mom"}, {LayerKind::TensorAttention, "tensor_attention"}};

std::optional<LayerKind> parseLayerKind(StringRef model) {
  for (auto [kind, name] : kLayerNames)
    if (model == name)
      return kind;
  return std::nullopt;
}

std::vector<std::string> layerKindNames() {
  std::vector<std::string> names;
  for (auto [kind, name] : kLayerNames)
    names.push_back(name);
  return names;
}

StringRef layerKindName(LayerKind kind) {
  for (auto [k, name] : kLayerNames)
    if (k == kind)
      return name;
  return "?";
}

/// The inputs conformance README §6 calls gate-like (log-decays, betas, gate logits, router
/// and window logits): their float32 gradients carry cumulative sums and cancellations, and
/// their backward is checked ten times looser (`linrec.gate`).
static bool isGateLike(StringRef name) {
  return llvm::is_contained({"g", "gk", "gv", "g_shared", "beta", "beta_shared", "graw",
                             "router_logits", "window_logit"},
                            name);
}

/// The layer's own gate inputs, in the order the named op takes them.
static std::vector<std::string> gateNames(const LayerConfig &c) {
  switch (c.kind) {
  case LayerKind::Linear:
  case LayerKind::Lightning:
  case LayerKind::TransNormerNorm:
  case LayerKind::TransNormerDiag:
    return {};
  case LayerKind::LigerAttention:
    return {"graw", "q_attn", "k_attn"};
  case LayerKind::LoLCATs:
    return {"Wq", "Wk", "window_logit"};
  case LayerKind::TensorAttention:
    return {};
  case LayerKind::MixtureOfMemories:
    if (c.sharedMemory)
      return {"g", "beta", "router_logits", "k_shared", "v_shared", "g_shared", "beta_shared"};
    return {"g", "beta", "router_logits"};
  case LayerKind::SimpleGLA:
    return {"g"};
  case LayerKind::GLA:
    return c.valueGate ? std::vector<std::string>{"gk", "gv"} : std::vector<std::string>{"gk"};
  case LayerKind::DeltaNet:
    return {"beta"};
  case LayerKind::GatedDeltaNet:
    return {"g", "beta"};
  case LayerKind::KDA:
    return {"gk", "beta"};
  case LayerKind::LigerGLA:
  case LayerKind::LigerHGRN2:
    return {"graw"};
  case LayerKind::Hedgehog: {
    std::vector<std::string> names = {"Wq", "Wk"};
    if (c.queryBias)
      names.push_back("bq");
    if (c.keyBias)
      names.push_back("bk");
    return names;
  }
  }
  return {};
}

/// Whether the layer divides by a normalizer state z (and returns final_z).
static bool hasNormalizer(const LayerConfig &c) {
  return (c.kind == LayerKind::Linear && c.normalize) || c.kind == LayerKind::Hedgehog;
}

std::vector<std::string> layerInputNames(const LayerConfig &c) {
  std::vector<std::string> names = {"q", "k", "v"};
  if (c.kind == LayerKind::TensorAttention)
    names = {"q", "k1", "v1", "k2", "v2"};
  if (c.kind == LayerKind::LigerHGRN2 ||
      (c.kind == LayerKind::LigerAttention && c.linearVariant == LayerKind::LigerHGRN2))
    names = {"q", "v"}; // the key is computed from the gate
  for (std::string &g : gateNames(c))
    names.push_back(g);
  if (c.initialState)
    names.push_back("initial_state");
  if (c.kind == LayerKind::MixtureOfMemories && c.sharedMemory && c.initialStateShared)
    names.push_back("initial_state_shared");
  if (hasNormalizer(c) && c.initialZ)
    names.push_back("initial_z");
  if (c.varlen)
    names.push_back("cu_seqlens");
  if (c.stateIndices)
    names.push_back("state_indices");
  return names;
}

std::vector<std::string> layerOutputNames(const LayerConfig &c) {
  if (hasNormalizer(c))
    return {"o", "final_state", "final_z"};
  if (c.kind == LayerKind::TransNormerDiag || c.kind == LayerKind::LoLCATs ||
      c.kind == LayerKind::TensorAttention)
    return {"o"};
  if (c.kind == LayerKind::MixtureOfMemories && c.sharedMemory)
    return {"o", "final_state", "final_state_shared"};
  return {"o", "final_state"};
}

/// The type of a named tensor of the layer.
static Type tensorType(StringRef name, const LayerConfig &c, const LayerShapes &s,
                       Type element, Type f32, Type i32) {
  int64_t B = s.batch, T = s.tokens, H = s.heads, dk = s.keyDim, dv = s.valueDim;
  int64_t N = s.sequences, F = s.features;
  auto t = [](ArrayRef<int64_t> shape, Type e) { return RankedTensorType::get(shape, e); };
  if (c.kind == LayerKind::MixtureOfMemories) {
    // Every memory's own tensors lead with M; the shared memory's are the usual ones.
    int64_t M = c.memories;
    if (name == "k")
      return t({M, B, T, H, dk}, element);
    if (name == "v")
      return t({M, B, T, H, dv}, element);
    if (name == "g" || name == "beta")
      return t({M, B, T, H}, element);
    if (name == "router_logits")
      return t({B, T, M}, element);
    if (name == "initial_state" || name == "final_state")
      return t({M, B, H, dk, dv}, f32);
    if (name == "k_shared")
      return t({B, T, H, dk}, element);
    if (name == "v_shared")
      return t({B, T, H, dv}, element);
    if (name == "g_shared" || name == "beta_shared")
      return t({B, T, H}, element);
    if (name == "initial_state_shared" || name == "final_state_shared")
      return t({B, H, dk, dv}, f32);
  }
  if (name == "Wq" || name == "Wk")
    return t({H, dk, F}, element);
  if (name == "bq" || name == "bk")
    return t({H, F}, element);
  if (name == "window_logit")
    return t({H}, element);
  if (name == "q_attn" || name == "k_attn")
    return t({B, T, H, s.attentionDim}, element);
  if (name == "q" || name == "k" || name == "gk" || name == "graw" || name == "k1" ||
      name == "k2")
    return t({B, T, H, dk}, element);
  if (name == "v" || name == "gv" || name == "o" || name == "v1" || name == "v2")
    return t({B, T, H, dv}, name == "o" ? f32 : element);
  if (name == "g" || name == "beta")
    return t({B, T, H}, element);
  int64_t rows = F > 0 ? 2 * F : dk; // the state's rows: the 2F Hedgehog features, or dk
  int64_t P = c.stateIndices ? s.stateSlots : N; // the states' leading dim
  Type state = s.stateType ? s.stateType : f32;
  if (name == "initial_state" || name == "final_state")
    return t({P, H, rows, dv}, state);
  if (name == "initial_z" || name == "final_z")
    return t({P, H, rows}, state);
  if (name == "state_indices")
    return t({N}, i32);
  if (name == "cu_seqlens")
    return t({ShapedType::isDynamic(N) ? N : N + 1}, i32);
  return {};
}

/// Tensor attention linearized with Taylor features: S1, z1 over φ(k1) and v1, S2, z2 over
/// φ(k2) and v2; o_t = (S1 ⊙ S2)ᵀ φ(scale·q_t) / φ(scale·q_t)ᵀ(z1 ⊙ z2).
static Value buildTensorAttention(OpBuilder &b, Location loc, const LayerConfig &c, Value q,
                                  Value k1, Value v1, Value k2, Value v2) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto qType = cast<RankedTensorType>(q.getType());
  int64_t B = qType.getDimSize(0), T = qType.getDimSize(1), H = qType.getDimSize(2);
  int64_t d = qType.getDimSize(3), dv = cast<RankedTensorType>(v1.getType()).getDimSize(3);
  int64_t features = 0;
  for (int64_t p = 0, power = 1; p <= c.degree; ++p, power *= d)
    features += power;
  auto matrix = StateType::get(ctx, {features, dv}, f32);
  auto normalizer = StateType::get(ctx, {features}, f32);
  SmallVector<Type> resultTypes = {RankedTensorType::get({B, T, H, dv}, f32)};
  for (int i = 0; i < 2; ++i) {
    resultTypes.push_back(RankedTensorType::get({B, H, features, dv}, f32));
    resultTypes.push_back(RankedTensorType::get({B, H, features}, f32));
  }
  auto rec = RecurrenceOp::create(b, loc, resultTypes, ValueRange{q, k1, v1, k2, v2},
                                  ValueRange{}, ValueRange{}, Value());
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&rec.getBody());
  Value S1 = body->addArgument(matrix, loc), z1 = body->addArgument(normalizer, loc);
  Value S2 = body->addArgument(matrix, loc), z2 = body->addArgument(normalizer, loc);
  auto keyType = VectorType::get({d}, f32), valueType = VectorType::get({dv}, f32);
  Value qT = body->addArgument(keyType, loc);
  Value k1T = body->addArgument(keyType, loc), v1T = body->addArgument(valueType, loc);
  Value k2T = body->addArgument(keyType, loc), v2T = body->addArgument(valueType, loc);
  b.setInsertionPointToStart(body);
  auto featureType = VectorType::get({features}, f32);
  auto phi = [&](Value x) {
    return PolynomialMapOp::create(b, loc, featureType, x, b.getI64IntegerAttr(c.degree));
  };
  Value scaled = qT;
  if (c.scale != 1.0) // the scale goes inside the feature map
    scaled = arith::MulFOp::create(
        b, loc, qT,
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(keyType, float(c.scale))));
  Value phiQ = phi(scaled), phi1 = phi(k1T), phi2 = phi(k2T);
  Value S1n = WriteOp::create(b, loc, matrix, S1, phi1, v1T, Value(), Value());
  Value z1n = WriteOp::create(b, loc, normalizer, z1, phi1, Value(), Value(), Value());
  Value S2n = WriteOp::create(b, loc, matrix, S2, phi2, v2T, Value(), Value());
  Value z2n = WriteOp::create(b, loc, normalizer, z2, phi2, Value(), Value(), Value());
  Value numerator = ReadProductOp::create(b, loc, valueType, S1n, S2n, phiQ);
  Value denominator = ReadProductOp::create(b, loc, f32, z1n, z2n, phiQ);
  Value o = arith::DivFOp::create(b, loc, numerator,
                                  vector::BroadcastOp::create(b, loc, valueType, denominator));
  YieldOp::create(b, loc, ValueRange{S1n, z1n, S2n, z2n}, ValueRange{o});
  return rec.getResult(0);
}

/// Normalized linear attention over Hedgehog features of the projected queries and keys:
/// S_t = S_{t-1} + φ_k v_tᵀ, z_t = z_{t-1} + φ_k, o_t = S_tᵀ φ_q / (φ_qᵀ z_t + eps).
static Operation *buildHedgehogRecurrence(OpBuilder &b, Location loc, const LayerConfig &c,
                                          Value uq, Value uk, Value v, Value initialState,
                                          Value initialZ, ArrayRef<Type> resultTypes) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t features = 2 * cast<RankedTensorType>(uq.getType()).getDimSize(3);
  int64_t dv = cast<RankedTensorType>(v.getType()).getDimSize(3);
  auto matrix = StateType::get(ctx, {features, dv}, f32);
  auto normalizer = StateType::get(ctx, {features}, f32);
  // Initial states are a prefix of the states: with only z given, z goes first.
  bool normalizerFirst = initialZ && !initialState;
  SmallVector<Value> inits;
  for (Value init : normalizerFirst ? SmallVector<Value>{initialZ}
                                    : SmallVector<Value>{initialState, initialZ})
    if (init)
      inits.push_back(init);
  SmallVector<Type> recTypes = {resultTypes[0]};
  recTypes.push_back(resultTypes[normalizerFirst ? 2 : 1]);
  recTypes.push_back(resultTypes[normalizerFirst ? 1 : 2]);
  auto rec = RecurrenceOp::create(b, loc, recTypes, ValueRange{uq, uk, v}, ValueRange{}, inits,
                                  Value());
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&rec.getBody());
  Value first = body->addArgument(normalizerFirst ? Type(normalizer) : Type(matrix), loc);
  Value second = body->addArgument(normalizerFirst ? Type(matrix) : Type(normalizer), loc);
  Value S = normalizerFirst ? second : first, z = normalizerFirst ? first : second;
  auto featureType = VectorType::get({features / 2}, f32);
  Value uqT = body->addArgument(featureType, loc), ukT = body->addArgument(featureType, loc);
  Value vT = body->addArgument(VectorType::get({dv}, f32), loc);
  b.setInsertionPointToStart(body);
  auto kind = FeatureMapKindAttr::get(ctx, c.hedgehogFeature);
  auto phiType = VectorType::get({features}, f32);
  Value phiQ = HedgehogMapOp::create(b, loc, phiType, kind, uqT);
  Value phiK = HedgehogMapOp::create(b, loc, phiType, kind, ukT);
  Value S1 = WriteOp::create(b, loc, matrix, S, phiK, vT, Value(), Value());
  Value z1 = WriteOp::create(b, loc, normalizer, z, phiK, Value(), Value(), Value());
  Value numerator = ReadOp::create(b, loc, VectorType::get({dv}, f32), S1, phiQ, FloatAttr(), IntegerAttr());
  Value denominator = ReadOp::create(b, loc, f32, z1, phiQ, FloatAttr(), IntegerAttr());
  denominator = arith::AddFOp::create(b, loc, denominator,
                                      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(c.eps)));
  Value o = arith::DivFOp::create(
      b, loc, numerator, vector::BroadcastOp::create(b, loc, numerator.getType(), denominator));
  YieldOp::create(b, loc, normalizerFirst ? ValueRange{z1, S1} : ValueRange{S1, z1},
                  ValueRange{o});
  return rec;
}

/// Why the layer's sizes are out of linrec's limits (include/linrec/Dialect/Limits.h), or
/// nothing: the builder makes ops without running their verifiers, so it checks them here.
static std::optional<std::string> checkLayerSizes(const LayerConfig &c, const LayerShapes &s) {
  SmallVector<std::pair<StringRef, int64_t>> dims = {
      {"B", s.batch}, {"T", s.tokens}, {"H", s.heads}, {"dk", s.keyDim}, {"dv", s.valueDim}};
  if (c.varlen)
    dims.push_back({"N", s.sequences});
  if (c.kind == LayerKind::Hedgehog || c.kind == LayerKind::LoLCATs)
    dims.push_back({"F", s.features});
  if (c.kind == LayerKind::LigerAttention)
    dims.push_back({"da", s.attentionDim});
  if (c.kind == LayerKind::MixtureOfMemories)
    dims.push_back({"M", c.memories});
  for (auto [name, size] : dims)
    if (std::optional<std::string> why = limits::checkDims({name}, {size}))
      return why;
  // Every tensor's elements: [B, T, H, max(dk, dv, 2F)] and the states [N, H, dk or 2F, dv].
  int64_t width = std::max({s.keyDim, s.valueDim, 2 * s.features, s.attentionDim});
  if (std::optional<std::string> why = limits::checkDims(
          {"B", "T", "H", "M", "dk"}, {s.batch, s.tokens, s.heads, std::max<int64_t>(c.memories, 1), width}))
    return why;
  return limits::checkDims({"B", "H", "M", "dk", "dv"},
                           {std::max(s.batch, s.sequences), s.heads,
                            std::max<int64_t>(c.memories, 1), width, s.valueDim});
}

llvm::Expected<func::FuncOp> buildLayerFunction(ModuleOp module, StringRef name,
                                          const LayerConfig &config, const LayerShapes &shapes) {
  auto fail = [](const Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
  };
  if (std::optional<std::string> why = checkLayerSizes(config, shapes))
    return fail(*why + " (include/linrec/Dialect/Limits.h)");
  LayerConfig c = config;
  // A window (or TransNormer's block) of T tokens or more holds every key a query sees: the
  // same layer as a window of T, without T x window sized band tensors.
  if (!ShapedType::isDynamic(shapes.tokens) && c.windowSize > shapes.tokens)
    c.windowSize = std::max<int64_t>(shapes.tokens, 1);
  if (c.kind == LayerKind::Lightning &&
      static_cast<int64_t>(c.logDecay.size()) != shapes.heads)
    return fail("lightning needs one log-decay per head: got " + Twine(c.logDecay.size()) +
                " for H = " + Twine(shapes.heads));
  for (double g : c.logDecay)
    if (!(g <= 0))
      return fail("lightning log-decays must be <= 0, got " + Twine(std::to_string(g)));
  if (c.initialZ && !hasNormalizer(c))
    return fail("initial_z belongs to a normalized layer (linear with normalize, hedgehog)");
  if (c.stateIndices) {
    if (!llvm::is_contained({LayerKind::Linear, LayerKind::Lightning, LayerKind::SimpleGLA,
                             LayerKind::GLA, LayerKind::DeltaNet, LayerKind::GatedDeltaNet,
                             LayerKind::KDA, LayerKind::LigerGLA, LayerKind::LigerHGRN2,
                             LayerKind::TransNormerNorm},
                            c.kind))
      return fail("state_indices (state pools) are for layers of one recurrence; " +
                  layerKindName(c.kind) + " layers keep one state per sequence");
    if (!c.initialState || (hasNormalizer(c) && !c.initialZ))
      return fail("with state_indices every state needs its pool: give initial_state" +
                  Twine(hasNormalizer(c) ? " and initial_z" : ""));
    if (!ShapedType::isDynamic(shapes.stateSlots) && shapes.stateSlots < 1)
      return fail("a state pool needs at least one slot, got " + Twine(shapes.stateSlots));
  }
  // Layers with tensor ops around the recurrence are built for static shapes, without varlen.
  bool tensorParts =
      llvm::is_contained({LayerKind::TensorAttention, LayerKind::TransNormerNorm,
                          LayerKind::TransNormerDiag, LayerKind::LigerAttention,
                          LayerKind::LoLCATs, LayerKind::Hedgehog, LayerKind::MixtureOfMemories},
                         c.kind);
  if ((c.kind == LayerKind::Hedgehog || c.kind == LayerKind::LoLCATs) && shapes.elementType &&
      !shapes.elementType.isF32())
    return fail(layerKindName(c.kind) + " layers take f32 inputs");
  if (tensorParts) {
    if (c.varlen)
      return fail(layerKindName(c.kind) + " layers take no cu_seqlens");
    for (int64_t d : {shapes.batch, shapes.tokens})
      if (ShapedType::isDynamic(d))
        return fail(layerKindName(c.kind) + " layers need a static batch and token count");
  }
  if ((c.kind == LayerKind::TransNormerDiag || c.kind == LayerKind::LigerAttention ||
       c.kind == LayerKind::LoLCATs) &&
      c.windowSize < 1)
    return fail("the window size must be positive");
  if (c.kind == LayerKind::TensorAttention && (c.degree < 0 || c.degree > 4))
    return fail("tensor_attention's degree must be in [0, 4], got " + Twine(c.degree));
  if (c.kind == LayerKind::MixtureOfMemories &&
      (c.memories < 1 || c.topk < 1 || c.topk > c.memories))
    return fail("mom needs M >= 1 memories and 1 <= topk <= M, got M = " + Twine(c.memories) +
                ", topk = " + Twine(c.topk));
  if (c.kind == LayerKind::LigerAttention &&
      c.linearVariant != LayerKind::LigerGLA && c.linearVariant != LayerKind::LigerHGRN2)
    return fail("liger_attention's linear variant is liger_gla or liger_hgrn2");
  if (c.kind == LayerKind::Hedgehog) {
    if (c.hedgehogFeature != FeatureMapKind::Softmax && c.hedgehogFeature != FeatureMapKind::Exp)
      return fail("hedgehog features are softmax or exp");

  }

  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  Location loc = b.getUnknownLoc();
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  Type element = shapes.elementType ? shapes.elementType : f32;
  LayerShapes s = shapes;
  if (!c.varlen)
    s.sequences = s.batch;

  std::vector<std::string> inputNames = layerInputNames(c), outputNames = layerOutputNames(c);
  SmallVector<Type> argTypes, resultTypes;
  for (const std::string &n : inputNames)
    argTypes.push_back(tensorType(n, c, s, element, f32, i32));
  for (const std::string &n : outputNames)
    resultTypes.push_back(tensorType(n, c, s, element, f32, i32));

  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, loc, name, b.getFunctionType(argTypes, resultTypes));
  for (auto [i, n] : llvm::enumerate(inputNames)) {
    func.setArgAttr(i, "linrec.name", b.getStringAttr(n));
    if (isGateLike(n))
      func.setArgAttr(i, "linrec.gate", b.getUnitAttr());
  }
  for (auto [i, n] : llvm::enumerate(outputNames))
    func.setResultAttr(i, "linrec.name", b.getStringAttr(n));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  auto arg = [&](StringRef n) -> Value {
    auto it = llvm::find(inputNames, n);
    return it == inputNames.end() ? Value() : entry->getArgument(it - inputNames.begin());
  };
  Value q = arg("q"), k = arg("k"), v = arg("v"), init = arg("initial_state"),
        cu = arg("cu_seqlens"), slots = arg("state_indices");
  FloatAttr scale = b.getF64FloatAttr(c.scale);
  Operation *layer = nullptr;
  SmallVector<Value> results; // set directly by layers made of several ops
  switch (c.kind) {
  case LayerKind::Linear: {
    auto op = LinearAttentionOp::create(b, loc, resultTypes, q, k, v, init, cu, slots, scale,
                                        arg("initial_z"),
                                        FeatureMapKindAttr::get(ctx, c.featureMap),
                                        c.normalize ? b.getUnitAttr() : UnitAttr(),
                                        b.getF32FloatAttr(c.eps));
    layer = op;
    break;
  }
  case LayerKind::Lightning: {
    auto decayType = RankedTensorType::get({shapes.heads}, b.getF64Type());
    Value decay = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(decayType, ArrayRef<double>(c.logDecay)));
    layer = LightningOp::create(b, loc, resultTypes, q, k, v, decay, init, cu, slots, scale);
    break;
  }
  case LayerKind::SimpleGLA:
    layer = SimpleGLAOp::create(b, loc, resultTypes, q, k, v, arg("g"), init, cu, slots, scale);
    break;
  case LayerKind::GLA:
    layer = GLAOp::create(b, loc, resultTypes, q, k, v, arg("gk"), arg("gv"), init, cu, slots, scale);
    break;
  case LayerKind::DeltaNet:
    layer = DeltaNetOp::create(b, loc, resultTypes, q, k, v, arg("beta"), init, cu, slots, scale);
    break;
  case LayerKind::GatedDeltaNet:
    layer = GatedDeltaNetOp::create(b, loc, resultTypes, q, k, v, arg("g"), arg("beta"), init,
                                    cu, slots, scale);
    break;
  case LayerKind::KDA:
    layer = KDAOp::create(b, loc, resultTypes, q, k, v, arg("gk"), arg("beta"), init, cu,
                          slots, scale);
    break;
  case LayerKind::LigerGLA:
    layer = LigerGLAOp::create(b, loc, resultTypes, q, k, v, arg("graw"), init, cu, slots, scale,
                               b.getF64FloatAttr(c.gateNormalizer));
    break;
  case LayerKind::LigerHGRN2:
    layer = LigerHGRN2Op::create(b, loc, resultTypes, q, v, arg("graw"), init, cu, slots, scale);
    break;
  case LayerKind::TransNormerNorm: {
    auto linear = LinearAttentionOp::create(b, loc, resultTypes, q, k, v, init, cu, slots, scale,
                                            Value(), FeatureMapKindAttr::get(ctx, c.featureMap),
                                            UnitAttr(), b.getF32FloatAttr(1e-6f));
    Value normalized =
        HeadsRmsNormOp::create(b, loc, linear.getO().getType(), linear.getO(), b.getF64FloatAttr(c.eps));
    func::ReturnOp::create(b, loc, ValueRange{normalized, linear.getFinalState()});
    if (failed(mlir::verify(func)))
      return fail("the built layer does not verify (see the diagnostics above)");
    return func;
  }
  case LayerKind::TransNormerDiag:
    results = buildTransNormerDiag(b, loc, c, q, k, v);
    break;
  case LayerKind::MixtureOfMemories:
    results = buildMixtureOfMemories(b, loc, c, s, arg);
    break;
  case LayerKind::TensorAttention:
    results = {buildTensorAttention(b, loc, c, q, arg("k1"), arg("v1"), arg("k2"), arg("v2"))};
    break;
  case LayerKind::LigerAttention:
    results = buildLigerAttention(b, loc, c, q, k, v, arg("graw"), arg("q_attn"), arg("k_attn"),
                                  resultTypes[1]);
    break;
  case LayerKind::LoLCATs: {
    auto built = buildLoLCATs(b, loc, c, q, k, v, arg("Wq"), arg("Wk"), arg("window_logit"));
    if (!built) {
      func.erase();
      return built.takeError();
    }
    results = std::move(*built);
    break;
  }
  case LayerKind::Hedgehog: {
    Value uq = buildProjection(b, loc, q, arg("Wq"), arg("bq"));
    Value uk = buildProjection(b, loc, k, arg("Wk"), arg("bk"));
    layer = buildHedgehogRecurrence(b, loc, c, uq, uk, v, init, arg("initial_z"), resultTypes);
    break;
  }
  }
  if (layer)
    results.assign(layer->getResults().begin(), layer->getResults().end());
  // The hedgehog recurrence returns (o, z, S) when only z has an initial value.
  if (c.kind == LayerKind::Hedgehog && c.initialZ && !c.initialState)
    std::swap(results[1], results[2]);
  func::ReturnOp::create(b, loc, results);
  if (failed(mlir::verify(func)))
    return fail("the built layer does not verify (see the diagnostics above)");
  return func;
}

} // namespace linrec
