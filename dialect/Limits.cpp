//===- Limits.cpp - the sizes linrec accepts from its users ---------------===//

#include "linrec/Dialect/Limits.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"

std::optional<std::string> linrec::limits::checkDims(llvm::ArrayRef<llvm::StringRef> names,
                                                     llvm::ArrayRef<int64_t> sizes) {
  int64_t elements = 1;
  for (auto [name, size] : llvm::zip(names, sizes)) {
    if (size < 0) // dynamic
      continue;
    int64_t lowest = mayBeEmpty(name) ? 0 : 1;
    if (size < lowest || size > maxSize(name))
      return ("dim " + name + " = " + llvm::Twine(size) + " is out of range [" +
              llvm::Twine(lowest) + ", " + llvm::Twine(maxSize(name)) + "]")
          .str();
    if (llvm::MulOverflow(elements, size, elements) || elements > kMaxElements)
      return ("more than " + llvm::Twine(kMaxElements) + " elements").str();
  }
  return std::nullopt;
}
