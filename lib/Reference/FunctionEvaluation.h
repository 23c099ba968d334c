//===- FunctionEvaluation.h - a layer function evaluated op by op -*- C++ -*-===//
//
// What the reference evaluator and its adjoint (FunctionAdjoint.cpp) share: the prepared copy
// of a module, and the evaluation of a function body that keeps every value. Internal to
// lib/Reference.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_REFERENCE_FUNCTIONEVALUATION_H
#define LINREC_LIB_REFERENCE_FUNCTIONEVALUATION_H

#include "linrec/Reference/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineMap.h"
#include "llvm/ADT/DenseMap.h"

namespace linrec::reference {

/// A private copy of `module` with named ops normalized and, with `fuse`, the element-wise
/// ops around each recurrence fused into it.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> prepareFunctions(mlir::ModuleOp module,
                                                                   bool fuse);

/// @funcName of a prepared module, with a body.
llvm::Expected<mlir::func::FuncOp> functionWithBody(mlir::ModuleOp module,
                                                    llvm::StringRef funcName);

/// Evaluates `func`'s body on `args` (evaluateFunction's semantics), keeping the array of
/// every value it computes in `values`.
llvm::Expected<std::vector<Array>> evaluateBody(mlir::func::FuncOp func,
                                                llvm::ArrayRef<Array> args,
                                                RecurrenceEvaluator evaluator,
                                                WindowEvaluator windowEvaluator,
                                                llvm::DenseMap<mlir::Value, Array> &values);

/// The flat index into `array` of the element a linalg.generic indexing `map` (loop indices and
/// constants) selects at the iteration `point`.
int64_t indexedElement(mlir::AffineMap map, const Array &array, llvm::ArrayRef<int64_t> point);

/// Calls `body(in, out)` with the flat indices of every element of a `shape`-sized window
/// that starts at `offsets` of an array of `inShape` and fills an array of `shape`.
void forEachElement(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int64_t> offsets,
                    llvm::ArrayRef<int64_t> inShape,
                    llvm::function_ref<void(int64_t in, int64_t out)> body);

/// x[b, t, :, :] / (‖x[b, t, :, :]‖₂ / √(H·D) + eps), in place (linrec.heads_rms_norm).
void applyHeadsRmsNorm(Array &x, double eps);

/// Adds to `gx` the adjoint of applyHeadsRmsNorm at `x` for the result's adjoint `g`.
void headsRmsNormAdjoint(const Array &x, const Array &g, double eps, Array &gx);

} // namespace linrec::reference

#endif // LINREC_LIB_REFERENCE_FUNCTIONEVALUATION_H
