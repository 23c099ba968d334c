//===- LinrecInterfaces.td - linrec op interfaces -----------*- tablegen -*-===//

#ifndef LINREC_INTERFACES_TD
#define LINREC_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Linrec_ModelOpInterface : OpInterface<"ModelOpInterface"> {
  let cppNamespace = "::linrec";
  let description = [{
    A named member of the recurrence family (gated_deltanet, gla, ...). Every named op can
    spell itself as a generic `linrec.recurrence` whose results correspond one to one with the
    named op's results; `linrec-normalize` and the reference interpreter rely on that.
  }];
  let methods = [
    InterfaceMethod<
      [{Builds the equivalent generic linrec.recurrence at the builder's insertion point and
        returns the values that replace this op's results, one to one.}],
      "::llvm::SmallVector<::mlir::Value>", "buildRecurrence",
      (ins "::mlir::OpBuilder &":$builder)>
  ];
}

#endif // LINREC_INTERFACES_TD
