//===- CaseFuzzer.cpp - libFuzzer target: the conformance case loader -----===//
//
// Any bytes as a case's spec.json, in a case directory of its own (under the fuzzer's working
// directory) that holds one small valid array per name the public cases use: the loader
// builds the model's IR or gives an error, never crashes, and opens nothing outside the
// directory (its path checks: item 6 of issue 19).

#include "FuzzContext.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>

namespace {
const char *const kCaseDir = "linrec-case-fuzz";

/// The case directory with a [1, 4, 1, 2] f32 array under each usual input name.
bool prepareDirectory() {
  if (llvm::sys::fs::create_directories(kCaseDir))
    return false;
  linrec::Array array;
  array.dtype = linrec::DType::F32;
  array.shape = {1, 4, 1, 2};
  array.data.assign(8, 0.5);
  for (const char *name : {"q", "k", "v", "g", "gk", "beta", "o", "final_state"})
    if (llvm::Error error =
            linrec::writeNpy((llvm::Twine(kCaseDir) + "/" + name + ".npy").str(), array)) {
      llvm::consumeError(std::move(error));
      return false;
    }
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready = prepareDirectory();
  if (!ready)
    return 0;
  {
    std::error_code ec;
    llvm::raw_fd_ostream spec((llvm::Twine(kCaseDir) + "/spec.json").str(), ec);
    if (ec)
      return 0;
    spec.write(reinterpret_cast<const char *>(data), size);
  }
  llvm::Expected<linrec::PreparedModel> model = linrec::prepareCase(linrec::fuzz::context(), kCaseDir);
  if (!model)
    llvm::consumeError(model.takeError());
  return 0;
}
