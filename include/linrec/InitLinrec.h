//===- InitLinrec.h - register every linrec dialect and pass ----*- C++ -*-===//
//
// The one registration point shared by linrec-opt, linrec-run and the runtime, so that every
// tool sees the same dialects and passes.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_INITLINREC_H
#define LINREC_INITLINREC_H

#include "linrec/Dialect/LinrecDialect.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace linrec {

/// The linrec dialect, every upstream dialect (and extension) the pipelines lower through, and
/// their LLVM IR translations.
inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<LinrecDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates GPU modules to LLVM IR inside the pass pipeline.
  mlir::registerAllToLLVMIRTranslations(registry);
}

/// Loads the dialects linrec's builders create ops of directly (linrec, func, arith, math,
/// tensor, linalg, scf, memref, vector, bufferization). The others registered load on demand:
/// the parser loads what it reads and each pass what it declares. Loading every registered
/// dialect instead costs a new process about 15 ms per context, most of a cached layer's
/// first call.
void loadLinrecDialects(mlir::MLIRContext &context);

/// The linrec passes and every upstream pass, for pipelines parsed from text.
inline void registerAllPasses() {
  registerLinrecPasses();
  registerLinrecConversionPasses();
  registerLinrecPipelines();
  mlir::registerAllPasses();
}

} // namespace linrec

#endif // LINREC_INITLINREC_H
