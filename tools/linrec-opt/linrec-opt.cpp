//===- linrec-opt.cpp - the linrec optimizer driver -----------------------===//
//
// mlir-opt with the linrec dialect and passes: parse, verify, transform and print .mlir.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  linrec::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "linrec optimizer driver\n", registry));
}
