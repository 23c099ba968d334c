//===- LayerBuilderTest.cpp - the model-builder API -----------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"

#include "gtest/gtest.h"

using namespace linrec;

namespace {

class LayerBuilderTest : public ::testing::Test {
protected:
  LayerBuilderTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  }
  std::string buildError(const LayerConfig &config, const LayerShapes &shapes) {
    auto func = buildLayerFunction(*module, "f", config, shapes);
    EXPECT_FALSE(static_cast<bool>(func));
    return func ? "" : llvm::toString(func.takeError());
  }
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

TEST_F(LayerBuilderTest, ModelNamesRoundTrip) {
  for (const char *name : {"linear", "lightning", "simple_gla", "gla", "delta", "gated_delta", "kda"}) {
    std::optional<LayerKind> kind = parseLayerKind(name);
    ASSERT_TRUE(kind.has_value()) << name;
    EXPECT_EQ(layerKindName(*kind), name);
  }
  EXPECT_FALSE(parseLayerKind("mamba").has_value());
}

TEST_F(LayerBuilderTest, ArgumentsAndResultsCarryTheirNames) {
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  config.initialState = true;
  config.varlen = true;
  LayerShapes shapes;
  shapes.tokens = mlir::ShapedType::kDynamic;
  shapes.sequences = 3;
  shapes.heads = 4;
  shapes.keyDim = 16;
  shapes.valueDim = 32;
  auto func = buildLayerFunction(*module, "gdn", config, shapes);
  ASSERT_TRUE(static_cast<bool>(func)) << llvm::toString(func.takeError());
  std::vector<std::string> expected = {"q", "k", "v", "g", "beta", "initial_state", "cu_seqlens"};
  EXPECT_EQ(layerInputNames(config), expected);
  for (unsigned i = 0; i < expected.size(); ++i)
    EXPECT_EQ(func->getArgAttrOfType<mlir::StringAttr>(i, "linrec.name").str(), expected[i]);
  EXPECT_EQ(func->getResultAttrOfType<mlir::StringAttr>(1, "linrec.name").str(), "final_state");
  // The state of every sequence: [N, H, dk, dv]; cu_seqlens has N + 1 entries.
  EXPECT_EQ(mlir::cast<mlir::RankedTensorType>(func->getResultTypes()[1]).getShape(),
            (llvm::ArrayRef<int64_t>{3, 4, 16, 32}));
  EXPECT_EQ(mlir::cast<mlir::RankedTensorType>(func->getArgumentTypes()[6]).getShape(),
            (llvm::ArrayRef<int64_t>{4}));
}

TEST_F(LayerBuilderTest, InconsistentConfigurationsAreErrors) {
  LayerShapes shapes;
  shapes.heads = 3;
  LayerConfig lightning;
  lightning.kind = LayerKind::Lightning;
  lightning.logDecay = {-0.1, -0.2};
  EXPECT_NE(buildError(lightning, shapes).find("one log-decay per head: got 2 for H = 3"),
            std::string::npos);
  lightning.logDecay = {-0.1, 0.2, -0.3};
  EXPECT_NE(buildError(lightning, shapes).find("log-decays must be <= 0"), std::string::npos);

  LayerConfig linear;
  linear.initialZ = true;
  EXPECT_NE(buildError(linear, shapes).find("initial_z belongs to a normalized layer"),
            std::string::npos);

  LayerConfig hedgehog;
  hedgehog.kind = LayerKind::Hedgehog;
  EXPECT_NE(buildError(hedgehog, shapes).find("dim F = 0 is out of range [1, 65536]"),
            std::string::npos);
  shapes.features = 8;
  hedgehog.hedgehogFeature = FeatureMapKind::Relu;
  EXPECT_NE(buildError(hedgehog, shapes).find("softmax or exp"), std::string::npos);

  LayerConfig lolcats;
  lolcats.kind = LayerKind::LoLCATs;
  lolcats.window = WindowKind::Block;
  EXPECT_NE(buildError(lolcats, shapes).find("lolcats windows are sliding or terraced"),
            std::string::npos);
  lolcats.window = WindowKind::Sliding;
  lolcats.windowSize = 0;
  EXPECT_NE(buildError(lolcats, shapes).find("window size must be positive"), std::string::npos);
  lolcats.windowSize = 64;
  shapes.tokens = mlir::ShapedType::kDynamic;
  EXPECT_NE(buildError(lolcats, shapes).find("need a static batch and token count"),
            std::string::npos);
}

} // namespace
