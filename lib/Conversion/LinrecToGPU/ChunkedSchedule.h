//===- ChunkedSchedule.h - the chunked algorithm as a GPU schedule -*- C++ -*-===//
//
// GPU schedules are built from the same pieces as the CPU kernels (KernelEmitter: the work
// decomposition, token loads and stores, the cloning of the body's per-token ops); only the
// loop structure differs: block and thread loops over workgroup tiles.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H

#include "KernelCommon/KernelEmitter.h"

namespace linrec::gpusched {

/// The chunked algorithm (analysis.algorithm is chunked_diagonal or chunked_delta) as
/// block-mapped scf.parallel loops over programs whose chunk phases are thread-mapped
/// scf.parallel loops on workgroup tiles: one program per work item walking its chunks
/// ("fused"), or, `twoPhase`, a state pass saving every chunk-start state to a workspace and a
/// chunk-parallel output pass. `tensorCores` makes the chunk's products f16 matmuls with f32
/// accumulation (linalg.matmul on tiles, tensor-core MMA once mapped).
void emitChunkedSchedule(codegen::KernelEmitter &emitter, bool twoPhase, bool tensorCores);

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_CHUNKEDSCHEDULE_H
