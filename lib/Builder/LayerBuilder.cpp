//===- LayerBuilder.cpp - build recurrence layers from parameters ---------===//

#include "linrec/Builder/LayerBuilder.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

namespace linrec {

static constexpr std::pair<LayerKind, const char *> kLayerNames[] = {
    {LayerKind::Linear, "linear"},         {LayerKind::Lightning, "lightning"},
    {LayerKind::SimpleGLA, "simple_gla"},  {LayerKind::GLA, "gla"},
    {LayerKind::DeltaNet, "delta"},        {LayerKind::GatedDeltaNet, "gated_delta"},
    {LayerKind::KDA, "kda"},               {LayerKind::LigerGLA, "liger_gla"},
    {LayerKind::LigerHGRN2, "liger_hgrn2"}};

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
  }
  return {};
}

std::vector<std::string> layerInputNames(const LayerConfig &c) {
  std::vector<std::string> names = {"q", "k", "v"};
  if (c.kind == LayerKind::LigerHGRN2) // the key is computed from the gate
    names = {"q", "v"};
  for (std::string &g : gateNames(c))
    names.push_back(g);
  if (c.initialState)
    names.push_back("initial_state");
  if (c.kind == LayerKind::Linear && c.normalize && c.initialZ)
    names.push_back("initial_z");
  if (c.varlen)
    names.push_back("cu_seqlens");
  return names;
}

std::vector<std::string> layerOutputNames(const LayerConfig &c) {
  if (c.kind == LayerKind::Linear && c.normalize)
    return {"o", "final_state", "final_z"};
  return {"o", "final_state"};
}

/// The type of a named tensor of the layer.
static Type tensorType(StringRef name, const LayerShapes &s, Type element, Type f32,
                       Type i32) {
  int64_t B = s.batch, T = s.tokens, H = s.heads, dk = s.keyDim, dv = s.valueDim;
  int64_t N = s.sequences;
  auto t = [](ArrayRef<int64_t> shape, Type e) { return RankedTensorType::get(shape, e); };
  if (name == "q" || name == "k" || name == "gk" || name == "graw")
    return t({B, T, H, dk}, element);
  if (name == "v" || name == "gv" || name == "o")
    return t({B, T, H, dv}, name == "o" ? f32 : element);
  if (name == "g" || name == "beta")
    return t({B, T, H}, element);
  if (name == "initial_state" || name == "final_state")
    return t({N, H, dk, dv}, f32);
  if (name == "initial_z" || name == "final_z")
    return t({N, H, dk}, f32);
  if (name == "cu_seqlens")
    return t({ShapedType::isDynamic(N) ? N : N + 1}, i32);
  return {};
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
  if (c.initialZ && !(c.kind == LayerKind::Linear && c.normalize))
    return fail("initial_z belongs to a normalized linear layer");

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
  }
  func::ReturnOp::create(b, loc, layer->getResults());
  if (failed(mlir::verify(func)))
    return fail("the built layer does not verify (see the diagnostics above)");
  return func;
}

} // namespace linrec
