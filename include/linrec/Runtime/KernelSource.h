//===- KernelSource.h - what a kernel is compiled from ----------*- C++ -*-===//
//
// The kernel compiler turns one op into a module of its own (the kernel source, whose text is
// the cache key with the options), then lowers that module to the LLVM dialect for the
// options' target.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_KERNELSOURCE_H
#define LINREC_RUNTIME_KERNELSOURCE_H

#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/TuningDatabase.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <optional>

namespace linrec {

/// A module holding `func @source` that applies a copy of `op` (a recurrence or a window
/// attention) to arguments whose B, T, H (and N) are dynamic, with `options`' chunk size and
/// algorithm: what a kernel is compiled from (its text is the kernel cache's key).
mlir::OwningOpRef<mlir::ModuleOp> buildKernelSource(mlir::Operation *op,
                                                    const KernelOptions &options);

/// What a tuning database keys `op`'s kernel on (TuningKey::kernel): the SHA-256 of its
/// kernel source built with the default options of `target` (B, T, H generalized, no
/// schedule), so that every shape and every schedule of one kernel share it.
std::string kernelTuningDigest(mlir::Operation *op, Target target);
/// The shape bucket of `op`'s static shapes (B·H rows of T tokens; with cu_seqlens, N·H rows
/// of T/N tokens), if they are static.
std::optional<ShapeBucket> kernelShapeBucket(mlir::Operation *op);
/// What a tuning database keys a function compiled as a whole layer on (CompiledLayer: it
/// holds projections, feature maps or norms besides its kernels): the SHA-256 of the function
/// as the runtime compiles it, static shapes included ("layer-" and the hex digest): a layer's
/// tuned schedule is found for its exact shapes.
std::string layerTuningDigest(mlir::func::FuncOp func);
/// Its shape bucket: the first two dims of its first statically shaped argument of rank ≥ 2
/// (the batch rows and tokens of its token inputs).
std::optional<ShapeBucket> layerShapeBucket(mlir::func::FuncOp func);
/// The device part of the tuning key of a compile with `options` (the host CPU and thread
/// count, or the CUDA device; empty if there is no device).
std::string tuningDevice(const KernelOptions &options);

/// Whether `root` holds a transposed linrec.read (S u): the CPU's kernels read so, the GPU
/// ones need linrec-transpose-reads on the function first.
bool hasTransposedReads(mlir::Operation *root);

/// How a lowered kernel splits its work, and the algorithm it runs.
struct KernelLayout {
  Algorithm algorithm = Algorithm::Sequential;
  int64_t valueTiles = 1;
  int64_t headsPerItem = 1;
  /// Work items also split T into blocks of this many tokens (0: they do not).
  int64_t tokenBlock = 0;
  /// What the kernel checks of each operand's values (empty: it checks none and takes no
  /// status word).
  std::vector<ValueCheck> valueChecks;
};

/// Lowers a kernel source module to the LLVM dialect: @__linrec_kernel_0 with its C interface
/// (operands, results as memrefs, then the work items [begin, end)); for Target::CUDA it
/// is host code that launches the GPU kernel, whose PTX the module carries.
llvm::Expected<KernelLayout> lowerKernelSource(mlir::ModuleOp module,
                                               const KernelOptions &options);

} // namespace linrec

#endif // LINREC_RUNTIME_KERNELSOURCE_H
