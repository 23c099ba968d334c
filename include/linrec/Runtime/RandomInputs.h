//===- RandomInputs.h - inputs that suit a function's recurrences -*- C++ -*-===//
//
// Random arguments for a linrec function, each drawn for the role its values play in the
// recurrences it feeds: log-decays ≤ 0 (logsigmoid of N(2, 1): mostly weak decays, some
// strong), betas in (0, 1), unit-norm delta-rule keys, cu_seqlens splitting T at random, plain
// N(0, 1) otherwise. `linrec-run --random` and linrec-tune run on them.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_RANDOMINPUTS_H
#define LINREC_RUNTIME_RANDOMINPUTS_H

#include "linrec/Reference/Array.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/Error.h"

#include <map>
#include <random>

namespace linrec {

enum class ArgumentRole { Plain, LogDecay, Beta, UnitKey, Offsets };

/// The role of each argument of @funcName that has one other than Plain, by argument number,
/// found in a normalized copy of `module` from what each becomes in its recurrences.
llvm::Expected<std::map<unsigned, ArgumentRole>> argumentRoles(mlir::ModuleOp module,
                                                               llvm::StringRef funcName);

/// A random array of `type` (static) for `role`; Offsets split `tokens` tokens.
Array randomArgument(mlir::RankedTensorType type, ArgumentRole role, std::mt19937_64 &rng,
                     int64_t tokens);

/// T of a function's arguments: dim 1 of the first one of rank 3 or more ([B, T, H, ...]).
int64_t argumentTokens(mlir::TypeRange argumentTypes);

} // namespace linrec

#endif // LINREC_RUNTIME_RANDOMINPUTS_H
