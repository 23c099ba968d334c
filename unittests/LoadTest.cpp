//===- LoadTest.cpp - many callers on one runtime -------------------------===//
//
// Eight threads make many calls each on one KernelCompiler (the runtime's kernel cache, which
// every caller of a process shares): 60 each in the suite, LINREC_LOAD_CALLS_PER_THREAD=1000
// for the full load run (8,000 calls: 12 minutes on the 2-core VM, most of it loading cases
// and building their layers): conformance cases of ten models under six schedules, in
// an order of their own, so that compiles of different layers, compiles of the same layer and
// runs of cached kernels overlap. Every call must give its case's outputs within tolerance, and
// the cache must end with one kernel per (layer, schedule): no crash, deadlock or duplicate.
// Each thread builds its IR in its own MLIRContext, as the runtime's callers do.

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "TestOptions.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace linrec;

namespace {

/// Models with a recurrence, a window, a normalizer, routed memories, varlen and decode steps.
const char *const kCases[] = {
    "gla_01_glagate",       "gated_delta_03_varlen",    "linear_02_normalized",
    "kda_03_short",         "lolcats_04_sliding_short", "mom_02_top1",
    "transnormer_diag_03_short", "simple_gla_03_decode", "hedgehog_03_short",
    "lightning_03_short"};

/// The schedules: chunk sizes and the token scan.
KernelOptions schedule(int which) {
  KernelOptions options;
  setChunkSize(options, 16 << (which % 3));
  setSequential(options, which >= 3);
  options.cpu.threads = 1; // the callers are the parallelism here
  return options;
}
constexpr int kSchedules = 6;

TEST(Load, EightThreadsCallOneCompilerWithMixedLayers) {
  if (!llvm::sys::fs::is_directory(LINREC_CONFORMANCE_DIR))
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  constexpr int kThreads = 8;
  const char *calls = std::getenv("LINREC_LOAD_CALLS_PER_THREAD");
  const int kCallsPerThread = calls ? std::max(1, std::atoi(calls)) : 60;
  constexpr int kNumCases = sizeof(kCases) / sizeof(kCases[0]);
  KernelCompiler compiler;
  std::atomic<int> passed{0};
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      mlir::DialectRegistry registry;
      linrec::registerAllDialects(registry);
      mlir::MLIRContext context(registry);
      context.loadAllAvailableDialects();
      std::mt19937 rng(1000 + t);
      for (int call = 0; call < kCallsPerThread && failures[t].empty(); ++call) {
        int which = int(rng() % (kNumCases * kSchedules));
        std::string dir = std::string(LINREC_CONFORMANCE_DIR) + "/" + kCases[which % kNumCases];
        llvm::Expected<CaseReport> report = runConformanceCase(
            context, dir, Target::CPU, "", compiler, schedule(which / kNumCases));
        if (!report)
          failures[t] = dir + ": " + llvm::toString(report.takeError());
        else if (!report->passed())
          failures[t] = dir + ": outputs over tolerance";
        else
          ++passed;
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_TRUE(failures[t].empty()) << "thread " << t << ": " << failures[t];
  EXPECT_EQ(passed.load(), kThreads * kCallsPerThread);
  // A layer can be several kernels (a recurrence and a window), never more than one per
  // (op, schedule): at most a few per case and schedule, and at least one.
  EXPECT_GE(compiler.cacheSize(), size_t(kNumCases));
  EXPECT_LE(compiler.cacheSize(), size_t(3 * kNumCases * kSchedules));
}

} // namespace
