//===- LayerBuilder.cpp - build recurrence layers from parameters ---------===//

#include "linrec/Builder/LayerBuilder.h"

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
    {LayerKind::TransNormerNorm, "transnormer_norm"}};

std::optional<LayerKind> parseLayerKind(StringRef model) {
  for (auto [kind, name] : kLayerNames)
    if (model == name)
      return kind;
  return std::nullopt;
}

StringRef layerKindName(LayerKind kind) {
  for (auto [k, name] : kLayerNames)
    if (k == kind)
      return name;
  return "?";
}

/// The layer's own gate inputs, in the order the named op takes them.
static std::vector<std::string> gateNames(const LayerConfig &c) {
  switch (c.kind) {
  case LayerKind::Linear:
  case LayerKind::Lightning:
  case LayerKind::TransNormerNorm:
    return {};
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
  case LayerKind::Hedgehog:
    return c.projectionBias ? std::vector<std::string>{"Wq", "Wk", "bq", "bk"}
                            : std::vector<std::string>{"Wq", "Wk"};
  }
  return {};
}

/// Whether the layer divides by a normalizer state z (and returns final_z).
static bool hasNormalizer(const LayerConfig &c) {
  return (c.kind == LayerKind::Linear && c.normalize) || c.kind == LayerKind::Hedgehog;
}

std::vector<std::string> layerInputNames(const LayerConfig &c) {
  std::vector<std::string> names = {"q", "k", "v"};
  if (c.kind == LayerKind::LigerHGRN2) // the key is computed from the gate
    names = {"q", "v"};
  for (std::string &g : gateNames(c))
    names.push_back(g);
  if (c.initialState)
    names.push_back("initial_state");
  if (hasNormalizer(c) && c.initialZ)
    names.push_back("initial_z");
  if (c.varlen)
    names.push_back("cu_seqlens");
  return names;
}

std::vector<std::string> layerOutputNames(const LayerConfig &c) {
  if (hasNormalizer(c))
    return {"o", "final_state", "final_z"};
  return {"o", "final_state"};
}

/// The type of a named tensor of the layer.
static Type tensorType(StringRef name, const LayerShapes &s, Type element, Type f32,
                       Type i32) {
  int64_t B = s.batch, T = s.tokens, H = s.heads, dk = s.keyDim, dv = s.valueDim;
  int64_t N = s.sequences, F = s.features;
  auto t = [](ArrayRef<int64_t> shape, Type e) { return RankedTensorType::get(shape, e); };
  if (name == "Wq" || name == "Wk")
    return t({H, dk, F}, element);
  if (name == "bq" || name == "bk")
    return t({H, F}, element);
  if (name == "q" || name == "k" || name == "gk" || name == "graw")
    return t({B, T, H, dk}, element);
  if (name == "v" || name == "gv" || name == "o")
    return t({B, T, H, dv}, name == "o" ? f32 : element);
  if (name == "g" || name == "beta")
    return t({B, T, H}, element);
  int64_t rows = F > 0 ? 2 * F : dk; // the state's rows: the 2F Hedgehog features, or dk
  if (name == "initial_state" || name == "final_state")
    return t({N, H, rows, dv}, f32);
  if (name == "initial_z" || name == "final_z")
    return t({N, H, rows}, f32);
  if (name == "cu_seqlens")
    return t({ShapedType::isDynamic(N) ? N : N + 1}, i32);
  return {};
}

/// u[b, t, h, f] = Σ_d x[b, t, h, d] W[h, d, f] (+ bias[h, f]): the per-head projection of
/// Hedgehog's feature map, as linalg.generic ops on f32 tensors.
static Value buildProjection(OpBuilder &b, Location loc, Value x, Value weights, Value bias) {
  MLIRContext *ctx = b.getContext();
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t features = cast<RankedTensorType>(weights.getType()).getDimSize(2);
  SmallVector<int64_t> shape(xType.getShape());
  shape.back() = features;
  Type f32 = b.getF32Type();
  Value empty = tensor::EmptyOp::create(b, loc, shape, f32);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  // Loops (b, t, h, f, d); d is the reduction.
  AffineExpr B, T, H, F, D;
  bindDims(ctx, B, T, H, F, D);
  auto map = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(5, 0, results, ctx); };
  using utils::IteratorType;
  auto project = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{x, weights}, ValueRange{init},
      ArrayRef<AffineMap>{map({B, T, H, D}), map({H, D, F}), map({B, T, H, F})},
      ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                             IteratorType::parallel, IteratorType::parallel,
                             IteratorType::reduction},
      [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value product = arith::MulFOp::create(nested, nestedLoc, args[0], args[1]);
        linalg::YieldOp::create(nested, nestedLoc,
                                ValueRange{arith::AddFOp::create(nested, nestedLoc, args[2],
                                                                 product)});
      });
  Value u = project.getResult(0);
  if (!bias)
    return u;
  auto map4 = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(4, 0, results, ctx); };
  auto addBias = linalg::GenericOp::create(
      b, loc, TypeRange{u.getType()}, ValueRange{u, bias}, ValueRange{empty},
      ArrayRef<AffineMap>{map4({B, T, H, F}), map4({H, F}), map4({B, T, H, F})},
      SmallVector<IteratorType>(4, IteratorType::parallel),
      [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                ValueRange{arith::AddFOp::create(nested, nestedLoc, args[0],
                                                                 args[1])});
      });
  return addBias.getResult(0);
}

/// TransNormer's SimpleRMSNorm over all heads of a token: x / (‖x‖₂/√D + eps), D = H·dv, with
/// no gain; eps is added to the RMS. As linalg.generic ops (a reduction, then a broadcast).
static Value buildHeadsRmsNorm(OpBuilder &b, Location loc, Value x, float eps) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(x.getType());
  int64_t width = type.getDimSize(2) * type.getDimSize(3);
  Type f32 = b.getF32Type();
  AffineExpr B, T, H, C;
  bindDims(ctx, B, T, H, C);
  auto map = [&](ArrayRef<AffineExpr> results) { return AffineMap::get(4, 0, results, ctx); };
  using utils::IteratorType;
  Value sumsEmpty = tensor::EmptyOp::create(b, loc, type.getShape().take_front(2), f32);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value sumsInit = linalg::FillOp::create(b, loc, zero, sumsEmpty).getResult(0);
  Value sums =
      linalg::GenericOp::create(
          b, loc, TypeRange{sumsInit.getType()}, ValueRange{x}, ValueRange{sumsInit},
          ArrayRef<AffineMap>{map({B, T, H, C}), map({B, T})},
          ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                                 IteratorType::reduction, IteratorType::reduction},
          [](OpBuilder &n, Location l, ValueRange args) {
            Value square = arith::MulFOp::create(n, l, args[0], args[0]);
            linalg::YieldOp::create(n, l, ValueRange{arith::AddFOp::create(n, l, args[1], square)});
          })
          .getResult(0);
  Value outEmpty = tensor::EmptyOp::create(b, loc, type.getShape(), f32);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{x, sums}, ValueRange{outEmpty},
             ArrayRef<AffineMap>{map({B, T, H, C}), map({B, T}), map({B, T, H, C})},
             SmallVector<IteratorType>(4, IteratorType::parallel),
             [&](OpBuilder &n, Location l, ValueRange args) {
               Value meanSquare = arith::DivFOp::create(
                   n, l, args[1], arith::ConstantOp::create(n, l, n.getF32FloatAttr(width)));
               Value rms = math::SqrtOp::create(n, l, meanSquare);
               Value denominator = arith::AddFOp::create(
                   n, l, rms, arith::ConstantOp::create(n, l, n.getF32FloatAttr(eps)));
               linalg::YieldOp::create(n, l,
                                       ValueRange{arith::DivFOp::create(n, l, args[0], denominator)});
             })
      .getResult(0);
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
  Value numerator = ReadOp::create(b, loc, VectorType::get({dv}, f32), S1, phiQ, FloatAttr());
  Value denominator = ReadOp::create(b, loc, f32, z1, phiQ, FloatAttr());
  denominator = arith::AddFOp::create(b, loc, denominator,
                                      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(c.eps)));
  Value o = arith::DivFOp::create(
      b, loc, numerator, vector::BroadcastOp::create(b, loc, numerator.getType(), denominator));
  YieldOp::create(b, loc, normalizerFirst ? ValueRange{z1, S1} : ValueRange{S1, z1},
                  ValueRange{o});
  return rec;
}

llvm::Expected<func::FuncOp> buildLayerFunction(ModuleOp module, StringRef name,
                                          const LayerConfig &c, const LayerShapes &shapes) {
  auto fail = [](const Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
  };
  if (c.kind == LayerKind::Lightning &&
      static_cast<int64_t>(c.logDecay.size()) != shapes.heads)
    return fail("lightning needs one log-decay per head: got " + Twine(c.logDecay.size()) +
                " for H = " + Twine(shapes.heads));
  for (double g : c.logDecay)
    if (!(g <= 0))
      return fail("lightning log-decays must be <= 0, got " + Twine(std::to_string(g)));
  if (c.initialZ && !hasNormalizer(c))
    return fail("initial_z belongs to a normalized layer (linear with normalize, hedgehog)");
  if (c.kind == LayerKind::TransNormerNorm) {
    if (c.varlen)
      return fail("transnormer_norm layers take no cu_seqlens");
    for (int64_t d : {shapes.batch, shapes.tokens})
      if (ShapedType::isDynamic(d))
        return fail("transnormer_norm layers need a static batch and token count");
  }
  if (c.kind == LayerKind::Hedgehog) {
    if (shapes.features <= 0)
      return fail("hedgehog needs the projection's feature count F > 0");
    if (c.hedgehogFeature != FeatureMapKind::Softmax && c.hedgehogFeature != FeatureMapKind::Exp)
      return fail("hedgehog features are softmax or exp");
    if (c.varlen)
      return fail("hedgehog layers take no cu_seqlens");
    if (shapes.elementType && !shapes.elementType.isF32())
      return fail("hedgehog layers take f32 inputs");
    for (int64_t d : {shapes.batch, shapes.tokens})
      if (ShapedType::isDynamic(d))
        return fail("hedgehog layers need a static batch and token count");
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
    argTypes.push_back(tensorType(n, s, element, f32, i32));
  for (const std::string &n : outputNames)
    resultTypes.push_back(tensorType(n, s, element, f32, i32));

  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, loc, name, b.getFunctionType(argTypes, resultTypes));
  for (auto [i, n] : llvm::enumerate(inputNames))
    func.setArgAttr(i, "linrec.name", b.getStringAttr(n));
  for (auto [i, n] : llvm::enumerate(outputNames))
    func.setResultAttr(i, "linrec.name", b.getStringAttr(n));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  auto arg = [&](StringRef n) -> Value {
    auto it = llvm::find(inputNames, n);
    return it == inputNames.end() ? Value() : entry->getArgument(it - inputNames.begin());
  };
  Value q = arg("q"), k = arg("k"), v = arg("v"), init = arg("initial_state"),
        cu = arg("cu_seqlens");
  FloatAttr scale = b.getF64FloatAttr(c.scale);
  Operation *layer = nullptr;
  switch (c.kind) {
  case LayerKind::Linear: {
    auto op = LinearAttentionOp::create(b, loc, resultTypes, q, k, v, init, cu, scale,
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
    layer = LightningOp::create(b, loc, resultTypes, q, k, v, decay, init, cu, scale);
    break;
  }
  case LayerKind::SimpleGLA:
    layer = SimpleGLAOp::create(b, loc, resultTypes, q, k, v, arg("g"), init, cu, scale);
    break;
  case LayerKind::GLA:
    layer = GLAOp::create(b, loc, resultTypes, q, k, v, arg("gk"), arg("gv"), init, cu, scale);
    break;
  case LayerKind::DeltaNet:
    layer = DeltaNetOp::create(b, loc, resultTypes, q, k, v, arg("beta"), init, cu, scale);
    break;
  case LayerKind::GatedDeltaNet:
    layer = GatedDeltaNetOp::create(b, loc, resultTypes, q, k, v, arg("g"), arg("beta"), init,
                                    cu, scale);
    break;
  case LayerKind::KDA:
    layer = KDAOp::create(b, loc, resultTypes, q, k, v, arg("gk"), arg("beta"), init, cu,
                          scale);
    break;
  case LayerKind::LigerGLA:
    layer = LigerGLAOp::create(b, loc, resultTypes, q, k, v, arg("graw"), init, cu, scale,
                               b.getF64FloatAttr(c.gateNormalizer));
    break;
  case LayerKind::LigerHGRN2:
    layer = LigerHGRN2Op::create(b, loc, resultTypes, q, v, arg("graw"), init, cu, scale);
    break;
  case LayerKind::TransNormerNorm: {
    auto linear = LinearAttentionOp::create(b, loc, resultTypes, q, k, v, init, cu, scale,
                                            Value(), FeatureMapKindAttr::get(ctx, c.featureMap),
                                            UnitAttr(), b.getF32FloatAttr(1e-6f));
    Value normalized = buildHeadsRmsNorm(b, loc, linear.getO(), c.eps);
    func::ReturnOp::create(b, loc, ValueRange{normalized, linear.getFinalState()});
    if (failed(mlir::verify(func)))
      return fail("the built layer does not verify (see the diagnostics above)");
    return func;
  }
  case LayerKind::Hedgehog: {
    Value uq = buildProjection(b, loc, q, arg("Wq"), arg("bq"));
    Value uk = buildProjection(b, loc, k, arg("Wk"), arg("bk"));
    layer = buildHedgehogRecurrence(b, loc, c, uq, uk, v, init, arg("initial_z"), resultTypes);
    break;
  }
  }
  SmallVector<Value> results(layer->getResults());
  // The hedgehog recurrence returns (o, z, S) when only z has an initial value.
  if (c.kind == LayerKind::Hedgehog && c.initialZ && !c.initialState)
    std::swap(results[1], results[2]);
  func::ReturnOp::create(b, loc, results);
  if (failed(mlir::verify(func)))
    return fail("the built layer does not verify (see the diagnostics above)");
  return func;
}

} // namespace linrec
