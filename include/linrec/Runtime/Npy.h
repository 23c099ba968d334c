//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Reads and writes NumPy format 1.0/2.0 files: little-endian, C order, no pickles. Supported
// element types: <f2, <f4, <f8, <i4, <i8 (read and write), and bfloat16 as ml_dtypes writes
// it ('<V2' is ambiguous, so bfloat16 is read only when the caller asks for it).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_NPY_H
#define LINREC_RUNTIME_NPY_H

#include "linrec/Reference/Array.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace linrec {

/// Parses a whole .npy file held in memory. `what` names it in error messages.
llvm::Expected<Array> parseNpy(llvm::StringRef bytes, llvm::StringRef what);

/// Reads a .npy file; errors name the path and say what is wrong with it.
llvm::Expected<Array> readNpy(llvm::StringRef path);

/// Serializes `array` as a .npy file of its dtype (format 1.0).
std::string serializeNpy(const Array &array);

/// Writes `array` to `path`.
llvm::Error writeNpy(llvm::StringRef path, const Array &array);

} // namespace linrec

#endif // LINREC_RUNTIME_NPY_H
