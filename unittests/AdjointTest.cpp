//===- AdjointTest.cpp - the reference adjoint against finite differences -===//
//
// Every recurrence of every conformance case (its real operands: the case's inputs, through
// the layer's ops before it) gets the float64 adjoint of a random loss L = Σ ⟨c, result⟩, and
// each operand's gradient is checked against central differences of the float64 forward
// along random unit directions (conformance README §6's measure). Bodies the adjoint does not
// handle yet must say so by name.

#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Npy.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

using namespace linrec;

namespace {

/// L = Σ ⟨cotangent, result⟩ of the forward at `operands`, or an error.
llvm::Expected<double> loss(RecurrenceOp op, llvm::ArrayRef<Array> operands,
                            llvm::ArrayRef<Array> cotangents) {
  auto results = interpretRecurrence(op, operands);
  if (!results)
    return results.takeError();
  double sum = 0;
  for (auto [r, c] : llvm::zip(*results, cotangents))
    for (size_t i = 0; i < c.data.size(); ++i)
      sum += r.data[i] * c.data[i];
  return sum;
}

struct Checked {
  int recurrences = 0, operands = 0, unsupported = 0;
};

/// Checks the adjoint of `op` at `operands`; records what it checked.
void checkRecurrence(RecurrenceOp op, llvm::ArrayRef<Array> operands, std::mt19937_64 &rng,
                     const std::string &what, Checked &checked) {
  std::normal_distribution<double> normal;
  auto results = interpretRecurrence(op, operands);
  ASSERT_TRUE(bool(results)) << what << ": " << llvm::toString(results.takeError());
  std::vector<Array> cotangents;
  for (const Array &r : *results) {
    Array c(DType::F64, r.shape);
    for (double &v : c.data)
      v = normal(rng);
    cotangents.push_back(std::move(c));
  }
  auto gradients = interpretRecurrenceGradient(op, operands, cotangents);
  if (!gradients) {
    std::string message = llvm::toString(gradients.takeError());
    EXPECT_NE(message.find("does not differentiate"), std::string::npos) << what << message;
    ++checked.unsupported;
    return;
  }
  ASSERT_EQ(gradients->size(), operands.size()) << what;
  ++checked.recurrences;
  size_t numOperands = operands.size() - (op.getCuSeqlens() ? 1 : 0);
  for (size_t i = 0; i < numOperands; ++i) {
    const Array &x = operands[i], &g = (*gradients)[i];
    ASSERT_EQ(g.shape, x.shape) << what << " operand #" << i;
    if (x.data.empty())
      continue;
    // An input that a comparison tests (MoM's routing weights, w > 0: routed) is perturbed
    // only where it is not 0, so that no choice flips.
    bool compared = false;
    unsigned numStates = op.getNumStates(), numInputs = op.getInputs().size();
    if (i < numInputs + op.getParams().size())
      for (mlir::Operation *user : op.getBodyBlock().getArgument(numStates + i).getUsers())
        compared |= mlir::isa<mlir::arith::CmpFOp>(user);
    Array u(DType::F64, x.shape);
    double norm = 0;
    for (size_t e = 0; e < u.data.size(); ++e) {
      double v = compared && x.data[e] == 0 ? 0.0 : normal(rng);
      norm += (u.data[e] = v) * v;
    }
    if (norm == 0)
      continue;
    for (double &v : u.data)
      v /= std::sqrt(norm);
    // Central differences at ε and ε/2, Richardson-extrapolated (error O(ε⁴)): a long
    // sequence's decays have large higher derivatives.
    const double epsilon = 1e-5;
    auto shifted = [&](double by, bool magnitude) {
      std::vector<Array> copy(operands.begin(), operands.end());
      for (size_t e = 0; e < u.data.size(); ++e)
        copy[i].data[e] += by * (magnitude ? std::abs(u.data[e]) : u.data[e]);
      return loss(op, copy, cotangents);
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
      auto base = loss(op, operands, cotangents);
      auto down = shifted(-epsilon / 100, true);
      ASSERT_TRUE(base && down) << what << " operand #" << i;
      directional = (*base - *down) / (epsilon / 100);
      for (size_t e = 0; e < u.data.size(); ++e)
        predicted += g.data[e] * std::abs(u.data[e]);
    }
    for (double v : g.data)
      gradNorm += v * v;
    // The differences' own rounding: a few ulps of L over the step.
    auto base = loss(op, operands, cotangents);
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
}

TEST(ReferenceAdjoint, MatchesFiniteDifferencesOnEveryCase) {
  std::string root = LINREC_CONFORMANCE_DIR;
  if (!llvm::sys::fs::is_directory(root))
    GTEST_SKIP() << "no conformance cases at " << root;
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::mt19937_64 rng(7);
  Checked checked;
  std::error_code ec;
  std::vector<std::string> dirs;
  for (llvm::sys::fs::directory_iterator it(root, ec), end; it != end && !ec; it.increment(ec))
    if (llvm::sys::fs::exists(it->path() + "/spec.json"))
      dirs.push_back(it->path());
  llvm::sort(dirs);
  ASSERT_FALSE(dirs.empty());
  for (const std::string &dir : dirs) {
    std::string name = llvm::sys::path::filename(dir).str();
    auto prepared = prepareCase(context, dir);
    ASSERT_TRUE(bool(prepared)) << name << ": " << llvm::toString(prepared.takeError());
    auto spec = llvm::MemoryBuffer::getFile(dir + "/spec.json");
    ASSERT_TRUE(bool(spec)) << name;
    auto json = llvm::json::parse((*spec)->getBuffer());
    ASSERT_TRUE(bool(json)) << name;
    const llvm::json::Object *inputs = json->getAsObject()->getObject("inputs");
    std::vector<Array> args;
    for (const std::string &input : prepared->inputNames) {
      auto file = inputs->getString(input);
      ASSERT_TRUE(file.has_value()) << name << ": " << input;
      auto array = readNpy(dir + "/" + file->str());
      ASSERT_TRUE(bool(array)) << name << ": " << llvm::toString(array.takeError());
      args.push_back(std::move(*array));
    }
    auto outputs = evaluateFunction(
        *prepared->module, "layer", args,
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

} // namespace
