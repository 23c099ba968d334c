//===- AdjointTest.cpp - the reference adjoint against finite differences -===//
//
// Every recurrence of every conformance case (its real operands: the case's inputs, through
// the layer's ops before it) gets the float64 adjoint of a random loss L = Σ ⟨c, result⟩, and
// each operand's gradient is checked against central differences of the float64 forward
// along random unit directions (conformance README §6's measure). Bodies the adjoint does not
// handle yet must say so by name.

#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/Backward.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/Npy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cmath>
#include <functional>
#include <cstdio>
#include <limits>
#include <random>

using namespace linrec;

namespace {

/// Σ ⟨cotangent, result⟩ over the results, or the error that produced no results.
llvm::Expected<double> innerProduct(llvm::Expected<std::vector<Array>> results,
                                    llvm::ArrayRef<Array> cotangents) {
  if (!results)
    return results.takeError();
  double sum = 0;
  for (auto [r, c] : llvm::zip(*results, cotangents))
    for (size_t i = 0; i < c.data.size(); ++i)
      sum += r.data[i] * c.data[i];
  return sum;
}

/// L = Σ ⟨cotangent, result⟩ of the forward at `operands`, or an error.
llvm::Expected<double> loss(RecurrenceOp op, llvm::ArrayRef<Array> operands,
                            llvm::ArrayRef<Array> cotangents) {
  return innerProduct(interpretRecurrence(op, operands), cotangents);
}

struct Checked {
  int recurrences = 0, operands = 0, unsupported = 0;
};

using LossFunction = std::function<llvm::Expected<double>(llvm::ArrayRef<Array>)>;

/// Checks ⟨gradient, u⟩ against finite differences of `lossAt` along a random unit direction
/// u of operand #i (zero where `frozen` holds: a compared value must not cross its threshold).
void checkOperand(const LossFunction &lossAt, llvm::ArrayRef<Array> operands, size_t i,
                  const Array &g, llvm::function_ref<bool(size_t)> frozen, std::mt19937_64 &rng,
                  const std::string &what, Checked &checked) {
  std::normal_distribution<double> normal;
  const Array &x = operands[i];
  ASSERT_EQ(g.shape, x.shape) << what << " operand #" << i;
  if (x.data.empty())
    return;
  Array u(DType::F64, x.shape);
  double norm = 0;
  for (size_t e = 0; e < u.data.size(); ++e) {
    double v = frozen(e) ? 0.0 : normal(rng);
    norm += (u.data[e] = v) * v;
  }
  if (norm == 0)
    return;
  for (double &v : u.data)
    v /= std::sqrt(norm);
  // Central differences at ε and ε/2, Richardson-extrapolated (error O(ε⁴)): a long
  // sequence's decays have large higher derivatives.
  const double epsilon = 1e-5;
  auto shifted = [&](double by, bool magnitude) {
    std::vector<Array> copy(operands.begin(), operands.end());
    for (size_t e = 0; e < u.data.size(); ++e)
      copy[i].data[e] += by * (magnitude ? std::abs(u.data[e]) : u.data[e]);
    return lossAt(copy);
  };
  double directional = 0, gradNorm = 0, predicted = 0;
  auto plus = shifted(epsilon, false), minus = shifted(-epsilon, false);
  bool central = plus && minus;
  if (central) {
    auto halfPlus = shifted(epsilon / 2, false), halfMinus = shifted(-epsilon / 2, false);
    ASSERT_TRUE(halfPlus && halfMinus) << what << " operand #" << i;
    double wide = (*plus - *minus) / (2 * epsilon);
    double narrow = (*halfPlus - *halfMinus) / epsilon;
    directional = (4 * narrow - wide) / 3;
    for (size_t e = 0; e < u.data.size(); ++e)
      predicted += g.data[e] * u.data[e];
  } else {
    // A log-decay at 0 cannot move up: one-sided, downwards (error O(ε)).
    if (!plus)
      llvm::consumeError(plus.takeError());
    if (!minus)
      llvm::consumeError(minus.takeError());
    auto base = lossAt(operands);
    auto down = shifted(-epsilon / 100, true);
    ASSERT_TRUE(base && down) << what << " operand #" << i;
    directional = (*base - *down) / (epsilon / 100);
    for (size_t e = 0; e < u.data.size(); ++e)
      predicted += g.data[e] * std::abs(u.data[e]);
  }
  for (double v : g.data)
    gradNorm += v * v;
  // The differences' own rounding: a few ulps of L over the step.
  auto base = lossAt(operands);
  ASSERT_TRUE(bool(base)) << what;
  double rounding = 16 * std::numeric_limits<double>::epsilon() * std::abs(*base) /
                    (central ? epsilon : epsilon / 100);
  double error = std::max(0.0, std::abs(predicted - directional) - rounding) /
                 std::max({std::sqrt(gradNorm), std::abs(directional), 1e-300});
  EXPECT_LT(error, central ? 1e-6 : 1e-4)
      << what << " operand #" << i << ": ⟨grad, u⟩ = " << predicted
      << ", finite differences " << directional;
  ++checked.operands;
}

/// Random cotangents shaped as `results`.
std::vector<Array> randomCotangents(llvm::ArrayRef<Array> results, std::mt19937_64 &rng) {
  std::normal_distribution<double> normal;
  std::vector<Array> cotangents;
  for (const Array &r : results) {
    Array c(DType::F64, r.shape);
    for (double &v : c.data)
      v = normal(rng);
    cotangents.push_back(std::move(c));
  }
  return cotangents;
}

/// Checks the adjoint of `op` at `operands`; records what it checked.
void checkRecurrence(RecurrenceOp op, llvm::ArrayRef<Array> operands, std::mt19937_64 &rng,
                     const std::string &what, Checked &checked) {
  auto results = interpretRecurrence(op, operands);
  ASSERT_TRUE(bool(results)) << what << ": " << llvm::toString(results.takeError());
  std::vector<Array> cotangents = randomCotangents(*results, rng);
  auto gradients = interpretRecurrenceGradient(op, operands, cotangents);
  if (!gradients) {
    std::string message = llvm::toString(gradients.takeError());
    EXPECT_NE(message.find("does not differentiate"), std::string::npos) << what << message;
    ++checked.unsupported;
    return;
  }
  ASSERT_EQ(gradients->size(), operands.size()) << what;
  ++checked.recurrences;
  LossFunction lossAt = [&](llvm::ArrayRef<Array> at) { return loss(op, at, cotangents); };
  size_t numOperands = operands.size() - (op.getCuSeqlens() ? 1 : 0);
  unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
  for (size_t i = 0; i < numOperands; ++i) {
    // An input that a comparison tests (MoM's routing weights, w > 0: routed) is perturbed
    // only where it is not 0, so that no choice flips.
    bool compared = false;
    if (i < numInputs + op.getParams().size())
      for (mlir::Operation *user : op.getBodyBlock().getArgument(numStates + i).getUsers())
        compared |= mlir::isa<mlir::arith::CmpFOp>(user);
    checkOperand(lossAt, operands, i, (*gradients)[i],
                 [&](size_t e) { return compared && operands[i].data[e] == 0; }, rng, what,
                 checked);
  }
}

/// A case's layer and its inputs.
struct LoadedCase {
  PreparedModel model;
  std::vector<Array> args;
};

llvm::Expected<LoadedCase> loadCase(mlir::MLIRContext &context, const std::string &dir) {
  auto prepared = prepareCase(context, dir);
  if (!prepared)
    return prepared.takeError();
  auto spec = llvm::MemoryBuffer::getFile(dir + "/spec.json");
  if (!spec)
    return llvm::createStringError(spec.getError(), "no spec.json");
  auto json = llvm::json::parse((*spec)->getBuffer());
  if (!json)
    return json.takeError();
  const llvm::json::Object *inputs = json->getAsObject()->getObject("inputs");
  LoadedCase loaded{std::move(*prepared), {}};
  for (const std::string &input : loaded.model.inputNames) {
    auto file = inputs->getString(input);
    if (!file)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "no file for " + input);
    auto array = readNpy(dir + "/" + file->str());
    if (!array)
      return array.takeError();
    loaded.args.push_back(std::move(*array));
  }
  return loaded;
}

mlir::MLIRContext &linrecContext() {
  static mlir::MLIRContext *context = [] {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    auto *c = new mlir::MLIRContext(registry);
    c->loadAllAvailableDialects();
    return c;
  }();
  return *context;
}

std::vector<std::string> caseDirs() {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(LINREC_CONFORMANCE_DIR, ec), end; it != end && !ec;
       it.increment(ec))
    if (llvm::sys::fs::exists(it->path() + "/spec.json"))
      dirs.push_back(it->path());
  llvm::sort(dirs);
  return dirs;
}

TEST(ReferenceAdjoint, RecurrencesMatchFiniteDifferencesOnEveryCase) {
  if (!llvm::sys::fs::is_directory(LINREC_CONFORMANCE_DIR))
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  mlir::MLIRContext &context = linrecContext();
  std::mt19937_64 rng(7);
  Checked checked;
  std::vector<std::string> dirs = caseDirs();
  ASSERT_FALSE(dirs.empty());
  for (const std::string &dir : dirs) {
    std::string name = llvm::sys::path::filename(dir).str();
    auto loaded = loadCase(context, dir);
    ASSERT_TRUE(bool(loaded)) << name << ": " << llvm::toString(loaded.takeError());
    auto outputs = evaluateFunction(
        *loaded->model.module, "layer", loaded->args,
        [&](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
          checkRecurrence(op, operands, rng, name, checked);
          return interpretRecurrence(op, operands);
        },
        /*fuse=*/true);
    ASSERT_TRUE(bool(outputs)) << name << ": " << llvm::toString(outputs.takeError());
  }
  std::printf("checked %d recurrences (%d operands)\n", checked.recurrences, checked.operands);
  EXPECT_EQ(checked.unsupported, 0);
  EXPECT_GE(checked.recurrences, 46);
  EXPECT_GE(checked.operands, 250);
}

/// The whole layer (the tensor ops around the recurrences: gates, projections, routing,
/// windows, norms) of every case, per float input, as README §6's backward defines it.
TEST(ReferenceAdjoint, LayersMatchFiniteDifferencesOnEveryCase) {
  if (!llvm::sys::fs::is_directory(LINREC_CONFORMANCE_DIR))
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  mlir::MLIRContext &context = linrecContext();
  std::mt19937_64 rng(11);
  Checked checked;
  for (const std::string &dir : caseDirs()) {
    std::string name = llvm::sys::path::filename(dir).str();
    auto loaded = loadCase(context, dir);
    ASSERT_TRUE(bool(loaded)) << name << ": " << llvm::toString(loaded.takeError());
    mlir::ModuleOp module = *loaded->model.module;
    auto results = interpretFunction(module, "layer", loaded->args);
    ASSERT_TRUE(bool(results)) << name << ": " << llvm::toString(results.takeError());
    std::vector<Array> cotangents = randomCotangents(*results, rng);
    auto gradients = interpretFunctionGradient(module, "layer", loaded->args, cotangents);
    ASSERT_TRUE(bool(gradients)) << name << ": " << llvm::toString(gradients.takeError());
    ++checked.recurrences;
    LossFunction lossAt = [&](llvm::ArrayRef<Array> at) -> llvm::Expected<double> {
      return innerProduct(interpretFunction(module, "layer", at), cotangents);
    };
    for (size_t i = 0; i < loaded->args.size(); ++i) {
      DType dtype = loaded->args[i].dtype;
      if (dtype == DType::I32 || dtype == DType::I64)
        continue; // cu_seqlens
      checkOperand(lossAt, loaded->args, i, (*gradients)[i], [](size_t) { return false; },
                   rng, name + " " + loaded->model.inputNames[i], checked);
    }
  }
  std::printf("checked %d layers (%d inputs)\n", checked.recurrences, checked.operands);
  EXPECT_GE(checked.recurrences, 49);
}

/// The backward linrec-build-backward derives, on every case whose layer it derives: its
/// float64 evaluation against the reference adjoint (the derivation itself), and
/// its kernels on the CPU and on the GPU schedule run on the CPU (float32: 1e-5 relative RMS,
/// 1e-4 for the gradients of log-decays and betas). A layer it does not derive must say
/// which op; the families listed below must always derive.
TEST(DerivedBackward, MatchesTheReferenceAdjointOnEveryCaseItDerives) {
  if (!llvm::sys::fs::is_directory(LINREC_CONFORMANCE_DIR))
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  const llvm::StringRef derivedModels[] = {
      "linear",           "lightning", "simple_gla", "gla",         "liger_gla", "liger_hgrn2",
      "transnormer_norm", "hedgehog",  "delta",      "gated_delta", "kda",
      "liger_attention",  "transnormer_diag", "mom",       "lolcats",   "tensor_attention"};
  mlir::MLIRContext &context = linrecContext();
  KernelCompiler compiler;
  std::mt19937_64 rng(13);
  int derived = 0, gradients = 0;
  for (const std::string &dir : caseDirs()) {
    std::string name = llvm::sys::path::filename(dir).str();
    auto loaded = loadCase(context, dir);
    ASSERT_TRUE(bool(loaded)) << name << ": " << llvm::toString(loaded.takeError());
    mlir::ModuleOp module = *loaded->model.module;
    std::string model = name.substr(0, name.rfind('_', name.find_first_of("0123456789") - 1));
    auto backward = deriveBackward(module, "layer");
    if (!backward) {
      std::string message = llvm::toString(backward.takeError());
      EXPECT_NE(message.find("has no derived backward yet"), std::string::npos)
          << name << ": " << message;
      for (llvm::StringRef must : derivedModels)
        EXPECT_FALSE(llvm::StringRef(name).starts_with((must + "_0").str()))
            << name << " must derive: " << message;
      continue;
    }
    ++derived;
    auto results = interpretFunction(module, "layer", loaded->args);
    ASSERT_TRUE(bool(results)) << name << ": " << llvm::toString(results.takeError());
    std::vector<Array> cotangents = randomCotangents(*results, rng);
    auto expected =
        runFunctionBackward(module, "layer", loaded->args, cotangents, Target::Reference,
                            compiler, KernelOptions());
    ASSERT_TRUE(bool(expected)) << name << ": " << llvm::toString(expected.takeError());
    std::vector<Array> all = loaded->args;
    llvm::append_range(all, cotangents);
    auto evaluated = interpretFunction(**backward, "layer_backward", all);
    ASSERT_TRUE(bool(evaluated)) << name << ": " << llvm::toString(evaluated.takeError());
    std::vector<bool> gates = gateGradients(**backward, "layer");
    ASSERT_EQ(evaluated->size(), expected->size()) << name;
    // The derivation to rounding: the backward bodies hold f32 constants (the read scale
    // 1/√dk multiplies q there), 6e-8 relative each; a wrong rule is off by far more.
    for (size_t i = 0; i < expected->size(); ++i)
      EXPECT_LT(relativeRmsError((*evaluated)[i], (*expected)[i]), 1e-6)
          << name << " gradient #" << i << " (float64 evaluation of the derived backward)";
    std::vector<Array> floatArgs;
    for (const Array &arg : loaded->args)
      if (arg.dtype == DType::F32 || arg.dtype == DType::F64)
        floatArgs.push_back(arg);
    for (Target target : {Target::CPU, Target::GPUScheduleOnCPU}) {
      auto run = runFunctionBackward(module, "layer", loaded->args, cotangents, target, compiler,
                                     KernelOptions());
      ASSERT_TRUE(bool(run)) << name << ": " << llvm::toString(run.takeError());
      std::vector<double> errors = gradientErrors(*run, *expected, floatArgs);
      for (size_t i = 0; i < expected->size(); ++i, ++gradients)
        EXPECT_LT(errors[i], gates[i] ? 1e-4 : 1e-5)
            << name << " gradient #" << i << " on " << targetName(target).str();
    }
  }
  std::printf("derived the backward of %d layers (%d gradients on two targets)\n", derived,
              gradients);
  EXPECT_GE(derived, 49);
}

} // namespace
