//===- FuzzContext.h - the MLIR context the fuzz targets share ---*- C++ -*-===//

#ifndef LINREC_FUZZ_FUZZCONTEXT_H
#define LINREC_FUZZ_FUZZCONTEXT_H

#include "linrec/InitLinrec.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

namespace linrec::fuzz {

/// One context for the whole run (built on first use, never freed: libFuzzer exits without
/// unwinding), single-threaded, every dialect loaded, diagnostics swallowed: an error message
/// is an expected outcome, a crash is the finding.
inline mlir::MLIRContext &context() {
  static mlir::MLIRContext *ctx = [] {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    auto *c = new mlir::MLIRContext(registry, mlir::MLIRContext::Threading::DISABLED);
    c->loadAllAvailableDialects();
    c->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return c;
  }();
  return *ctx;
}

} // namespace linrec::fuzz

#endif // LINREC_FUZZ_FUZZCONTEXT_H
