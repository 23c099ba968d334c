//===- MpiGroup.h - SequenceGroup over MPI ----------------------*- C++ -*-===//
//
// The collectives of a sequence-parallel run from MPI (Open MPI here, started by mpirun):
// MPI_Allgather for the summaries, MPI_Gather + MPI_Gatherv for the outputs. Built when CMake
// finds MPI (LINREC_HAVE_MPI).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_MPIGROUP_H
#define LINREC_RUNTIME_MPIGROUP_H

#include "linrec/Runtime/SequenceParallel.h"

namespace linrec {

/// MPI_COMM_WORLD's ranks. Construct it after MPI_Init; errors come back as llvm::Errors
/// (MPI_ERRORS_RETURN), and a rank that dies makes mpirun end the others.
class MpiGroup : public SequenceGroup {
public:
  MpiGroup();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  llvm::Error allGather(llvm::ArrayRef<char> local, std::vector<char> &all) override;
  llvm::Error gatherToRoot(llvm::ArrayRef<char> local,
                           std::vector<std::vector<char>> &all) override;

private:
  int rank_ = 0, size_ = 1;
};

} // namespace linrec

#endif // LINREC_RUNTIME_MPIGROUP_H
