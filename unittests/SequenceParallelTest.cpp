//===- SequenceParallelTest.cpp - the distributed forward over threads ----===//
//
// Ranks as threads of one process (each with its own context and compiler) exchanging through
// shared memory: the parts the tests choose (uneven, empty, single tokens, sequences crossing
// several parts, empty sequences on part boundaries) give the single-process outputs.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/Npy.h"
#include "linrec/Runtime/SequenceParallel.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

using namespace linrec;

namespace {

/// What the ranks of one run share: a slot per rank and a barrier.
class SharedExchange {
public:
  explicit SharedExchange(int ranks) : ranks(ranks), slots(ranks) {}

  /// Every rank's `local` after all have given theirs.
  std::vector<std::vector<char>> exchange(int rank, llvm::ArrayRef<char> local) {
    slots[rank].assign(local.begin(), local.end());
    wait();
    std::vector<std::vector<char>> all = slots;
    wait(); // nobody writes the next exchange's slot before everyone has read this one's
    return all;
  }

private:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex);
    int generation = this->generation;
    if (++arrived == ranks) {
      arrived = 0;
      ++this->generation;
      cv.notify_all();
      return;
    }
    cv.wait(lock, [&] { return this->generation != generation; });
  }

  int ranks;
  std::vector<std::vector<char>> slots;
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0, generation = 0;
};

class ThreadRank : public SequenceGroup {
public:
  ThreadRank(SharedExchange &shared, int rank, int ranks)
      : shared(shared), rank_(rank), size_(ranks) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  llvm::Error allGather(llvm::ArrayRef<char> local, std::vector<char> &all) override {
    all.clear();
    for (const std::vector<char> &block : shared.exchange(rank_, local)) {
      if (block.size() != local.size())
        return llvm::createStringError("all-gather blocks of different sizes");
      all.insert(all.end(), block.begin(), block.end());
    }
    return llvm::Error::success();
  }
  llvm::Error gatherToRoot(llvm::ArrayRef<char> local,
                           std::vector<std::vector<char>> &all) override {
    all = shared.exchange(rank_, local);
    if (rank_ != 0)
      all.clear();
    return llvm::Error::success();
  }

private:
  SharedExchange &shared;
  int rank_, size_;
};

using Outputs = std::vector<std::pair<std::string, Array>>;

/// The per-token inputs cut at `sizes` (their sum: the tokens), rank r the r-th part.
std::map<std::string, Array> cutTokens(llvm::StringRef model,
                                       const std::map<std::string, Array> &inputs,
                                       llvm::ArrayRef<int64_t> sizes, int rank) {
  int64_t begin = 0;
  for (int r = 0; r < rank; ++r)
    begin += sizes[r];
  std::map<std::string, Array> part;
  for (const auto &[name, array] : inputs) {
    int axis = tokenAxis(model, name);
    if (axis < 0) {
      part[name] = array;
      continue;
    }
    std::vector<int64_t> shape = array.shape;
    int64_t outer = 1, inner = 1, tokens = shape[axis];
    for (int i = 0; i < axis; ++i)
      outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i)
      inner *= shape[i];
    shape[axis] = sizes[rank];
    Array cut(array.dtype, shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t t = 0; t < sizes[rank]; ++t)
        std::copy_n(array.data.begin() + (o * tokens + begin + t) * inner, inner,
                    cut.data.begin() + (o * sizes[rank] + t) * inner);
    part[name] = std::move(cut);
  }
  return part;
}

/// Runs `model` over threads holding parts of `sizes` tokens; rank 0's outputs, or the
/// first rank's error.
llvm::Expected<Outputs> runOverThreads(llvm::StringRef model, const llvm::json::Object &params,
                                       const std::map<std::string, Array> &inputs,
                                       llvm::ArrayRef<int64_t> sizes, Target target,
                                       std::vector<SequenceParallelStats> *stats = nullptr) {
  int ranks = static_cast<int>(sizes.size());
  SharedExchange shared(ranks);
  std::vector<std::optional<llvm::Expected<Outputs>>> results(ranks);
  std::vector<SequenceParallelStats> rankStats(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      mlir::DialectRegistry registry;
      linrec::registerAllDialects(registry);
      mlir::MLIRContext context(registry);
      context.loadAllAvailableDialects();
      KernelCompiler compiler;
      KernelOptions options;
      ThreadRank group(shared, r, ranks);
      results[r].emplace(runModelSequenceParallel(context, model, params,
                                                  cutTokens(model, inputs, sizes, r), group,
                                                  target, compiler, options, &rankStats[r]));
    });
  for (std::thread &t : threads)
    t.join();
  if (stats)
    *stats = rankStats;
  std::optional<llvm::Error> firstError;
  for (int r = 1; r < ranks; ++r) {
    if (!*results[r]) {
      llvm::Error e = results[r]->takeError();
      if (!firstError)
        firstError = std::move(e);
      else
        llvm::consumeError(std::move(e));
    } else {
      EXPECT_TRUE((*results[r])->empty()) << "rank " << r << " returned outputs";
    }
  }
  if (!*results[0]) {
    if (firstError)
      llvm::consumeError(std::move(*firstError));
    return results[0]->takeError();
  }
  if (firstError)
    return std::move(*firstError);
  return std::move(**results[0]);
}

llvm::Expected<Outputs> runWhole(llvm::StringRef model, const llvm::json::Object &params,
                                 const std::map<std::string, Array> &inputs, Target target) {
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  KernelCompiler compiler;
  return runModel(context, model, params, inputs, target, compiler, KernelOptions());
}

void expectSameOutputs(const Outputs &got, const Outputs &expected, double tolerance) {
  ASSERT_EQ(got.size(), expected.size());
  for (auto [g, e] : llvm::zip(got, expected)) {
    EXPECT_EQ(g.first, e.first);
    ASSERT_EQ(g.second.shape, e.second.shape) << g.first;
    EXPECT_LE(relativeRmsError(g.second, e.second), tolerance) << g.first;
  }
}

Array randomArray(std::mt19937_64 &rng, std::vector<int64_t> shape, double scale = 1.0) {
  std::normal_distribution<double> normal;
  Array a(DType::F32, std::move(shape));
  for (double &x : a.data)
    x = static_cast<float>(scale * normal(rng));
  return a;
}

/// Gated DeltaNet, varlen: `lengths` sequences (empty ones too) packed, with initial states.
std::map<std::string, Array> gatedDeltaInputs(llvm::ArrayRef<int64_t> lengths, int64_t heads,
                                              int64_t dk, int64_t dv, unsigned seed) {
  std::mt19937_64 rng(seed);
  int64_t total = 0;
  Array cu(DType::I32, {static_cast<int64_t>(lengths.size()) + 1});
  for (auto [i, n] : llvm::enumerate(lengths))
    cu.data[i + 1] = static_cast<double>(total += n);
  std::map<std::string, Array> in;
  in["q"] = randomArray(rng, {1, total, heads, dk});
  in["k"] = randomArray(rng, {1, total, heads, dk});
  for (int64_t t = 0; t < total * heads; ++t) { // unit keys, as the delta rule wants
    double norm = 0;
    for (int64_t d = 0; d < dk; ++d)
      norm += in["k"].data[t * dk + d] * in["k"].data[t * dk + d];
    for (int64_t d = 0; d < dk; ++d)
      in["k"].data[t * dk + d] = static_cast<float>(in["k"].data[t * dk + d] / std::sqrt(norm));
  }
  in["v"] = randomArray(rng, {1, total, heads, dv});
  in["g"] = randomArray(rng, {1, total, heads}, 0.3);
  in["beta"] = randomArray(rng, {1, total, heads});
  for (double &x : in["g"].data)
    x = -std::abs(x);
  for (double &x : in["beta"].data)
    x = static_cast<float>(1 / (1 + std::exp(-x)));
  in["initial_state"] = randomArray(rng, {static_cast<int64_t>(lengths.size()), heads, dk, dv});
  in["cu_seqlens"] = cu;
  return in;
}

llvm::json::Object scaleParams(double scale) { return llvm::json::Object{{"scale", scale}}; }

/// A conformance case's model, params and inputs (the tests that need a hybrid layer's
/// weights take them from its case).
struct Case {
  std::string model;
  llvm::json::Object params;
  std::map<std::string, Array> inputs;
};

std::optional<Case> readCase(llvm::StringRef name) {
  std::string dir = std::string(LINREC_CONFORMANCE_DIR) + "/" + name.str();
  auto buffer = llvm::MemoryBuffer::getFile(dir + "/spec.json");
  if (!buffer)
    return std::nullopt;
  llvm::Expected<llvm::json::Value> spec = llvm::json::parse((*buffer)->getBuffer());
  if (!spec) {
    llvm::consumeError(spec.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *root = spec->getAsObject();
  Case c;
  c.model = root->getString("model")->str();
  c.params = *root->getObject("params");
  for (const auto &[input, file] : *root->getObject("inputs")) {
    llvm::Expected<Array> array = readNpy(dir + "/" + file.getAsString()->str());
    if (!array) {
      llvm::consumeError(array.takeError());
      return std::nullopt;
    }
    c.inputs[input.str()] = std::move(*array);
  }
  return c;
}

} // namespace

TEST(SequenceParallelTest, TokenPartsSplitEvenlyFirstRanksLonger) {
  EXPECT_EQ(tokenPart(10, 0, 4).begin, 0);
  EXPECT_EQ(tokenPart(10, 0, 4).end, 3);
  EXPECT_EQ(tokenPart(10, 1, 4).end, 6);
  EXPECT_EQ(tokenPart(10, 2, 4).size(), 2);
  EXPECT_EQ(tokenPart(10, 3, 4).end, 10);
  EXPECT_EQ(tokenPart(2, 3, 4).size(), 0);
  EXPECT_EQ(tokenPart(2, 3, 4).begin, 2);
}

// Varlen sequences crossing several parts, empty sequences at part boundaries and at the end,
// a part of no tokens in the middle and parts of one token: the float64 reference's outputs,
// to rounding.
TEST(SequenceParallelTest, VarlenSequencesCrossParts) {
  std::map<std::string, Array> inputs = gatedDeltaInputs({0, 13, 0, 1, 9, 20, 0}, 2, 8, 4, 7);
  llvm::Expected<Outputs> expected =
      runWhole("gated_delta", scaleParams(0.35), inputs, Target::Reference);
  ASSERT_TRUE(static_cast<bool>(expected)) << llvm::toString(expected.takeError());
  for (std::vector<int64_t> sizes : {std::vector<int64_t>{13, 1, 9, 20},
                                     std::vector<int64_t>{5, 0, 17, 1, 20},
                                     std::vector<int64_t>{1, 1, 1, 40},
                                     std::vector<int64_t>{43, 0, 0}}) {
    llvm::Expected<Outputs> got =
        runOverThreads("gated_delta", scaleParams(0.35), inputs, sizes, Target::Reference);
    ASSERT_TRUE(static_cast<bool>(got)) << llvm::toString(got.takeError());
    expectSameOutputs(*got, *expected, 1e-12);
  }
}

// The CPU kernels: the summaries travel in f32, the outputs match at f32 tolerance.
TEST(SequenceParallelTest, CpuKernelsMatchTheReference) {
  std::map<std::string, Array> inputs = gatedDeltaInputs({30, 0, 45, 21}, 2, 16, 8, 11);
  llvm::Expected<Outputs> expected =
      runWhole("gated_delta", scaleParams(0.25), inputs, Target::Reference);
  ASSERT_TRUE(static_cast<bool>(expected)) << llvm::toString(expected.takeError());
  std::vector<SequenceParallelStats> stats;
  llvm::Expected<Outputs> got = runOverThreads("gated_delta", scaleParams(0.25), inputs,
                                               {40, 7, 49}, Target::CPU, &stats);
  ASSERT_TRUE(static_cast<bool>(got)) << llvm::toString(got.takeError());
  expectSameOutputs(*got, *expected, 1e-5);
  // Each rank sends its part's size and one sequence's summary: state and dk × dk transition,
  // in f32, whatever the number of tokens.
  for (const SequenceParallelStats &s : stats)
    EXPECT_LE(s.summaryBytes, 3 * 16 + 2 * 8 + 2 * (16 * 8 + 16 * 16) * 4);
}

// A hybrid layer (LoLCATs, sliding window of 64 keys and keys entering the linear state when
// they leave it): parts shorter than the window take their halo from several parts before.
TEST(SequenceParallelTest, HalosReachAcrossShortParts) {
  std::optional<Case> c = readCase("lolcats_01_sliding");
  if (!c)
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  int64_t tokens = c->inputs.at("q").shape[1];
  llvm::Expected<Outputs> expected = runWhole(c->model, c->params, c->inputs, Target::Reference);
  ASSERT_TRUE(static_cast<bool>(expected)) << llvm::toString(expected.takeError());
  std::vector<int64_t> sizes = {70, 10, 0, 30, 1};
  sizes.push_back(tokens - 111);
  std::vector<SequenceParallelStats> stats;
  llvm::Expected<Outputs> got =
      runOverThreads(c->model, c->params, c->inputs, sizes, Target::Reference, &stats);
  ASSERT_TRUE(static_cast<bool>(got)) << llvm::toString(got.takeError());
  expectSameOutputs(*got, *expected, 1e-12);
  EXPECT_GT(stats[1].haloBytes, 0);
}

// One rank's bad input fails every rank (none waits for the others forever).
TEST(SequenceParallelTest, OneRanksErrorFailsAll) {
  std::map<std::string, Array> inputs = gatedDeltaInputs({12, 12}, 1, 4, 4, 3);
  inputs.at("g").data[20] = 0.5; // a positive log-decay, in rank 1's part
  llvm::Expected<Outputs> got =
      runOverThreads("gated_delta", scaleParams(0.5), inputs, {10, 14}, Target::Reference);
  ASSERT_FALSE(static_cast<bool>(got));
  std::string message = llvm::toString(got.takeError());
  EXPECT_NE(message.find("rank 1"), std::string::npos) << message;
}
