//===- InputChecks.h - the values a model's inputs may hold ------*- C++ -*-===//
//
// The checked mode of linrec-run and the Python API (on by default): a model's float inputs
// are checked for values outside their domain, which the kernels would turn into garbage
// without a word: NaN or ±∞ in any input, and in a log-decay (ModelInfo) a NaN or a positive
// value (−∞ is a full reset: allowed). CPU recurrence kernels check the f32 rows they load as
// they load them (KernelOptions::checkInputValues, Executable::runChecked); what no kernel
// checks is scanned here before the run, and an input whose kernel check failed is scanned
// after it for the message. Turned off (`--check-inputs=false`, `check=False`), such inputs
// may give garbage, never a crash.
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
/// What input `name` of `model` may hold: ValueCheck::LogDecay for its log-decays, Finite
/// for its other float inputs, None for integers.
ValueCheck inputDomain(llvm::StringRef model, llvm::StringRef name, DType dtype);
/// checkInputValues for a given domain: why `view` (called `name`) holds a value outside it.
std::optional<std::string> checkValues(ValueCheck domain, llvm::StringRef name,
                                       const BufferView &view);
std::optional<std::string> checkInputValues(llvm::StringRef model, llvm::StringRef name,
                                            const Array &array);

} // namespace linrec

#endif // LINREC_RUNTIME_INPUTCHECKS_H
