//===- Backward.h - gradients of layer functions ----------------*- C++ -*-===//
//
// The backward of a layer function f for the loss L = Σ ⟨cotangent, result⟩: on the
// reference target the float64 adjoint (interpretFunctionGradient), on the compiled targets
// the backward linrec-build-backward derives from f's ops, compiled like any function (its
// recurrences into the target's chunked kernels). The derived backward recomputes what it
// needs from f's arguments: a forward keeps nothing for it, and its memory is that of its
// own recurrences' token outputs (no per-token or per-chunk states).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_BACKWARD_H
#define LINREC_RUNTIME_BACKWARD_H

#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <vector>

namespace linrec {

class KernelCompiler;
struct KernelOptions;

/// A copy of `module` holding @<funcName>_backward (f's arguments, then one cotangent per
/// result, in; one gradient per float argument out), derived for `target`: the CPU's kernels
/// read states along both axes (linrec-build-backward's transposed-reads), the GPU's get
/// transposed copies of the states as separate recurrences (a recurrence holding a state and
/// its transpose would need twice the shared memory). The error names the op that has no
/// derived backward yet.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
deriveBackward(mlir::ModuleOp module, llvm::StringRef funcName, Target target = Target::CPU);

/// Per result of a derived backward: whether it is the gradient of a log-decay or beta
/// (`linrec.gate`), whose float32 error is larger.
std::vector<bool> gateGradients(mlir::ModuleOp backward, llvm::StringRef funcName);

/// The error of each gradient against the float64 one: relative RMS, ‖g − ref‖ / ‖ref‖, but
/// never relative to less than 1e-4 of the layer's largest sensitivity: with
/// s = max_j ‖ref_j‖·‖x_j‖ (how much L moves, to first order, when input j moves by its own
/// size), the denominator is max(‖ref_i‖, 1e-4 · s / ‖x_i‖). A gradient that cancels to zero
/// (LoLCATs' window logit when no query sees the linear term) is float32 rounding of terms
/// of the other sensitivities' size, not a relative error of 1. `inputs` are the float
/// arguments, in the gradients' order.
std::vector<double> gradientErrors(llvm::ArrayRef<Array> gradients, llvm::ArrayRef<Array> expected,
                                   llvm::ArrayRef<Array> inputs);

/// Runs @<funcName>_backward of a module deriveBackward returned on a compiled `target`:
/// `args` are f's arguments, one cotangent per result follows (converted to f32).
llvm::Expected<std::vector<Array>>
runDerivedBackward(mlir::ModuleOp derived, llvm::StringRef funcName, llvm::ArrayRef<Array> args,
                   llvm::ArrayRef<Array> cotangents, Target target, KernelCompiler &compiler,
                   const KernelOptions &options);

/// ∂L/∂x for every float argument x of @funcName (in argument order), L = Σ ⟨cotangents[i],
/// result i⟩, on `target`: the reference adjoint, or the derived backward compiled with
/// `compiler` and `options`.
llvm::Expected<std::vector<Array>>
runFunctionBackward(mlir::ModuleOp module, llvm::StringRef funcName, llvm::ArrayRef<Array> args,
                    llvm::ArrayRef<Array> cotangents, Target target, KernelCompiler &compiler,
                    const KernelOptions &options);

} // namespace linrec

#endif // LINREC_RUNTIME_BACKWARD_H
