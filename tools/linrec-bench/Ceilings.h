//===- Ceilings.h - what the host can do, measured in the benchmark's run -*- C++ -*-===//
//
// The limits a kernel's speed is held against, measured in the same run as the kernels and
// with the same thread count, because this host's speed drifts between runs (a shared VM
// varies by up to 60%): the register FMA peak of the ISA the kernels use (FmaPeak.h, the
// physical limit), the best sgemm of the GEMM libraries at hand (oneDNN, whose JIT picks its
// kernels from the host's features, and OpenBLAS, whose prebuilt core may not know the CPU
// and fall back to a generic one), and the copy bandwidth over a working set beyond the
// last-level cache (a working set inside it measures the cache, not memory).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_TOOLS_LINREC_BENCH_CEILINGS_H
#define LINREC_TOOLS_LINREC_BENCH_CEILINGS_H

#include <cstddef>
#include <string>
#include <vector>

namespace linrec::bench {

/// The host as the tables' header names it.
struct HostDescription {
  std::string cpuModel;   // /proc/cpuinfo's model name, family and model
  std::string llvmCpu;    // the CPU LLVM compiles the kernels for (its host CPU name)
  std::string fmaIsa;     // the widest f32 FMA vectors the host has (FmaPeak's loop)
  size_t lastLevelCache;  // bytes (0: unknown)
};

HostDescription describeHost();

/// One sgemm library: its name (with what it runs on, e.g. OpenBLAS's core) and GFLOP/s.
struct GemmLibrary {
  std::string name;
  double gflops = 0;
};

/// Every sgemm this benchmark links, each measured once on `threads` threads (2048³, best of
/// the runs within `seconds`).
std::vector<GemmLibrary> measureGemms(unsigned threads, double seconds);

/// Bytes of each of the two arrays a copy beyond the last-level cache streams: 4× the cache
/// (so neither array nor their sum stays in it), at least 256 MiB.
size_t beyondCacheBytes(const HostDescription &host);

/// Copy bandwidth (read + write, GB/s) of `bytes` per array, split over `threads` OpenMP
/// threads (the pool the kernels run on), best of the runs within `seconds`.
double copyBandwidth(unsigned threads, size_t bytes, double seconds);

} // namespace linrec::bench

#endif // LINREC_TOOLS_LINREC_BENCH_CEILINGS_H
