//===- TestOptions.h - schedule settings the tests sweep --------*- C++ -*-===//

#ifndef LINREC_UNITTESTS_TESTOPTIONS_H
#define LINREC_UNITTESTS_TESTOPTIONS_H

#include "linrec/Runtime/Kernel.h"

namespace linrec {

/// The chunk size of both targets: the sweeps run one chunk size through every kernel form
/// (CPU kernels and GPU schedules).
inline void setChunkSize(KernelOptions &options, int64_t chunkSize) {
  options.cpu.chunkSize = chunkSize;
  options.gpu.chunkSize = chunkSize;
}

/// The exact scan on both targets.
inline void setSequential(KernelOptions &options, bool sequential) {
  options.cpu.sequential = sequential;
  options.gpu.sequential = sequential;
}

} // namespace linrec

#endif // LINREC_UNITTESTS_TESTOPTIONS_H
