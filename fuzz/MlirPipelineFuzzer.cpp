//===- MlirPipelineFuzzer.cpp - libFuzzer target: parse, verify, compile ---===//
//
// Any text: parsed as a module of the linrec dialect; what parses and verifies goes through
// the whole CPU pipeline (linrec-to-cpu: normalization, fusion, kernels, LLVM dialect).
// Diagnostics are swallowed; a crash, a hang or a failed assertion is a finding.

#include "FuzzContext.h"
#include "linrec/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // MLIR's lexer reads its buffer up to a terminating NUL (libFuzzer's data has none).
  std::string text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &linrec::fuzz::context());
  if (!module || mlir::failed(mlir::verify(*module)))
    return 0;
  mlir::PassManager pm(&linrec::fuzz::context());
  linrec::buildLinrecToCpuPipeline(pm, linrec::CpuPipelineOptions());
  (void)pm.run(*module);
  return 0;
}
