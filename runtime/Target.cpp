//===- Target.cpp - where compiled code runs ------------------------------===//

#include "linrec/Runtime/Target.h"

namespace linrec {

std::optional<Target> parseTarget(llvm::StringRef name) {
  for (Target target : {Target::Reference, Target::CPU, Target::GPUScheduleOnCPU, Target::CUDA})
    if (name == targetName(target))
      return target;
  return std::nullopt;
}

llvm::StringRef targetName(Target target) {
  switch (target) {
  case Target::Reference:
    return "reference";
  case Target::CPU:
    return "cpu";
  case Target::GPUScheduleOnCPU:
    return "gpu-schedule";
  case Target::CUDA:
    return "cuda";
  }
  return "";
}

} // namespace linrec
