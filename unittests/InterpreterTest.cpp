//===- InterpreterTest.cpp - the float64 reference against other forms ----===//
//
// The interpreter evaluates a recurrence body op by op. These tests check it against forms
// written independently: the quadratic (attention-like) closed forms of the decay models, an
// explicit dense-matrix token loop for the delta rules, algebraic identities (the delta rule
// memorizes its last key), and the consistency of initial states, prefill + continuation and
// variable-length packing.
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"

#include "gtest/gtest.h"

#include <cmath>
#include <map>
#include <random>

using namespace linrec;

namespace {

using Inputs = std::map<std::string, Array>;

class InterpreterTest : public ::testing::Test {
protected:
  InterpreterTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Builds the layer for `inputs`' shapes and runs it through the interpreter.
  llvm::Expected<std::map<std::string, Array>> run(LayerConfig config, const Inputs &inputs) {
    config.initialState = inputs.count("initial_state");
    config.initialZ = inputs.count("initial_z");
    config.valueGate = inputs.count("gv");
    config.varlen = inputs.count("cu_seqlens");
    const Array &q = inputs.at("q"), &v = inputs.at("v");
    LayerShapes shapes;
    shapes.batch = q.shape[0];
    shapes.tokens = q.shape[1];
    shapes.heads = q.shape[2];
    shapes.keyDim = q.shape[3];
    shapes.valueDim = v.shape[3];
    if (config.varlen)
      shapes.sequences = inputs.at("cu_seqlens").numElements() - 1;
    mlir::OpBuilder builder(&context);
    mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(builder.getUnknownLoc());
    auto func = buildLayerFunction(*module, "layer", config, shapes);
    if (!func)
      return func.takeError();
    std::vector<Array> args;
    for (const std::string &name : layerInputNames(config))
      args.push_back(inputs.at(name));
    auto results = interpretFunction(*module, "layer", args);
    if (!results)
      return results.takeError();
    std::map<std::string, Array> named;
    std::vector<std::string> names = layerOutputNames(config);
    for (size_t i = 0; i < names.size(); ++i)
      named[names[i]] = (*results)[i];
    return named;
  }

  std::map<std::string, Array> runOk(const LayerConfig &config, const Inputs &inputs) {
    auto results = run(config, inputs);
    if (!results) {
      ADD_FAILURE() << llvm::toString(results.takeError());
      return {};
    }
    return *results;
  }

  Array normal(std::vector<int64_t> shape, double scale = 1.0) {
    Array a(DType::F64, std::move(shape));
    std::normal_distribution<double> dist(0.0, scale);
    for (double &x : a.data)
      x = dist(rng);
    return a;
  }
  /// log-decays in [lo, hi] (<= 0).
  Array logDecay(std::vector<int64_t> shape, double lo, double hi) {
    Array a(DType::F64, std::move(shape));
    std::uniform_real_distribution<double> dist(lo, hi);
    for (double &x : a.data)
      x = dist(rng);
    return a;
  }
  Array uniform(std::vector<int64_t> shape, double lo, double hi) {
    return logDecay(std::move(shape), lo, hi);
  }
  /// Rows of the last dim normalized to unit length.
  Array unitRows(std::vector<int64_t> shape) {
    Array a = normal(shape);
    int64_t d = shape.back();
    for (int64_t base = 0; base < a.numElements(); base += d) {
      double n = 0;
      for (int64_t i = 0; i < d; ++i)
        n += a.data[base + i] * a.data[base + i];
      for (int64_t i = 0; i < d; ++i)
        a.data[base + i] /= std::sqrt(n);
    }
    return a;
  }

  mlir::MLIRContext context;
  std::mt19937_64 rng{42};
};

double at(const Array &a, std::initializer_list<int64_t> index) {
  int64_t flat = 0, d = 0;
  for (int64_t i : index)
    flat = flat * a.shape[d++] + i;
  return a.data[flat];
}

void expectClose(const Array &out, const Array &ref, double tolerance = 1e-12) {
  ASSERT_EQ(out.shape, ref.shape);
  EXPECT_FALSE(hasNonFinite(out));
  EXPECT_LE(relativeRmsError(out, ref), tolerance);
}

/// o_t = Σ_{j<=t} w(t, j, i, c) · scale·q_t[i] · k_j[i] · v_j[c]: the quadratic form of every
/// diagonal-decay model, with w the decay between tokens j and t (per key i, value c).
template <typename Weight>
Array quadraticForm(const Array &q, const Array &k, const Array &v, double scale, Weight w) {
  int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], dk = q.shape[3], dv = v.shape[3];
  Array o(DType::F64, {B, T, H, dv});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < dv; ++c) {
          double sum = 0;
          for (int64_t j = 0; j <= t; ++j)
            for (int64_t i = 0; i < dk; ++i)
              sum += w(b, h, t, j, i, c) * scale * at(q, {b, t, h, i}) * at(k, {b, j, h, i}) *
                     at(v, {b, j, h, c});
          o.data[((b * T + t) * H + h) * dv + c] = sum;
        }
  return o;
}

TEST_F(InterpreterTest, LinearAttentionIsCausalAttentionWithoutSoftmax) {
  Inputs in = {{"q", normal({2, 9, 3, 5})}, {"k", normal({2, 9, 3, 5})}, {"v", normal({2, 9, 3, 4})}};
  LayerConfig config;
  config.scale = 0.3;
  auto out = runOk(config, in);
  expectClose(out["o"], quadraticForm(in["q"], in["k"], in["v"], 0.3,
                                      [](auto...) { return 1.0; }));
}

TEST_F(InterpreterTest, NormalizedLinearAttentionWithFeatureMap) {
  Inputs in = {{"q", normal({1, 11, 2, 4})}, {"k", normal({1, 11, 2, 4})}, {"v", normal({1, 11, 2, 3})}};
  LayerConfig config;
  config.normalize = true;
  config.eps = 1e-3;
  config.scale = 0.5;
  config.featureMap = FeatureMapKind::EluPlusOne;
  auto out = runOk(config, in);
  auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
  Array expected(DType::F64, {1, 11, 2, 3});
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t t = 0; t < 11; ++t) {
      double den = 0;
      std::vector<double> num(3, 0.0);
      for (int64_t j = 0; j <= t; ++j) {
        double s = 0;
        for (int64_t i = 0; i < 4; ++i)
          s += 0.5 * phi(at(in["q"], {0, t, h, i})) * phi(at(in["k"], {0, j, h, i}));
        den += s;
        for (int64_t c = 0; c < 3; ++c)
          num[c] += s * at(in["v"], {0, j, h, c});
      }
      for (int64_t c = 0; c < 3; ++c)
        // eps is an f32 constant of the body, like every per-token constant.
        expected.data[(t * 2 + h) * 3 + c] = num[c] / (den + static_cast<double>(1e-3f));
    }
  expectClose(out["o"], expected);
  ASSERT_EQ(out["final_z"].shape, (std::vector<int64_t>{1, 2, 4}));
  double z = 0;
  for (int64_t j = 0; j < 11; ++j)
    z += phi(at(in["k"], {0, j, 1, 2}));
  EXPECT_NEAR(at(out["final_z"], {0, 1, 2}), z, 1e-12);
}

TEST_F(InterpreterTest, SimpleGLAIsAttentionWithCumulativeScalarDecay) {
  Inputs in = {{"q", normal({2, 13, 2, 4})}, {"k", normal({2, 13, 2, 4})},
               {"v", normal({2, 13, 2, 6})}, {"g", logDecay({2, 13, 2}, -3.0, 0.0)}};
  LayerConfig config;
  config.kind = LayerKind::SimpleGLA;
  config.scale = 0.7;
  auto out = runOk(config, in);
  const Array &g = in["g"];
  expectClose(out["o"], quadraticForm(in["q"], in["k"], in["v"], 0.7,
                                      [&](int64_t b, int64_t h, int64_t t, int64_t j, auto...) {
                                        double sum = 0;
                                        for (int64_t s = j + 1; s <= t; ++s)
                                          sum += at(g, {b, s, h});
                                        return std::exp(sum);
                                      }));
}

TEST_F(InterpreterTest, GLAIsAttentionWithPerKeyAndPerValueDecay) {
  Inputs in = {{"q", normal({1, 10, 2, 5})}, {"k", normal({1, 10, 2, 5})},
               {"v", normal({1, 10, 2, 3})}, {"gk", logDecay({1, 10, 2, 5}, -2.0, 0.0)},
               {"gv", logDecay({1, 10, 2, 3}, -1.0, 0.0)}};
  LayerConfig config;
  config.kind = LayerKind::GLA;
  auto out = runOk(config, in);
  const Array &gk = in["gk"], &gv = in["gv"];
  expectClose(out["o"],
              quadraticForm(in["q"], in["k"], in["v"], 1.0,
                            [&](int64_t b, int64_t h, int64_t t, int64_t j, int64_t i, int64_t c) {
                              double sum = 0;
                              for (int64_t s = j + 1; s <= t; ++s)
                                sum += at(gk, {b, s, h, i}) + at(gv, {b, s, h, c});
                              return std::exp(sum);
                            }));
}

TEST_F(InterpreterTest, LightningIsSimpleGLAWithAConstantGate) {
  Inputs in = {{"q", normal({2, 8, 3, 4})}, {"k", normal({2, 8, 3, 4})}, {"v", normal({2, 8, 3, 4})}};
  LayerConfig lightning;
  lightning.kind = LayerKind::Lightning;
  lightning.logDecay = {-0.5, -0.125, -1e-5};
  lightning.scale = 0.5;
  auto constant = runOk(lightning, in);

  Inputs gated = in;
  gated["g"] = Array(DType::F64, {2, 8, 3});
  for (int64_t i = 0; i < gated["g"].numElements(); ++i)
    gated["g"].data[i] = lightning.logDecay[i % 3];
  LayerConfig simple;
  simple.kind = LayerKind::SimpleGLA;
  simple.scale = 0.5;
  auto dataDependent = runOk(simple, gated);
  expectClose(constant["o"], dataDependent["o"], 0);
  expectClose(constant["final_state"], dataDependent["final_state"], 0);
}

/// The delta family token by token with explicit dense matrices: S ← A S + β k vᵀ with
/// A = (I − β k kᵀ) · diag(e^{g + gk}) materialized as a dk × dk matrix.
Array denseDeltaLoop(const Array &q, const Array &k, const Array &v, const Array *g,
                     const Array *gk, const Array &beta, double scale, Array *finalState) {
  int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], dk = q.shape[3], dv = v.shape[3];
  Array o(DType::F64, {B, T, H, dv});
  *finalState = Array(DType::F64, {B, H, dk, dv});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> S(dk * dv, 0.0), A(dk * dk), next(dk * dv);
      for (int64_t t = 0; t < T; ++t) {
        double bt = at(beta, {b, t, h});
        for (int64_t r = 0; r < dk; ++r)
          for (int64_t c = 0; c < dk; ++c) {
            double decay = (g ? at(*g, {b, t, h}) : 0) + (gk ? at(*gk, {b, t, h, c}) : 0);
            A[r * dk + c] = ((r == c) - bt * at(k, {b, t, h, r}) * at(k, {b, t, h, c})) *
                            std::exp(decay);
          }
        for (int64_t r = 0; r < dk; ++r)
          for (int64_t c = 0; c < dv; ++c) {
            double sum = bt * at(k, {b, t, h, r}) * at(v, {b, t, h, c});
            for (int64_t m = 0; m < dk; ++m)
              sum += A[r * dk + m] * S[m * dv + c];
            next[r * dv + c] = sum;
          }
        S = next;
        for (int64_t c = 0; c < dv; ++c) {
          double sum = 0;
          for (int64_t r = 0; r < dk; ++r)
            sum += S[r * dv + c] * scale * at(q, {b, t, h, r});
          o.data[((b * T + t) * H + h) * dv + c] = sum;
        }
      }
      std::copy(S.begin(), S.end(), finalState->data.begin() + (b * H + h) * dk * dv);
    }
  return o;
}

TEST_F(InterpreterTest, DeltaRulesMatchADenseMatrixLoop) {
  Inputs in = {{"q", normal({2, 12, 2, 6})}, {"k", unitRows({2, 12, 2, 6})},
               {"v", normal({2, 12, 2, 4})}, {"beta", uniform({2, 12, 2}, 0.0, 2.0)},
               {"g", logDecay({2, 12, 2}, -2.0, 0.0)}, {"gk", logDecay({2, 12, 2, 6}, -2.0, 0.0)}};
  struct Variant {
    LayerKind kind;
    bool scalarGate, keyGate;
  };
  for (Variant variant : {Variant{LayerKind::DeltaNet, false, false},
                          Variant{LayerKind::GatedDeltaNet, true, false},
                          Variant{LayerKind::KDA, false, true}}) {
    LayerConfig config;
    config.kind = variant.kind;
    config.scale = 0.4;
    Inputs layerInputs = {{"q", in["q"]}, {"k", in["k"]}, {"v", in["v"]}, {"beta", in["beta"]}};
    if (variant.scalarGate)
      layerInputs["g"] = in["g"];
    if (variant.keyGate)
      layerInputs["gk"] = in["gk"];
    auto out = runOk(config, layerInputs);
    Array finalState;
    Array o = denseDeltaLoop(in["q"], in["k"], in["v"], variant.scalarGate ? &in["g"] : nullptr,
                             variant.keyGate ? &in["gk"] : nullptr, in["beta"], 0.4, &finalState);
    SCOPED_TRACE(layerKindName(variant.kind).str());
    expectClose(out["o"], o);
    expectClose(out["final_state"], finalState);
  }
}

TEST_F(InterpreterTest, DeltaRuleWithUnitBetaRecallsTheLastValue) {
  // With ‖k_t‖ = 1 and β_t = 1, S_tᵀ k_t = v_t whatever the decay: reading with q = k
  // returns the value just written.
  Array k = unitRows({1, 20, 2, 8});
  Inputs in = {{"q", k}, {"k", k}, {"v", normal({1, 20, 2, 5})},
               {"beta", uniform({1, 20, 2}, 1.0, 1.0)}, {"g", logDecay({1, 20, 2}, -5.0, 0.0)},
               {"initial_state", normal({1, 2, 8, 5})}};
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  auto out = runOk(config, in);
  expectClose(out["o"], in["v"], 1e-13);
}

TEST_F(InterpreterTest, PrefillThenContinueEqualsOneRun) {
  Inputs full = {{"q", normal({2, 17, 2, 4})}, {"k", unitRows({2, 17, 2, 4})},
                 {"v", normal({2, 17, 2, 3})}, {"gk", logDecay({2, 17, 2, 4}, -1.0, 0.0)},
                 {"beta", uniform({2, 17, 2}, 0.1, 1.0)}, {"initial_state", normal({2, 2, 4, 3})}};
  LayerConfig config;
  config.kind = LayerKind::KDA;
  config.scale = 0.5;
  auto whole = runOk(config, full);

  // Split the token axis at 10.
  auto slice = [](const Array &a, int64_t from, int64_t to) {
    std::vector<int64_t> shape = a.shape;
    shape[1] = to - from;
    Array s(a.dtype, shape);
    int64_t inner = a.numElements() / (a.shape[0] * a.shape[1]);
    for (int64_t b = 0; b < a.shape[0]; ++b)
      std::copy_n(a.data.begin() + (b * a.shape[1] + from) * inner, (to - from) * inner,
                  s.data.begin() + b * (to - from) * inner);
    return s;
  };
  Inputs first, second;
  for (const char *name : {"q", "k", "v", "gk", "beta"}) {
    first[name] = slice(full[name], 0, 10);
    second[name] = slice(full[name], 10, 17);
  }
  first["initial_state"] = full["initial_state"];
  auto prefill = runOk(config, first);
  second["initial_state"] = prefill["final_state"];
  auto rest = runOk(config, second);
  expectClose(prefill["o"], slice(whole["o"], 0, 10), 1e-14);
  expectClose(rest["o"], slice(whole["o"], 10, 17), 1e-14);
  expectClose(rest["final_state"], whole["final_state"], 1e-14);
}

TEST_F(InterpreterTest, VarlenEqualsSeparateSequences) {
  // Lengths 0, 1, 5, 0, 3: empty sequences keep their initial state.
  std::vector<int64_t> lengths = {0, 1, 5, 0, 3};
  Array cu(DType::I32, {6});
  for (size_t n = 0; n < lengths.size(); ++n)
    cu.data[n + 1] = cu.data[n] + lengths[n];
  int64_t total = static_cast<int64_t>(cu.data.back());
  Inputs packed = {{"q", normal({1, total, 2, 3})}, {"k", unitRows({1, total, 2, 3})},
                   {"v", normal({1, total, 2, 4})}, {"g", logDecay({1, total, 2}, -1, 0)},
                   {"beta", uniform({1, total, 2}, 0, 1)}, {"initial_state", normal({5, 2, 3, 4})},
                   {"cu_seqlens", cu}};
  LayerConfig config;
  config.kind = LayerKind::GatedDeltaNet;
  auto out = runOk(config, packed);

  for (int64_t n = 0; n < 5; ++n) {
    int64_t start = static_cast<int64_t>(cu.data[n]), len = lengths[n];
    Inputs one;
    for (const char *name : {"q", "k", "v", "g", "beta"}) {
      const Array &a = packed[name];
      std::vector<int64_t> shape = a.shape;
      shape[1] = len;
      Array s(DType::F64, shape);
      int64_t inner = a.numElements() / a.shape[1];
      std::copy_n(a.data.begin() + start * inner, len * inner, s.data.begin());
      one[name] = s;
    }
    Array s0(DType::F64, {1, 2, 3, 4});
    std::copy_n(packed["initial_state"].data.begin() + n * 24, 24, s0.data.begin());
    one["initial_state"] = s0;
    auto separate = runOk(config, one);
    for (int64_t i = 0; i < len * 2 * 4; ++i)
      EXPECT_DOUBLE_EQ(out["o"].data[start * 8 + i], separate["o"].data[i]);
    for (int64_t i = 0; i < 24; ++i)
      EXPECT_DOUBLE_EQ(out["final_state"].data[n * 24 + i], separate["final_state"].data[i]);
  }
}

TEST_F(InterpreterTest, StrongDecaysOverLongSequencesStayFinite) {
  Inputs in = {{"q", normal({1, 4096, 1, 4})}, {"k", normal({1, 4096, 1, 4})},
               {"v", normal({1, 4096, 1, 4})}, {"gk", logDecay({1, 4096, 1, 4}, -30.0, 0.0)}};
  LayerConfig config;
  config.kind = LayerKind::GLA;
  auto out = runOk(config, in);
  EXPECT_FALSE(hasNonFinite(out["o"]));
  EXPECT_FALSE(hasNonFinite(out["final_state"]));
}

TEST_F(InterpreterTest, RunTimeErrorsAreMessages) {
  Inputs in = {{"q", normal({1, 4, 1, 2})}, {"k", normal({1, 4, 1, 2})}, {"v", normal({1, 4, 1, 2})},
               {"g", logDecay({1, 4, 1}, -1.0, 0.0)}};
  LayerConfig config;
  config.kind = LayerKind::SimpleGLA;
  in["g"].data[2] = 0.5;
  auto positive = run(config, in);
  ASSERT_FALSE(static_cast<bool>(positive));
  EXPECT_NE(llvm::toString(positive.takeError()).find("positive log-decay 0.5"),
            std::string::npos);

  in["g"].data[2] = -0.5;
  Array cu(DType::I32, {3});
  cu.data = {0, 3, 2}; // decreasing, and not ending at T = 4
  in["cu_seqlens"] = cu;
  auto offsets = run(config, in);
  ASSERT_FALSE(static_cast<bool>(offsets));
  EXPECT_NE(llvm::toString(offsets.takeError()).find("cu_seqlens must start at 0 and end at "
                                                     "total_T = 4"),
            std::string::npos);
  in["cu_seqlens"].data = {0, 3, 1, 4};
  in["cu_seqlens"].shape = {4};
  auto decreasing = run(config, in);
  ASSERT_FALSE(static_cast<bool>(decreasing));
  EXPECT_NE(llvm::toString(decreasing.takeError()).find("must not decrease"), std::string::npos);
}

TEST_F(InterpreterTest, ArgumentShapesAreChecked) {
  mlir::OpBuilder builder(&context);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(builder.getUnknownLoc());
  LayerConfig config;
  LayerShapes shapes;
  shapes.batch = mlir::ShapedType::kDynamic;
  shapes.tokens = mlir::ShapedType::kDynamic;
  shapes.heads = 2;
  shapes.keyDim = 4;
  shapes.valueDim = 4;
  config.initialState = true;
  ASSERT_TRUE(static_cast<bool>(buildLayerFunction(*module, "f", config, shapes)));

  // Dynamic B and T, but the arrays disagree with each other at run time.
  std::vector<Array> args = {normal({1, 5, 2, 4}), normal({1, 6, 2, 4}), normal({1, 5, 2, 4}),
                             normal({1, 2, 4, 4})};
  auto mismatch = interpretFunction(*module, "f", args);
  ASSERT_FALSE(static_cast<bool>(mismatch));
  EXPECT_NE(llvm::toString(mismatch.takeError()).find("input #1 has shape [1, 6, 2, 4]"),
            std::string::npos);

  args[1] = normal({1, 5, 2, 4});
  args[3] = normal({2, 2, 4, 4}); // two initial states for one batch row
  auto rows = interpretFunction(*module, "f", args);
  ASSERT_FALSE(static_cast<bool>(rows));
  EXPECT_NE(llvm::toString(rows.takeError()).find("but there are 1 batch rows"),
            std::string::npos);

  args[3] = normal({1, 2, 4, 3}); // the state is 4 x 4
  auto stateShape = interpretFunction(*module, "f", args);
  ASSERT_FALSE(static_cast<bool>(stateShape));
  EXPECT_NE(llvm::toString(stateShape.takeError()).find("has shape [1, 2, 4, 3]"),
            std::string::npos);

  args.pop_back();
  auto arity = interpretFunction(*module, "f", args);
  ASSERT_FALSE(static_cast<bool>(arity));
  EXPECT_NE(llvm::toString(arity.takeError()).find("takes 4 arguments, got 3"),
            std::string::npos);
}

} // namespace
