//===- Limits.h - the sizes linrec accepts from its users ------*- C++ -*-===//
//
// One place for the limits on sizes that come from user input (IR, the layer builder's
// shapes and parameters, conformance cases). The ops' verifiers (ShapeChecks) and the layer
// builder enforce them, so no size computed from them later (buffers, loops, scratch) can
// overflow or make a degenerate loop: head dims, heads and features are at least 1, batch,
// tokens and sequences may be 0.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_DIALECT_LIMITS_H
#define LINREC_DIALECT_LIMITS_H

#include <cstdint>
#include <optional>
#include <string>

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

namespace linrec::limits {

/// Head dims (dk, dv, a feature map's F, a window's head dim, a tensor-attention state's
/// features): 1 to 65536.
constexpr int64_t kMaxHeadDim = 65536;
/// Heads, memories: 1 to 65536.
constexpr int64_t kMaxHeads = 65536;
/// Batch rows, tokens, sequences: 0 to 2^32.
constexpr int64_t kMaxTokens = int64_t(1) << 32;
/// Elements of one tensor: at most 2^40 (4 TiB of float32).
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// Whether `name` (a dim's symbol: "B", "T", "N" ...) may be 0.
inline bool mayBeEmpty(llvm::StringRef name) { return name == "B" || name == "T" || name == "N"; }

/// The largest value of the dim named `name`.
inline int64_t maxSize(llvm::StringRef name) {
  if (mayBeEmpty(name))
    return kMaxTokens;
  if (name == "H" || name == "M")
    return kMaxHeads;
  return kMaxHeadDim;
}

/// Why a tensor of these static dims (named, in order) is out of limits, or nothing. Dynamic
/// dims (negative) are checked when they are known.
std::optional<std::string> checkDims(llvm::ArrayRef<llvm::StringRef> names,
                                     llvm::ArrayRef<int64_t> sizes);

} // namespace linrec::limits

#endif // LINREC_DIALECT_LIMITS_H
