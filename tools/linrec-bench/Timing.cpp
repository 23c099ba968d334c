//===- Timing.cpp - interleaved repeated measurements ---------------------===//

#include "Timing.h"

#include "FmaPeak.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace linrec::bench {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static double medianOf(std::vector<double> values) {
  if (values.empty())
    return NAN;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double Samples::median() const { return medianOf(values); }

double Samples::spread() const {
  if (values.empty())
    return NAN;
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return (*hi - *lo) / median();
}

double RowTimes::percentOfPeak(llvm::ArrayRef<size_t> variants, double flops) const {
  std::vector<double> ratios;
  for (size_t r = 0; r < peak.values.size(); ++r) {
    double time = 0;
    for (size_t variant : variants)
      time += seconds[variant].values[r];
    ratios.push_back(100.0 * flops / time / 1e9 / peak.values[r]);
  }
  return medianOf(std::move(ratios));
}

/// The best time of the calls of `f` within `seconds` (at least one).
static double bestWithin(const std::function<void()> &f, double seconds) {
  double best = INFINITY, start = now();
  do {
    double t0 = now();
    f();
    best = std::min(best, now() - t0);
  } while (now() - start < seconds);
  return best;
}

RowTimes measureRow(llvm::ArrayRef<std::function<void()>> variants, unsigned threads,
                    const TimingPlan &plan) {
  RowTimes times;
  times.seconds.resize(variants.size());
  for (const std::function<void()> &f : variants)
    f(); // warm-up: first-touch of outputs, the thread pool's start
  for (int round = 0; round < plan.rounds; ++round) {
    if (plan.peakSeconds > 0)
      times.peak.values.push_back(measureFmaPeak(threads, plan.peakSeconds).gflops);
    for (auto [i, f] : llvm::enumerate(variants))
      times.seconds[i].values.push_back(bestWithin(f, plan.secondsPerRound));
  }
  return times;
}

} // namespace linrec::bench
