//===- linrec-schedule-doc.cpp - the schedule options as Markdown ---------===//
//
// Prints the options of linrec-to-cpu and linrec-to-nvvm (ScheduleOptions.h: every schedule
// option, declared once) as Markdown tables: name, default, description. `ninja linrec-doc`
// puts them into docs/Passes.md after the passes' ODS documentation.
//
//===----------------------------------------------------------------------===//

#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Pipelines/ScheduleOptions.h"
#include "linrec/Tools/ToolOptions.h"

#include "llvm/Support/raw_ostream.h"

using namespace linrec;

template <typename Options>
static void printTable(llvm::raw_ostream &os, const Options &options) {
  llvm::StringMap<std::string> defaults = scheduleOptionValues(options.str());
  std::vector<std::pair<std::string, std::string>> rows;
  options.forEachOption([&](const llvm::cl::Option &option) {
    rows.emplace_back(option.ArgStr.str(), option.HelpStr.str());
  });
  llvm::sort(rows);
  os << "| option | default | meaning |\n|---|---|---|\n";
  for (const auto &[name, help] : rows) {
    std::string value = defaults.lookup(name);
    os << "| `" << name << "` | " << (value.empty() ? "\"\"" : "`" + value + "`") << " | "
       << help << " |\n";
  }
}

int main(int argc, char **argv) {
  static llvm::cl::OptionCategory category("linrec-schedule-doc options");
  setUpToolOptions("linrec-schedule-doc", category);
  llvm::cl::ParseCommandLineOptions(argc, argv,
                                    "linrec-schedule-doc: the schedule options as Markdown\n");
  llvm::raw_ostream &os = llvm::outs();
  os << "## Schedule options\n\n"
        "Declared once in `include/linrec/Pipelines/ScheduleOptions.h`: each lowering pass "
        "takes its group of them, `linrec-to-cpu` and `linrec-to-nvvm` (and the pipelines "
        "built on them) take all of their target's, and the runtime (`KernelOptions::cpu`, "
        "`KernelOptions::gpu`), the tools' flags, Python's keywords "
        "(`linrec.schedule_options(target)`) and the C API's schedule string are these "
        "options. The kernel cache's key is the target and every option, printed.\n\n"
        "### CPU (`linrec-to-cpu`, `linrec-layer-to-cpu`, `linrec-cpu-fusion`)\n\n";
  printTable(os, CpuPipelineOptions());
  os << "\n### GPU (`linrec-to-nvvm`, `linrec-to-cuda`, `linrec-gpu-schedule-on-cpu`, "
        "`linrec-gpu-fusion`)\n\n";
  printTable(os, GpuPipelineOptions());
  return 0;
}
