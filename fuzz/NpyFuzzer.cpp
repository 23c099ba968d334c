//===- NpyFuzzer.cpp - libFuzzer target: the .npy parser ------------------===//
//
// Any bytes: a parsed array or an error, never a crash, a hang or an allocation the header's
// claims alone would make (the parser checks sizes against the bytes it has).

#include "linrec/Runtime/Npy.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::Expected<linrec::Array> array = linrec::parseNpy(bytes, "fuzz.npy");
  if (!array)
    llvm::consumeError(array.takeError());
  return 0;
}
