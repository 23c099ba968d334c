//===- CAPITest.cpp - the C API -------------------------------------------===//

#include "linrec-c/Runtime.h"

#include "gtest/gtest.h"

#include <cmath>
#include <string>
#include <vector>

namespace {

// A lightning layer with its decays as a constant, 1 x 20 tokens x 2 heads x 4.
const char *kLayer = R"mlir(
func.func @layer(%q: tensor<1x20x2x4xf32>, %k: tensor<1x20x2x4xf32>, %v: tensor<1x20x2x4xf32>)
    -> (tensor<1x20x2x4xf32>, tensor<1x2x4x4xf32>) {
  %decay = arith.constant dense<[-0.5, -0.125]> : tensor<2xf64>
  %o, %s = linrec.lightning %q, %k, %v decay(%decay) {scale = 0.5 : f64}
      : (tensor<1x20x2x4xf32>, tensor<1x20x2x4xf32>, tensor<1x20x2x4xf32>, tensor<2xf64>)
      -> (tensor<1x20x2x4xf32>, tensor<1x2x4x4xf32>)
  return %o, %s : tensor<1x20x2x4xf32>, tensor<1x2x4x4xf32>
}
)mlir";

/// kLayer token by token in double: S = λ_h S + k vᵀ, o = Sᵀ(0.5 q); o then the final states.
template <typename T>
std::pair<std::vector<double>, std::vector<double>>
lightningTokenLoop(const std::vector<T> &q, const std::vector<T> &k, const std::vector<T> &v) {
  double decays[] = {std::exp(-0.5), std::exp(-0.125)};
  std::vector<double> o(160), states(32);
  for (int h = 0; h < 2; ++h) {
    double S[4][4] = {};
    for (int t = 0; t < 20; ++t) {
      const int base = (t * 2 + h) * 4;
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          S[i][j] = decays[h] * S[i][j] + k[base + i] * v[base + j];
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i)
          o[base + j] += S[i][j] * 0.5 * q[base + i];
    }
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        states[(h * 4 + i) * 4 + j] = S[i][j];
  }
  return {o, states};
}

TEST(CAPI, CompilesAndRunsALayer) {
  linrec_compiler *compiler = linrec_compiler_create();
  char *error = nullptr;
  linrec_options options = {"cpu", "chunk-size=16 threads=1"};
  linrec_function *layer = linrec_compile(compiler, kLayer, "layer", &options, &error);
  ASSERT_NE(layer, nullptr) << error;
  EXPECT_EQ(linrec_function_num_args(layer), 3u);
  EXPECT_EQ(linrec_function_num_results(layer), 2u);

  std::vector<float> q(160), k(160), v(160), o(160, NAN), s(32, NAN);
  for (int i = 0; i < 160; ++i) {
    q[i] = std::sin(0.3f * i);
    k[i] = std::cos(0.7f * i);
    v[i] = 0.01f * i;
  }
  int64_t tokens[] = {1, 20, 2, 4}, state[] = {1, 2, 4, 4};
  linrec_buffer args[] = {{q.data(), LINREC_F32, 4, tokens},
                          {k.data(), LINREC_F32, 4, tokens},
                          {v.data(), LINREC_F32, 4, tokens}};
  linrec_buffer results[] = {{o.data(), LINREC_F32, 4, tokens}, {s.data(), LINREC_F32, 4, state}};
  ASSERT_EQ(linrec_run(layer, args, 3, results, 2, &error), 0) << error;

  // The same recurrence, token by token.
  auto [expectedO, expectedS] = lightningTokenLoop(q, k, v);
  for (int i = 0; i < 160; ++i)
    EXPECT_NEAR(o[i], expectedO[i], 1e-5 * (1 + std::abs(expectedO[i])));
  for (int i = 0; i < 32; ++i)
    EXPECT_NEAR(s[i], expectedS[i], 1e-5 * (1 + std::abs(expectedS[i])));
  linrec_function_destroy(layer);
  linrec_compiler_destroy(compiler);
}

/// L = Σ ⟨do, o⟩ + ⟨dS, S_T⟩ of kLayer, token by token in double.
double lightningLoss(const std::vector<double> &q, const std::vector<double> &k,
                     const std::vector<double> &v, const std::vector<float> &dO,
                     const std::vector<float> &dS) {
  auto [o, states] = lightningTokenLoop(q, k, v);
  double loss = 0;
  for (int i = 0; i < 160; ++i)
    loss += dO[i] * o[i];
  for (int i = 0; i < 32; ++i)
    loss += dS[i] * states[i];
  return loss;
}

TEST(CAPI, CompilesAndRunsALayersBackward) {
  linrec_compiler *compiler = linrec_compiler_create();
  char *error = nullptr;
  linrec_options options = {"cpu", "chunk-size=8 threads=1"};
  linrec_function *backward = linrec_compile_backward(compiler, kLayer, "layer", &options, &error);
  ASSERT_NE(backward, nullptr) << error;
  EXPECT_EQ(linrec_function_num_args(backward), 5u);    // q, k, v, then do and dS
  EXPECT_EQ(linrec_function_num_results(backward), 3u); // dq, dk, dv

  std::vector<float> x[3], dO(160), dS(32), grads[3];
  for (int i = 0; i < 160; ++i) {
    x[0].push_back(std::sin(0.3f * i));
    x[1].push_back(std::cos(0.7f * i));
    x[2].push_back(0.01f * i);
    dO[i] = std::cos(0.11f * i);
  }
  for (int i = 0; i < 32; ++i)
    dS[i] = std::sin(0.5f * i);
  int64_t tokens[] = {1, 20, 2, 4}, state[] = {1, 2, 4, 4};
  linrec_buffer args[] = {{x[0].data(), LINREC_F32, 4, tokens}, {x[1].data(), LINREC_F32, 4, tokens},
                          {x[2].data(), LINREC_F32, 4, tokens}, {dO.data(), LINREC_F32, 4, tokens},
                          {dS.data(), LINREC_F32, 4, state}};
  std::vector<linrec_buffer> results;
  for (auto &g : grads) {
    g.assign(160, NAN);
    results.push_back({g.data(), LINREC_F32, 4, tokens});
  }
  ASSERT_EQ(linrec_run(backward, args, 5, results.data(), 3, &error), 0) << error;

  // Each gradient against central differences of the double token loop along a direction.
  for (int which = 0; which < 3; ++which) {
    std::vector<double> at[3];
    for (int j = 0; j < 3; ++j)
      at[j].assign(x[j].begin(), x[j].end());
    std::vector<double> u(160);
    double norm = 0, predicted = 0, gradNorm = 0;
    for (int i = 0; i < 160; ++i)
      norm += (u[i] = std::sin(1.3 * i + which)) * u[i];
    for (int i = 0; i < 160; ++i) {
      u[i] /= std::sqrt(norm);
      predicted += grads[which][i] * u[i];
      gradNorm += grads[which][i] * grads[which][i];
    }
    const double eps = 1e-4;
    auto lossAlong = [&](double step) {
      std::vector<double> moved[3] = {at[0], at[1], at[2]};
      for (int i = 0; i < 160; ++i)
        moved[which][i] += step * u[i];
      return lightningLoss(moved[0], moved[1], moved[2], dO, dS);
    };
    double directional = (lossAlong(eps) - lossAlong(-eps)) / (2 * eps);
    EXPECT_LT(std::abs(predicted - directional) / std::sqrt(gradNorm), 1e-5) << "input " << which;
  }
  linrec_function_destroy(backward);

  // A body without a derived backward is an error naming the op: a masked write (a token
  // whose mask is false writes nothing) has none yet.
  const char *masked = R"mlir(
func.func @masked(%k: tensor<1x4x1x4xf32>, %r: tensor<1x4x1xf32>) -> tensor<1x4x1x4xf32> {
  %o, %s = linrec.recurrence ins(%k, %r : tensor<1x4x1x4xf32>, tensor<1x4x1xf32>)
      -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %kt: vector<4xf32>, %rt: f32):
    %zero = arith.constant 0.0 : f32
    %mt = arith.cmpf ogt, %rt, %zero : f32
    %S1 = linrec.write %S, %kt, %kt if %mt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %kt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}
)mlir";
  EXPECT_EQ(linrec_compile_backward(compiler, masked, "masked", nullptr, &error), nullptr);
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("'linrec.write' op has no derived backward yet"),
            std::string::npos)
      << error;
  linrec_free_error(error);
  linrec_compiler_destroy(compiler);
}

TEST(CAPI, ErrorsAreMessages) {
  linrec_compiler *compiler = linrec_compiler_create();
  char *error = nullptr;
  EXPECT_EQ(linrec_compile(compiler, "func.func @f(", "f", nullptr, &error), nullptr);
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("does not parse"), std::string::npos);
  linrec_free_error(error);

  EXPECT_EQ(linrec_compile(compiler, kLayer, "missing", nullptr, &error), nullptr);
  EXPECT_NE(std::string(error).find("no function @missing"), std::string::npos);
  linrec_free_error(error);

  // Schedule options are the target pipeline's: an unknown one, or a bad target, is an error.
  linrec_options unknown = {"cpu", "chunk-size=16 value-tile=8"};
  EXPECT_EQ(linrec_compile(compiler, kLayer, "layer", &unknown, &error), nullptr);
  EXPECT_NE(std::string(error).find("value-tile"), std::string::npos) << error;
  linrec_free_error(error);
  linrec_options badTarget = {"tpu", nullptr};
  EXPECT_EQ(linrec_compile(compiler, kLayer, "layer", &badTarget, &error), nullptr);
  EXPECT_NE(std::string(error).find("unknown target 'tpu'"), std::string::npos) << error;
  linrec_free_error(error);

  linrec_function *layer = linrec_compile(compiler, kLayer, "layer", nullptr, &error);
  ASSERT_NE(layer, nullptr) << error;
  std::vector<float> q(160), o(160), s(32);
  int64_t tokens[] = {1, 20, 2, 4}, wrong[] = {1, 20, 2, 8}, state[] = {1, 2, 4, 4};
  linrec_buffer args[] = {{q.data(), LINREC_F32, 4, tokens},
                          {q.data(), LINREC_F32, 4, wrong},
                          {q.data(), LINREC_F32, 4, tokens}};
  linrec_buffer results[] = {{o.data(), LINREC_F32, 4, tokens}, {s.data(), LINREC_F32, 4, state}};
  EXPECT_NE(linrec_run(layer, args, 3, results, 2, &error), 0);
  EXPECT_NE(std::string(error).find("operand #1 has shape [1, 20, 2, 8]"), std::string::npos);
  linrec_free_error(error);
  EXPECT_NE(linrec_run(layer, args, 2, results, 2, &error), 0);
  EXPECT_NE(std::string(error).find("takes 3 arguments and 2 results, got 2 and 2"),
            std::string::npos);
  linrec_free_error(error);
  // A dtype code linrec_dtype does not have is an error, not f32.
  linrec_buffer badDtype[] = {{q.data(), static_cast<linrec_dtype>(7), 4, tokens},
                              {q.data(), LINREC_F32, 4, tokens},
                              {q.data(), LINREC_F32, 4, tokens}};
  EXPECT_NE(linrec_run(layer, badDtype, 3, results, 2, &error), 0);
  EXPECT_NE(std::string(error).find("argument #0 has dtype code 7, which is not a linrec_dtype"),
            std::string::npos)
      << error;
  linrec_free_error(error);
  EXPECT_NE(linrec_run(nullptr, args, 3, results, 2, nullptr), 0); // no message requested
  linrec_function_destroy(layer);
  linrec_compiler_destroy(compiler);
}

// A gated delta rule's decode step on states kept in a pool (any batch size, any pool size):
// 2 x 4 heads, states 4 x 4.
const char *kDecodeStep = R"mlir(
func.func @step(%q: tensor<?x1x2x4xf32>, %k: tensor<?x1x2x4xf32>, %v: tensor<?x1x2x4xf32>,
                %g: tensor<?x1x2xf32>, %b: tensor<?x1x2xf32>, %pool: tensor<?x2x4x4xf32>,
                %slots: tensor<?xi32>) -> (tensor<?x1x2x4xf32>, tensor<?x2x4x4xf32>) {
  %o, %s = linrec.gated_deltanet %q, %k, %v gate(%g) beta(%b) init(%pool) state_indices(%slots)
      {scale = 0.5 : f64}
      : (tensor<?x1x2x4xf32>, tensor<?x1x2x4xf32>, tensor<?x1x2x4xf32>, tensor<?x1x2xf32>,
         tensor<?x1x2xf32>, tensor<?x2x4x4xf32>, tensor<?xi32>)
      -> (tensor<?x1x2x4xf32>, tensor<?x2x4x4xf32>)
  return %o, %s : tensor<?x1x2x4xf32>, tensor<?x2x4x4xf32>
}
)mlir";

TEST(CAPI, DecodeStepUpdatesAStatePoolInPlace) {
  linrec_compiler *compiler = linrec_compiler_create();
  char *error = nullptr;
  linrec_options options = {"cpu", "sequential=1 threads=2"};
  linrec_function *step = linrec_compile(compiler, kDecodeStep, "step", &options, &error);
  ASSERT_NE(step, nullptr) << error;
  const int slots = 5;
  std::vector<float> pool(slots * 2 * 16);
  for (size_t i = 0; i < pool.size(); ++i)
    pool[i] = 0.1f * std::sin(0.37f * i);
  std::vector<double> expected(pool.begin(), pool.end());
  int64_t poolShape[] = {slots, 2, 4, 4};
  // Two steps with different batches: sequences on slots {3, 0}, then {1, 3, 4}.
  for (const std::vector<int32_t> &indices : {std::vector<int32_t>{3, 0}, {1, 3, 4}}) {
    int64_t n = int64_t(indices.size());
    std::vector<float> q(n * 8), k(n * 8), v(n * 8), g(n * 2), b(n * 2), o(n * 8, NAN);
    for (int64_t i = 0; i < n * 8; ++i) {
      q[i] = std::cos(0.9f * i + n);
      k[i] = 0.5f * std::sin(1.3f * i);
      v[i] = std::sin(0.2f * i - n);
    }
    for (int64_t i = 0; i < n * 2; ++i) {
      g[i] = -0.1f * (i + 1);
      b[i] = 0.25f + 0.1f * i;
    }
    int64_t tokens[] = {n, 1, 2, 4}, gates[] = {n, 1, 2}, count[] = {n};
    linrec_buffer args[] = {{q.data(), LINREC_F32, 4, tokens},
                            {k.data(), LINREC_F32, 4, tokens},
                            {v.data(), LINREC_F32, 4, tokens},
                            {g.data(), LINREC_F32, 3, gates},
                            {b.data(), LINREC_F32, 3, gates},
                            {pool.data(), LINREC_F32, 4, poolShape},
                            {const_cast<int32_t *>(indices.data()), LINREC_I32, 1, count}};
    linrec_buffer results[] = {{o.data(), LINREC_F32, 4, tokens},
                               {pool.data(), LINREC_F32, 4, poolShape}}; // in place
    ASSERT_EQ(linrec_run(step, args, 7, results, 2, &error), 0) << error;
    // The step in double on the expected pool: S = e^g S, S += k (β (v − Sᵀk))ᵀ, o = Sᵀ(q/2).
    for (int64_t s = 0; s < n; ++s)
      for (int h = 0; h < 2; ++h) {
        double *S = &expected[(indices[s] * 2 + h) * 16];
        const int64_t row = (s * 2 + h) * 4;
        for (int i = 0; i < 16; ++i)
          S[i] *= std::exp(double(g[s * 2 + h]));
        double u[4];
        for (int j = 0; j < 4; ++j) {
          double read = 0;
          for (int i = 0; i < 4; ++i)
            read += S[i * 4 + j] * k[row + i];
          u[j] = b[s * 2 + h] * (v[row + j] - read);
        }
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j)
            S[i * 4 + j] += k[row + i] * u[j];
        for (int j = 0; j < 4; ++j) {
          double out = 0;
          for (int i = 0; i < 4; ++i)
            out += S[i * 4 + j] * 0.5 * q[row + i];
          EXPECT_NEAR(o[row + j], out, 1e-5 * (1 + std::abs(out)));
        }
      }
    for (size_t i = 0; i < pool.size(); ++i)
      ASSERT_NEAR(pool[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << "pool[" << i << "]";
  }
  // A slot named twice is an error, and the pool is left as it was.
  std::vector<float> before = pool, x(16, 0.5f), gate(4, -0.5f), o(16);
  int32_t twice[] = {2, 2};
  int64_t tokens[] = {2, 1, 2, 4}, gates[] = {2, 1, 2}, count[] = {2};
  linrec_buffer args[] = {{x.data(), LINREC_F32, 4, tokens}, {x.data(), LINREC_F32, 4, tokens},
                          {x.data(), LINREC_F32, 4, tokens}, {gate.data(), LINREC_F32, 3, gates},
                          {gate.data(), LINREC_F32, 3, gates},
                          {pool.data(), LINREC_F32, 4, poolShape},
                          {twice, LINREC_I32, 1, count}};
  linrec_buffer results[] = {{o.data(), LINREC_F32, 4, tokens},
                             {pool.data(), LINREC_F32, 4, poolShape}};
  ASSERT_NE(linrec_run(step, args, 7, results, 2, &error), 0);
  EXPECT_NE(std::string(error).find("state_indices[1] = 2 repeats a slot"), std::string::npos)
      << error;
  linrec_free_error(error);
  EXPECT_EQ(pool, before);
  linrec_function_destroy(step);
  linrec_compiler_destroy(compiler);
}

} // namespace
