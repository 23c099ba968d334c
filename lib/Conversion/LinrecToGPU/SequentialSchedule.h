//===- SequentialSchedule.h - the token scan as a GPU schedule --*- C++ -*-===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_SEQUENTIALSCHEDULE_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_SEQUENTIALSCHEDULE_H

#include "KernelCommon/KernelEmitter.h"

namespace linrec::gpusched {

/// The exact token-by-token scan of any recurrence the verifier accepts, as a GPU schedule:
/// one program per (sequence, head), the states in workgroup tiles, each state op a thread
/// phase over its elements (or columns), the per-token ops on one thread.
void emitSequentialSchedule(codegen::KernelEmitter &emitter);

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_SEQUENTIALSCHEDULE_H
