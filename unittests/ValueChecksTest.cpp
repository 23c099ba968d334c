//===- ValueChecksTest.cpp - the checked mode's checks inside the kernels -===//
//
// CPU recurrence kernels compiled in the checked mode check every f32 token row and initial
// state they load (KernelEmitter's value checks); Executable::runChecked then scans only what
// no kernel checked, and names the first bad value when a kernel check failed. These tests
// pin that the kernels cover every input (so the checked mode costs no scan of its own), that
// a bad value anywhere (the last token of the last head, a packed sequence, a value tile) is
// found, and that −∞ log-decays (full resets) pass.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/InputChecks.h"

#include "llvm/Support/JSON.h"
#include "gtest/gtest.h"

#include <cmath>
#include <limits>
#include <random>

using namespace linrec;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

/// A model's inputs as f32 buffers (cu_seqlens int32), valid for its domains.
struct ModelInputs {
  std::map<std::string, TensorInfo> infos;
  std::map<std::string, std::vector<float>> floats;
  std::vector<int32_t> cuSeqlens;
};

class ValueChecksTest : public ::testing::Test {
protected:
  ValueChecksTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Inputs of `names` for B, T, H and head dim d: log-decays in (−1, 0], β in [0, 1), the
  /// rest normal; delta-rule keys of unit norm.
  ModelInputs inputsFor(const std::vector<std::string> &names, int64_t B, int64_t T, int64_t H,
                        int64_t d, std::vector<int32_t> cuSeqlens = {}) {
    ModelInputs in;
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    int64_t rows = cuSeqlens.empty() ? B : int64_t(cuSeqlens.size()) - 1;
    for (const std::string &name : names) {
      std::vector<int64_t> shape = {B, T, H, d};
      if (name == "g" || name == "beta")
        shape = {B, T, H};
      else if (name == "initial_state")
        shape = {rows, H, d, d};
      if (name == "cu_seqlens") {
        in.infos[name] = TensorInfo{DType::I32, {int64_t(cuSeqlens.size())}};
        in.cuSeqlens = cuSeqlens;
        continue;
      }
      std::vector<float> values(Array::numElementsOf(shape));
      for (float &x : values)
        x = name == "g" || name == "gk" ? -uniform(rng)
            : name == "beta"            ? uniform(rng)
                                        : normal(rng);
      if (name == "k")
        for (size_t row = 0; row < values.size(); row += d) {
          float norm = 0;
          for (int64_t j = 0; j < d; ++j)
            norm += values[row + j] * values[row + j];
          for (int64_t j = 0; j < d; ++j)
            values[row + j] /= std::sqrt(norm);
        }
      in.infos[name] = TensorInfo{DType::F32, shape};
      in.floats[name] = std::move(values);
    }
    return in;
  }

  /// The model's layer for `in`, compiled in the checked mode with `schedule`.
  struct Compiled {
    PreparedModel model;
    Executable executable;
    std::vector<ValueCheck> domains;
  };
  Compiled compile(llvm::StringRef name, const ModelInputs &in, llvm::StringRef schedule = "") {
    llvm::json::Object params{{"scale", 0.25}};
    auto prepared = prepareModel(context, name, params, in.infos, Target::CPU);
    EXPECT_TRUE(static_cast<bool>(prepared))
        << (prepared ? "" : llvm::toString(prepared.takeError()));
    KernelOptions options;
    EXPECT_FALSE(static_cast<bool>(options.parseSchedule(schedule)));
    auto executable = compileFunction(compiler, *prepared->module, "layer", options);
    EXPECT_TRUE(static_cast<bool>(executable))
        << (executable ? "" : llvm::toString(executable.takeError()));
    Compiled compiled{std::move(*prepared), *executable, {}};
    for (const std::string &input : compiled.model.inputNames)
      compiled.domains.push_back(inputDomain(name, input, in.infos.at(input).dtype));
    return compiled;
  }

  /// Runs `compiled` checked on `in`: the error's message, or "" (outputs then finite).
  std::string run(const Compiled &compiled, ModelInputs &in) {
    std::vector<BufferView> args, results;
    for (const std::string &name : compiled.model.inputNames) {
      const TensorInfo &info = in.infos.at(name);
      void *data = name == "cu_seqlens" ? static_cast<void *>(in.cuSeqlens.data())
                                        : static_cast<void *>(in.floats.at(name).data());
      args.push_back(BufferView{data, info.dtype, info.shape});
    }
    auto func = compiled.model.module.get().lookupSymbol<mlir::func::FuncOp>("layer");
    std::vector<std::vector<float>> outputs;
    for (mlir::Type type : func.getResultTypes()) {
      auto tensor = mlir::cast<mlir::RankedTensorType>(type);
      std::vector<int64_t> shape(tensor.getShape().begin(), tensor.getShape().end());
      outputs.emplace_back(Array::numElementsOf(shape));
      results.push_back(BufferView{outputs.back().data(), DType::F32, shape});
    }
    llvm::Error error = compiled.executable.runChecked(args, results, /*threads=*/2,
                                                       compiled.model.inputNames,
                                                       compiled.domains);
    if (error)
      return llvm::toString(std::move(error));
    for (const std::vector<float> &output : outputs)
      for (float x : output)
        if (!std::isfinite(x))
          return "a non-finite output";
    return "";
  }

  /// Whether a kernel of `compiled` checks input `name` in its domain.
  static bool checkedInKernel(const Compiled &compiled, const std::string &name) {
    auto it = llvm::find(compiled.model.inputNames, name);
    size_t i = it - compiled.model.inputNames.begin();
    llvm::ArrayRef<uint32_t> verified =
        compiled.executable.kernels ? compiled.executable.kernels->verifiedChecks()
                                    : llvm::ArrayRef<uint32_t>();
    return i < verified.size() && (verified[i] & uint32_t(compiled.domains[i]));
  }

  mlir::MLIRContext context;
  KernelCompiler compiler;
  std::mt19937 rng{7};
};

TEST_F(ValueChecksTest, KernelsCheckEveryTokenInputAndInitialState) {
  struct Case {
    const char *model;
    std::vector<std::string> inputs;
    const char *schedule;
  };
  std::vector<Case> cases = {
      {"gla", {"q", "k", "v", "gk", "initial_state"}, ""},
      {"gla", {"q", "k", "v", "gk", "initial_state"}, "sequential=1"},
      {"gla", {"q", "k", "v", "gk"}, "value-tiles=2 heads-per-item=1"},
      {"simple_gla", {"q", "k", "v", "g", "initial_state"}, ""},
      {"kda", {"q", "k", "v", "gk", "beta"}, ""},
      {"gated_delta", {"q", "k", "v", "g", "beta", "initial_state"}, ""},
      {"delta", {"q", "k", "v", "beta"}, "sequential=1"},
  };
  for (const Case &c : cases) {
    ModelInputs in = inputsFor(c.inputs, 1, 20, 2, 16);
    Compiled compiled = compile(c.model, in, c.schedule);
    for (const std::string &name : c.inputs)
      EXPECT_TRUE(checkedInKernel(compiled, name))
          << c.model << " [" << c.schedule << "]: " << name << " is not checked in a kernel";
    EXPECT_EQ(run(compiled, in), "") << c.model << " [" << c.schedule << "]";
  }
}

TEST_F(ValueChecksTest, AFailedKernelCheckNamesTheFirstBadValue) {
  const std::vector<std::string> names = {"q", "k", "v", "gk", "initial_state"};
  // T = 37: the last chunk is partial; H = 3, d = 16.
  struct Poison {
    std::string input;
    std::vector<int64_t> at; // [b, t, h, j] (or [n, h, r, c] of the state)
    float value;
    std::string message;
  };
  std::vector<Poison> poisons = {
      {"q", {0, 36, 2, 15}, kNaN, "input q[0, 36, 2, 15] = nan: inputs must be finite"},
      {"k", {1, 0, 0, 0}, -kInf, "input k[1, 0, 0, 0] = -inf: inputs must be finite"},
      {"v", {1, 36, 2, 7}, kInf, "input v[1, 36, 2, 7] = inf: inputs must be finite"},
      {"gk", {1, 36, 2, 15}, 0.5f,
       "input gk[1, 36, 2, 15] = 0.5: a log-decay must be <= 0 (-inf is a full reset)"},
      {"gk", {0, 20, 1, 3}, -kNaN,
       "input gk[0, 20, 1, 3] = nan: a log-decay must be <= 0 (-inf is a full reset)"},
      {"gk", {0, 5, 0, 0}, kInf,
       "input gk[0, 5, 0, 0] = inf: a log-decay must be <= 0 (-inf is a full reset)"},
      {"initial_state", {1, 2, 15, 15}, kNaN,
       "input initial_state[1, 2, 15, 15] = nan: inputs must be finite"},
  };
  for (const char *schedule : {"chunk-size=16", "chunk-size=64", "sequential=1",
                               "value-tiles=2 heads-per-item=1"}) {
    ModelInputs clean = inputsFor(names, 2, 37, 3, 16);
    Compiled compiled = compile("gla", clean, schedule);
    for (const Poison &p : poisons) {
      ModelInputs in = clean;
      const std::vector<int64_t> &shape = in.infos.at(p.input).shape;
      int64_t flat = 0;
      for (size_t d = 0; d < shape.size(); ++d)
        flat = flat * shape[d] + p.at[d];
      in.floats.at(p.input)[flat] = p.value;
      EXPECT_EQ(run(compiled, in), p.message) << schedule;
    }
  }
}

TEST_F(ValueChecksTest, FullResetsAndNegativeZerosPass) {
  const std::vector<std::string> names = {"q", "k", "v", "gk"};
  for (const char *schedule : {"", "sequential=1"}) {
    ModelInputs in = inputsFor(names, 1, 50, 2, 16);
    Compiled compiled = compile("gla", in, schedule);
    std::vector<float> &gk = in.floats.at("gk");
    for (int64_t j = 0; j < 2 * 16; ++j)
      gk[10 * 2 * 16 + j] = -kInf; // token 10: a full reset of both heads
    gk[49 * 2 * 16 + 31] = -0.0f;
    EXPECT_EQ(run(compiled, in), "") << schedule;
  }
}

TEST_F(ValueChecksTest, PackedSequencesAreCheckedToTheirLastToken) {
  const std::vector<std::string> names = {"q", "k", "v", "gk", "initial_state", "cu_seqlens"};
  ModelInputs clean = inputsFor(names, 1, 45, 2, 16, {0, 13, 13, 45});
  Compiled compiled = compile("gla", clean);
  for (const std::string &name : {"q", "v", "gk", "initial_state"})
    EXPECT_TRUE(checkedInKernel(compiled, name)) << name;
  EXPECT_EQ(run(compiled, clean), "");
  ModelInputs in = clean;
  in.floats.at("v").back() = kNaN;
  EXPECT_EQ(run(compiled, in), "input v[0, 44, 1, 15] = nan: inputs must be finite");
}

/// A kernel reports to its own caller too: Kernel::run's status word holds the bits of the
/// checks that failed.
TEST_F(ValueChecksTest, KernelStatusWordHoldsTheFailedChecks) {
  const std::vector<std::string> names = {"q", "k", "v", "gk"};
  ModelInputs in = inputsFor(names, 1, 40, 2, 16);
  Compiled compiled = compile("gla", in);
  ASSERT_TRUE(compiled.executable.kernels);
  auto statusOf = [&](ModelInputs &values) {
    std::vector<BufferView> args, results;
    for (const std::string &name : compiled.model.inputNames)
      args.push_back(BufferView{values.floats.at(name).data(), DType::F32,
                                values.infos.at(name).shape});
    std::vector<float> o(1 * 40 * 2 * 16), state(1 * 2 * 16 * 16);
    results.push_back(BufferView{o.data(), DType::F32, {1, 40, 2, 16}});
    results.push_back(BufferView{state.data(), DType::F32, {1, 2, 16, 16}});
    std::vector<uint32_t> failed;
    llvm::Error error = compiled.executable.kernels->run(args, results, 1, &failed);
    EXPECT_FALSE(static_cast<bool>(error)) << llvm::toString(std::move(error));
    uint32_t all = 0;
    for (uint32_t bits : failed)
      all |= bits;
    return all;
  };
  EXPECT_EQ(statusOf(in), 0u);
  ModelInputs bad = in;
  bad.floats.at("q")[5] = kNaN;
  EXPECT_EQ(statusOf(bad), uint32_t(ValueCheck::Finite));
  bad.floats.at("gk")[7] = 1.0f;
  EXPECT_EQ(statusOf(bad), uint32_t(ValueCheck::Finite) | uint32_t(ValueCheck::LogDecay));
}

} // namespace
