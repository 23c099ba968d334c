//===- KernelCalls.h - kernel functions and the calls that replace ops -*- C++ -*-===//
//
// Both code generators turn each kernel op (a recurrence or a window attention) into a kernel
// function `__linrec_kernel_<n>(operands..., results..., begin, end)` on memrefs and replace
// the op by a call of it over all its work items. What differs between them is only the
// kernel's body.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELCALLS_H
#define LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELCALLS_H

#include "linrec/Dialect/LinrecOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace linrec::codegen {

/// Lowers every recurrence, then every window attention, of `module` (collected before any is
/// lowered), naming their kernel functions __linrec_kernel_<n> in that order; stops at the
/// first failure.
mlir::LogicalResult lowerKernelOps(
    mlir::ModuleOp module,
    llvm::function_ref<mlir::LogicalResult(RecurrenceOp, llvm::StringRef)> lowerRecurrence,
    llvm::function_ref<mlir::LogicalResult(WindowAttentionOp, llvm::StringRef)> lowerWindow);

/// Creates the kernel function of `op` (a recurrence or a window attention) at the end of its
/// module: (operands..., results..., begin, end) -> (), operands and results as memrefs;
/// with `valueStatus`, a memref<1xi32> status word before begin (KernelEmitter's value
/// checks; the kernel's linrec.value_checks then says what it checks, and its calls pass the
/// calling function's linrec.value_status argument, added for them).
mlir::func::FuncOp createKernelFunction(mlir::Operation *op, llvm::StringRef name,
                                        bool valueStatus = false);

/// Replaces recurrence `op` by a call of `kernel` on buffers of its operands and fresh result
/// buffers, over all its work items (the kernel's linrec.heads_per_item and
/// linrec.value_tiles attributes say how many).
void replaceWithKernelCall(RecurrenceOp op, mlir::func::FuncOp kernel);

/// Replaces window attention `op` by a call of `kernel` over its work items: B · H, times
/// ⌈T / n⌉ when the kernel's `linrec.token_block` attribute says it takes blocks of n tokens.
void replaceWindowWithKernelCall(WindowAttentionOp op, mlir::func::FuncOp kernel);

} // namespace linrec::codegen

#endif // LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELCALLS_H
