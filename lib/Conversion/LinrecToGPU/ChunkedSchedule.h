//===- ChunkedSchedule.h - the chunked algorithm as a GPU schedule -*- C++ -*-===//
//
// GPU schedules are built from the same pieces as the CPU kernels (KernelEmitter: the work
// decomposition, token loads and stores, the cloning of the body's per-token ops); only the
// loop structure differs: block and thread loops over workgroup tiles.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H

#include "../LinrecToCPU/KernelEmitter.h"

namespace linrec::gpusched {

/// The chunked algorithm (analysis.algorithm is chunked_diagonal or chunked_delta) as one
/// block-mapped scf.parallel over the work items whose chunk phases are thread-mapped
/// scf.parallel loops on workgroup tiles.
void emitChunkedSchedule(cpu::KernelEmitter &emitter);

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H
