//===- MpiGroup.cpp - SequenceGroup over MPI ------------------------------===//

#include "linrec/Runtime/MpiGroup.h"

#include <mpi.h>

#include <climits>

namespace linrec {

static llvm::Error mpiError(int code, const char *call) {
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, message, &length);
  return llvm::createStringError(std::string(call) + " failed: " + std::string(message, length));
}

MpiGroup::MpiGroup() {
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

llvm::Error MpiGroup::allGather(llvm::ArrayRef<char> local, std::vector<char> &all) {
  if (local.size() > INT_MAX)
    return llvm::createStringError("MPI_Allgather: a block of over 2 GiB");
  all.resize(local.size() * size_);
  int count = static_cast<int>(local.size());
  if (int code = MPI_Allgather(local.data(), count, MPI_BYTE, all.data(), count, MPI_BYTE,
                               MPI_COMM_WORLD))
    return mpiError(code, "MPI_Allgather");
  return llvm::Error::success();
}

llvm::Error MpiGroup::gatherToRoot(llvm::ArrayRef<char> local,
                                   std::vector<std::vector<char>> &all) {
  if (local.size() > INT_MAX)
    return llvm::createStringError("MPI_Gatherv: a block of over 2 GiB");
  int count = static_cast<int>(local.size());
  std::vector<int> counts(size_), displacements(size_);
  if (int code = MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD))
    return mpiError(code, "MPI_Gather");
  long long total = 0;
  for (int r = 0; r < size_ && rank_ == 0; ++r) {
    displacements[r] = static_cast<int>(total);
    total += counts[r];
  }
  if (total > INT_MAX)
    return llvm::createStringError("MPI_Gatherv: outputs of over 2 GiB on rank 0");
  std::vector<char> buffer(rank_ == 0 ? total : 0);
  if (int code = MPI_Gatherv(local.data(), count, MPI_BYTE, buffer.data(), counts.data(),
                             displacements.data(), MPI_BYTE, 0, MPI_COMM_WORLD))
    return mpiError(code, "MPI_Gatherv");
  all.clear();
  if (rank_ == 0)
    for (int r = 0; r < size_; ++r)
      all.emplace_back(buffer.begin() + displacements[r],
                       buffer.begin() + displacements[r] + counts[r]);
  return llvm::Error::success();
}

} // namespace linrec
