//===- Passes.td - linrec transformation passes -------------*- tablegen -*-===//

#ifndef LINREC_TRANSFORMS_PASSES_TD
#define LINREC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def LinrecNormalize : Pass<"linrec-normalize"> {
  let summary = "Rewrite named recurrences (gated_deltanet, gla, ...) into linrec.recurrence";
  let description = [{
    Every later pass, and the reference interpreter, work on the generic form only: a named
    op is replaced by the `linrec.recurrence` whose body spells its token step.
  }];
  let dependentDialects = [
    "::linrec::LinrecDialect", "::mlir::arith::ArithDialect", "::mlir::vector::VectorDialect"
  ];
}

#endif // LINREC_TRANSFORMS_PASSES_TD
