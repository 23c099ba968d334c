//===- RecurrenceRewrite.h - rebuilding recurrences with new inputs -*- C++ -*-===//
//
// What the fusion passes share: a recurrence's operands are fixed at creation, so moving a
// producer into its body means a new recurrence with other inputs and the old body.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_TRANSFORMS_RECURRENCEREWRITE_H
#define LINREC_LIB_TRANSFORMS_RECURRENCEREWRITE_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/IR/Builders.h"

namespace linrec {

/// The body type of a per-token slice of `tensor` ([B, T, H] -> f32, [B, T, H, D] -> vector).
mlir::Type tokenType(mlir::Type tensor);
/// The body type of a per-head param ([H] -> f32, [H, D] -> vector<D>, [H, D, F] ->
/// vector<D x F>).
mlir::Type paramType(mlir::Type tensor);

/// A recurrence whose inputs are `op`'s without the inputs numbered in `dropped`, plus
/// `extraInputs`, the body moved over from `op` with an argument per extra input appended after
/// the input arguments. The dropped inputs' arguments stay until the caller replaces them.
RecurrenceOp rebuildWithInputs(mlir::OpBuilder &b, RecurrenceOp op,
                               llvm::ArrayRef<unsigned> dropped, mlir::ValueRange extraInputs);
/// rebuildWithInputs, also appending `extraParams` (per-head [H] or [H, D] tensors) to the
/// params, with their arguments after the existing params'. The extra inputs are delayed by
/// `extraDelay` tokens (the kept inputs keep theirs).
RecurrenceOp rebuildWithOperands(mlir::OpBuilder &b, RecurrenceOp op,
                                 llvm::ArrayRef<unsigned> dropped, mlir::ValueRange extraInputs,
                                 mlir::ValueRange extraParams, int64_t extraDelay = 0);
/// The index of an input of `op` that is `value` with `delay`, not among `dropped`.
std::optional<unsigned> findInput(RecurrenceOp op, mlir::Value value, int64_t delay,
                                  llvm::ArrayRef<unsigned> dropped = {});
/// Ends a rebuild: the arguments of `op`'s dropped inputs (ascending; still in `fused`'s body)
/// are replaced by `replacements` and erased, and `fused` takes `op`'s place (and name).
void replaceRebuilt(RecurrenceOp &op, RecurrenceOp fused, llvm::ArrayRef<unsigned> dropped,
                    llvm::ArrayRef<mlir::Value> replacements);
/// Applies `rewrite` to every recurrence under `root` until it reports no more change.
void rewriteRecurrences(mlir::Operation *root,
                        llvm::function_ref<bool(RecurrenceOp &)> rewrite);
/// Copies what a rebuilt recurrence keeps of `from`: its discardable attributes, chunk size,
/// algorithm, heads-norm eps and direction (not its delays, which follow its inputs).
void copyAttributes(RecurrenceOp from, RecurrenceOp to);
/// `op` without the outputs nothing uses (a new op when there are any; final states stay).
RecurrenceOp dropUnusedOutputs(mlir::OpBuilder &b, RecurrenceOp op);

} // namespace linrec

#endif // LINREC_LIB_TRANSFORMS_RECURRENCEREWRITE_H
