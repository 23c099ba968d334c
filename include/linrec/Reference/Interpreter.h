//===- Interpreter.h - the float64 reference semantics ----------*- C++ -*-===//
//
// The ground truth of linrec: evaluates recurrences token by token in float64, exactly as
// their bodies say. Every lowering is tested against it.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_REFERENCE_INTERPRETER_H
#define LINREC_REFERENCE_INTERPRETER_H

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Reference/Array.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace linrec {

class RecurrenceOp;

/// Evaluates one generic recurrence on its operands (inputs, params, inits, cu_seqlens, in
/// operand order). Returns its results: the outputs, then the final states. Run-time
/// problems (shapes that disagree, bad cu_seqlens, a positive log-decay) are errors.
llvm::Expected<std::vector<Array>> interpretRecurrence(RecurrenceOp op,
                                                       llvm::ArrayRef<Array> operands);

/// The float64 adjoint of interpretRecurrence: with L = Σ_r ⟨cotangents[r], results[r]⟩ over
/// the results (outputs, then final states; one cotangent each, shaped as the result), the
/// gradients ∂L/∂operand for every operand in operand order (inputs, params, inits; an empty
/// array for cu_seqlens, an index). Reverse mode through the token recurrence, step by step
/// (RecurrenceAdjoint.cpp), for every body the interpreter runs (window reads and block-start
/// reads included: their adjoints reach the earlier tokens they read).
llvm::Expected<std::vector<Array>>
interpretRecurrenceGradient(RecurrenceOp op, llvm::ArrayRef<Array> operands,
                            llvm::ArrayRef<Array> cotangents);

/// How a function runner evaluates each recurrence: the reference interpreter, or a
/// compiled kernel (runKernelOp).
using RecurrenceEvaluator = llvm::function_ref<llvm::Expected<std::vector<Array>>(
    RecurrenceOp, llvm::ArrayRef<Array>)>;

/// How a function runner evaluates each window attention (null: the float64 reference).
using WindowEvaluator = llvm::function_ref<llvm::Expected<std::vector<Array>>(
    WindowAttentionOp, llvm::ArrayRef<Array>)>;

/// Evaluates `func.func @funcName` of `module` on `args`, each recurrence through
/// `evaluator` and each window attention through `windowEvaluator`. The function body may hold
/// recurrences (generic or named: named ops are normalized on a private copy first), window
/// attentions, linalg.generic ops (with `fuse`, element-wise ones next to a recurrence are
/// fused into it first, as a compiled target does), linalg.fill, tensor.empty, pad and
/// slices, tensor constants and func.return. Arguments must match the function's ranks and
/// static dims.
llvm::Expected<std::vector<Array>> evaluateFunction(mlir::ModuleOp module,
                                                    llvm::StringRef funcName,
                                                    llvm::ArrayRef<Array> args,
                                                    RecurrenceEvaluator evaluator, bool fuse,
                                                    WindowEvaluator windowEvaluator = nullptr);

/// The float64 adjoint of interpretFunction: with L = Σ_r ⟨cotangents[r], results[r]⟩, the
/// gradient ∂L/∂arg for every argument of @funcName (zeros for integer arguments such as
/// cu_seqlens). Every op interpretFunction evaluates has an adjoint (FunctionAdjoint.cpp);
/// the conformance format's backward (README §6) at float64.
llvm::Expected<std::vector<Array>> interpretFunctionGradient(mlir::ModuleOp module,
                                                             llvm::StringRef funcName,
                                                             llvm::ArrayRef<Array> args,
                                                             llvm::ArrayRef<Array> cotangents);

/// Evaluates `func.func @funcName` of `module` on `args`. The function body may hold
/// recurrences (generic or named: named ops are normalized on a private copy first), tensor
/// constants and func.return. Arguments must match the function's ranks and static dims.
llvm::Expected<std::vector<Array>> interpretFunction(mlir::ModuleOp module,
                                                     llvm::StringRef funcName,
                                                     llvm::ArrayRef<Array> args);

} // namespace linrec

#endif // LINREC_REFERENCE_INTERPRETER_H
