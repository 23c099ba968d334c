//===- WindowAttention.h - float64 window attention -------------*- C++ -*-===//
//
// The reference meaning of linrec.window_attention: the window of each query, and the
// attention over it in float64.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_REFERENCE_WINDOWATTENTION_H
#define LINREC_REFERENCE_WINDOWATTENTION_H

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Reference/Array.h"

#include "llvm/Support/Error.h"

#include <utility>
#include <vector>

namespace linrec {

/// The keys [first, i] that query i attends to (every window ends at the query).
int64_t windowStart(WindowKind kind, int64_t size, int64_t query);

/// Evaluates `op` on q, k, v: o (and the denominator for shifted_exp), in float64.
llvm::Expected<std::vector<Array>> interpretWindowAttention(WindowAttentionOp op,
                                                            const Array &q, const Array &k,
                                                            const Array &v);

} // namespace linrec

#endif // LINREC_REFERENCE_WINDOWATTENTION_H
