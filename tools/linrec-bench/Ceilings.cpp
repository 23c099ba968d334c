//===- Ceilings.cpp - what the host can do, measured in the benchmark's run -===//

#include "Ceilings.h"

#include "FmaPeak.h"
#include "Timing.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/TargetParser/Host.h"

#include <cblas.h>
#ifdef LINREC_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

extern "C" void openblas_set_num_threads(int);
extern "C" char *openblas_get_corename(void);

namespace linrec::bench {

/// "model name" with "(family F model M)" from /proc/cpuinfo, or LLVM's name for the host.
static std::string cpuModelName() {
  auto file = llvm::MemoryBuffer::getFileAsStream("/proc/cpuinfo");
  if (!file)
    return "unknown CPU";
  std::string name, family, model;
  llvm::SmallVector<llvm::StringRef> lines;
  (*file)->getBuffer().split(lines, '\n');
  for (llvm::StringRef line : lines) {
    auto [key, value] = line.split(':');
    key = key.trim();
    value = value.trim();
    if (key == "model name" && name.empty())
      name = value.str();
    else if (key == "cpu family" && family.empty())
      family = value.str();
    else if (key == "model" && model.empty())
      model = value.str();
    if (key.empty() && !name.empty()) // the first processor's block is enough
      break;
  }
  if (name.empty())
    return "unknown CPU";
  return name + " (family " + family + ", model " + model + ")";
}

/// The largest data or unified cache the OS reports (the last-level cache), in bytes.
static size_t lastLevelCacheBytes() {
  long bytes = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
  bytes = std::max(bytes, sysconf(_SC_LEVEL3_CACHE_SIZE));
  bytes = std::max(bytes, sysconf(_SC_LEVEL2_CACHE_SIZE));
#endif
  return bytes > 0 ? size_t(bytes) : 0;
}

HostDescription describeHost() {
  HostDescription host;
  host.cpuModel = cpuModelName();
  host.llvmCpu = llvm::sys::getHostCPUName().str();
  host.fmaIsa = measureFmaPeak(1, 0.001).isa;
  host.lastLevelCache = lastLevelCacheBytes();
  return host;
}

/// The best time of `f`'s calls within `seconds` (a warm-up call first, then at least 3).
template <typename F>
static double bestSeconds(F f, double seconds) {
  f();
  double best = INFINITY, start = now();
  for (int i = 0; i < 3 || now() - start < seconds; ++i) {
    double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}

std::vector<GemmLibrary> measureGemms(unsigned threads, double seconds) {
  const int n = 2048;
  std::vector<float> a(size_t(n) * n, 1.0f), b(size_t(n) * n, 0.5f), c(size_t(n) * n);
  auto gflops = [&](double s) { return 2.0 * n * n * n / s / 1e9; };
  std::vector<GemmLibrary> libraries;
#ifdef LINREC_BENCH_HAVE_DNNL
  // oneDNN runs on the OpenMP runtime of the process (LLVM's libomp answers its GOMP calls).
  omp_set_num_threads(int(threads));
  double dnnl = bestSeconds(
      [&] {
        dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
      },
      seconds);
  libraries.push_back({"oneDNN", gflops(dnnl)});
#endif
  openblas_set_num_threads(int(threads));
  double openblas = bestSeconds(
      [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                    b.data(), n, 0.0f, c.data(), n);
      },
      seconds);
  libraries.push_back(
      {std::string("OpenBLAS (") + openblas_get_corename() + " core)", gflops(openblas)});
  return libraries;
}

size_t beyondCacheBytes(const HostDescription &host) {
  return std::max(size_t(256) << 20, 4 * host.lastLevelCache);
}

double copyBandwidth(unsigned threads, size_t bytes, double seconds) {
  size_t n = bytes / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  volatile float sink = 0;
  int parts = int(threads);
  double s = bestSeconds(
      [&] {
#pragma omp parallel for num_threads(parts) schedule(static, 1)
        for (int p = 0; p < parts; ++p) {
          size_t begin = n * p / parts, end = n * (p + 1) / parts;
          std::memcpy(b.data() + begin, a.data() + begin, (end - begin) * sizeof(float));
        }
        sink = sink + b[n / 2];
      },
      seconds);
  return 2.0 * n * sizeof(float) / s / 1e9;
}

} // namespace linrec::bench
