//===- FmaPeak.h - the register FMA peak of this host ----------*- C++ -*-===//
//
// The ceiling a kernel's GFLOP/s is compared with: fused multiply-adds on registers only
// (independent chains, no loads), at the widest vector width the host supports, on `threads`
// threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_TOOLS_LINREC_BENCH_FMAPEAK_H
#define LINREC_TOOLS_LINREC_BENCH_FMAPEAK_H

#include <string>

namespace linrec::bench {

struct FmaPeak {
  double gflops;   // f32 FLOP/s over all threads, an FMA counted as 2
  std::string isa; // "avx512f", "avx2+fma" or "scalar"
};

/// Best of several runs of `seconds` each (at least).
FmaPeak measureFmaPeak(unsigned threads, double seconds);

} // namespace linrec::bench

#endif // LINREC_TOOLS_LINREC_BENCH_FMAPEAK_H
