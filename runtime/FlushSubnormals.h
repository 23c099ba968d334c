//===- FlushSubnormals.h - subnormal results flushed to zero while kernels run -*- C++ -*-===//
//
// Strong decays make in-chunk factors like e^{b_i − b_j} smaller than float32's smallest
// normal number (1.2e-38); x86 computes on such subnormal values through a microcode assist,
// tens of times slower (a chunked layer with decays of −3.5 per token ran 3× slower than with
// mild ones). Their contribution is below f32's resolution of any normal output, so the
// kernels run with flush-to-zero (MXCSR.FTZ): subnormal results become 0. Inputs are read as
// they are (no denormals-are-zero): a subnormal input still counts. The caller's floating-point
// environment is restored afterwards. OpenMP's workers take the master's MXCSR at each
// parallel region (libomp's KMP_INHERIT_FP_CONTROL, on by default), and Kernel::run sets it
// in each of its workers as well.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_FLUSHSUBNORMALS_H
#define LINREC_RUNTIME_FLUSHSUBNORMALS_H

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace linrec {

class ScopedFlushSubnormals {
public:
#if defined(__x86_64__) || defined(__i386__)
  ScopedFlushSubnormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | kFlushToZero); }
  ~ScopedFlushSubnormals() { _mm_setcsr(saved); }

private:
  static constexpr unsigned kFlushToZero = 0x8000; // MXCSR bit 15
  unsigned saved;
#else
  // Elsewhere the kernels run in the caller's environment.
  ScopedFlushSubnormals() = default;
#endif
  ScopedFlushSubnormals(const ScopedFlushSubnormals &) = delete;
  ScopedFlushSubnormals &operator=(const ScopedFlushSubnormals &) = delete;
};

} // namespace linrec

#endif // LINREC_RUNTIME_FLUSHSUBNORMALS_H
