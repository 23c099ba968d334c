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

  // The same recurrence, token by token: S = λ_h S + k vᵀ, o = Sᵀ(0.5 q).
  double decays[] = {std::exp(-0.5), std::exp(-0.125)};
  for (int h = 0; h < 2; ++h) {
    double S[4][4] = {};
    for (int t = 0; t < 20; ++t) {
      const int base = (t * 2 + h) * 4;
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          S[i][j] = decays[h] * S[i][j] + k[base + i] * v[base + j];
      for (int j = 0; j < 4; ++j) {
        double expected = 0;
        for (int i = 0; i < 4; ++i)
          expected += S[i][j] * 0.5 * q[base + i];
        EXPECT_NEAR(o[base + j], expected, 1e-5 * (1 + std::abs(expected)));
      }
    }
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        EXPECT_NEAR(s[(h * 4 + i) * 4 + j], S[i][j], 1e-5 * (1 + std::abs(S[i][j])));
  }
  linrec_function_destroy(layer);
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
  EXPECT_NE(linrec_run(nullptr, args, 3, results, 2, nullptr), 0); // no message requested
  linrec_function_destroy(layer);
  linrec_compiler_destroy(compiler);
}

} // namespace
