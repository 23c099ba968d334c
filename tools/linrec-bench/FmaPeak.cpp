//===- FmaPeak.cpp - the register FMA peak of this host -------------------===//
//
// One loop per ISA, each compiled for its target only and picked at run time from what the
// host reports (__builtin_cpu_supports), so that one binary measures an AVX-512 Xeon and an
// AVX2-only EPYC alike. Each loop keeps more independent accumulator chains than the FMA units
// × their latency need (two units of latency 4: 8), all in registers: 16 of the 32 zmm, 12 of
// the 16 ymm. acc ← acc·a + b with a < 1 converges to b / (1 − a): no overflow, no denormals.
//
//===----------------------------------------------------------------------===//

#include "FmaPeak.h"

#include "Timing.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace linrec::bench {
namespace {

constexpr long kInner = 1 << 14; // FMAs per chain between clock reads

__attribute__((target("avx512f"))) double avx512Flops(long rounds) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j)
    acc[j] = _mm512_set1_ps(float(j));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (long r = 0; r < rounds * kInner; ++r)
    for (int j = 0; j < 16; ++j)
      acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  __m512 sum = acc[0];
  for (int j = 1; j < 16; ++j)
    sum = _mm512_add_ps(sum, acc[j]);
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  return 2.0 * 16 * 16 * double(rounds) * kInner;
}

__attribute__((target("avx2,fma"))) double avx2Flops(long rounds) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j)
    acc[j] = _mm256_set1_ps(float(j));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
  for (long r = 0; r < rounds * kInner; ++r)
    for (int j = 0; j < 12; ++j)
      acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  __m256 sum = acc[0];
  for (int j = 1; j < 12; ++j)
    sum = _mm256_add_ps(sum, acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  volatile float sink = lanes[0];
  (void)sink;
  return 2.0 * 12 * 8 * double(rounds) * kInner;
}

double scalarFlops(long rounds) {
  float acc[8];
  for (int j = 0; j < 8; ++j)
    acc[j] = float(j);
  for (long r = 0; r < rounds * kInner; ++r)
    for (int j = 0; j < 8; ++j)
      acc[j] = acc[j] * 0.999f + 1e-3f;
  volatile float sink = acc[0] + acc[7];
  (void)sink;
  return 2.0 * 8 * double(rounds) * kInner;
}

} // namespace

FmaPeak measureFmaPeak(unsigned threads, double seconds) {
  __builtin_cpu_init();
  double (*loop)(long) = scalarFlops;
  std::string isa = "scalar";
  if (__builtin_cpu_supports("avx512f")) {
    loop = avx512Flops;
    isa = "avx512f";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = avx2Flops;
    isa = "avx2+fma";
  }
  // Rounds for about `seconds` per run, from a short calibration.
  double t0 = now();
  loop(4);
  double perRound = std::max((now() - t0) / 4, 1e-7);
  long rounds = std::max(1L, long(seconds / perRound));
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    std::vector<double> flops(threads);
    double start = now();
    // On OpenMP's threads, the pool the kernels run on: fresh threads would compete with its
    // workers, which spin for a while after each of the kernels' parallel regions.
    int n = int(threads);
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int t = 0; t < n; ++t)
      flops[t] = loop(rounds);
    double elapsed = now() - start, total = 0;
    for (double f : flops)
      total += f;
    best = std::max(best, total / elapsed / 1e9);
  }
  return {best, isa};
}

} // namespace linrec::bench
