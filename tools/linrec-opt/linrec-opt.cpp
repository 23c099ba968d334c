//===- linrec-opt.cpp - the linrec optimizer driver -----------------------===//
//
// mlir-opt with the linrec dialect and passes: parse, verify, transform and print .mlir.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Version.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"

/// --help lists MLIR's and linrec's options (passes, pipelines, the driver's own); LLVM's
/// backend flags, registered by the libraries before main, move to --help-hidden.
static void hideLlvmOptions() {
  for (auto &[name, option] : llvm::cl::getRegisteredOptions()) {
    bool generic = llvm::StringSwitch<bool>(name)
                       .Cases({"help", "help-list", "help-hidden", "help-list-hidden"}, true)
                       .Cases({"version", "print-options", "print-all-options"}, true)
                       .Default(false);
    if (!generic && option->getOptionHiddenFlag() == llvm::cl::NotHidden)
      option->setHiddenFlag(llvm::cl::Hidden);
  }
}

int main(int argc, char **argv) {
  hideLlvmOptions();
  llvm::cl::AddExtraVersionPrinter(
      [](llvm::raw_ostream &os) { os << "linrec " LINREC_VERSION "\n"; });
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  linrec::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "linrec optimizer driver\n", registry));
}
