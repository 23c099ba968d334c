//===- InputChecks.h - the values a model's inputs may hold ------*- C++ -*-===//
//
// The checked mode of linrec-run and the Python API (on by default): before a model runs, its
// float inputs are scanned for values outside their domain, which the kernels would turn into
// garbage without a word: NaN or ±∞ in any input, and in a log-decay (ModelInfo) a NaN or a
// positive value (−∞ is a full reset: allowed). Turned off (`--check-inputs=false`,
// `check=False`), such inputs may give garbage, never a crash.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_INPUTCHECKS_H
#define LINREC_RUNTIME_INPUTCHECKS_H

#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Kernel.h"

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace linrec {

/// Why input `name` of `model` holds a value outside its domain ("g[0, 3, 1] = 0.5: a
/// log-decay must be <= 0"), or nothing. Float32 and float64 views are scanned; other
/// dtypes pass.
std::optional<std::string> checkInputValues(llvm::StringRef model, llvm::StringRef name,
                                            const BufferView &view);
std::optional<std::string> checkInputValues(llvm::StringRef model, llvm::StringRef name,
                                            const Array &array);

} // namespace linrec

#endif // LINREC_RUNTIME_INPUTCHECKS_H
