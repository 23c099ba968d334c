//===- Timing.h - interleaved repeated measurements -------------*- C++ -*-===//
//
// A benchmark row is measured in rounds: each round times every variant of the row once
// (best of the calls within the round's time) and the register FMA peak right beside them.
// Drift of the machine (another VM's load, clock changes) then hits the variants and the peak
// alike: a row reports the median over rounds and the spread (max − min over the median), and
// its percentage of the peak is the median of the per-round ratios.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_TOOLS_LINREC_BENCH_TIMING_H
#define LINREC_TOOLS_LINREC_BENCH_TIMING_H

#include "llvm/ADT/ArrayRef.h"

#include <functional>
#include <vector>

namespace linrec::bench {

double now();

/// Values of repeated measurements.
struct Samples {
  std::vector<double> values;
  double median() const;
  /// (max − min) / median: 0.05 means the rounds lay within 5% of each other.
  double spread() const;
};

/// What a row's rounds measured: seconds per call of each variant, and the FMA peak (GFLOP/s,
/// on the row's threads) between them.
struct RowTimes {
  std::vector<Samples> seconds; // per variant
  Samples peak;
  /// The median over rounds of (flops / seconds of the `variants` together) / peak, in
  /// percent.
  double percentOfPeak(llvm::ArrayRef<size_t> variants, double flops) const;
};

/// How rows are measured: `rounds` rounds of `secondsPerRound` per variant (at least one call
/// each after a warm-up call).
struct TimingPlan {
  int rounds = 5;
  double secondsPerRound = 0.06;
  /// Length of each of the FMA peak's three runs in a round (0: not measured).
  double peakSeconds = 0.02;
};

/// Times each of `variants` (one call = one run of the variant) in interleaved rounds, with
/// the FMA peak on `threads` threads measured in each round.
RowTimes measureRow(llvm::ArrayRef<std::function<void()>> variants, unsigned threads,
                    const TimingPlan &plan);

} // namespace linrec::bench

#endif // LINREC_TOOLS_LINREC_BENCH_TIMING_H
