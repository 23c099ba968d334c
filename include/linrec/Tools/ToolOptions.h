//===- ToolOptions.h - what every linrec tool's command line shares -*- C++ -*-===//

#ifndef LINREC_TOOLS_TOOLOPTIONS_H
#define LINREC_TOOLS_TOOLOPTIONS_H

#include "linrec/Version.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

namespace linrec {

/// Before llvm::cl parses the command line: `--help` shows the tool's own options (those in
/// `category`; LLVM's are left to --help-hidden), `--version` prints linrec's version.
inline void setUpToolOptions(const char *tool, llvm::cl::OptionCategory &category) {
  llvm::cl::HideUnrelatedOptions(category);
  static const char *name = tool;
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << name << " (linrec " LINREC_VERSION ", LLVM " LLVM_VERSION_STRING ")\n";
  });
}

} // namespace linrec

#endif // LINREC_TOOLS_TOOLOPTIONS_H
