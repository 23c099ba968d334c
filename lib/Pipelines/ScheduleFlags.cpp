//===- ScheduleFlags.cpp - command-line flags from the schedule options ---===//

#include "linrec/Pipelines/ScheduleFlags.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;

namespace linrec {

struct ScheduleFlags::Flag {
  std::string option;
  bool valueOptional = false;
  std::unique_ptr<llvm::cl::opt<std::string>> value;
};

ScheduleFlags::ScheduleFlags(llvm::cl::OptionCategory &category, bool withGpu,
                             llvm::ArrayRef<StringRef> exclude) {
  CpuPipelineOptions cpu;
  GpuPipelineOptions gpu;
  llvm::StringMap<std::string> cpuDefaults = scheduleOptionValues(cpu.str());
  llvm::StringMap<std::string> gpuDefaults = scheduleOptionValues(gpu.str());
  // One flag per name: an option both pipelines have (chunk-size) is one flag whose help
  // gives both defaults.
  llvm::StringMap<const llvm::cl::Option *> options;
  std::vector<std::string> order;
  auto collect = [&](const llvm::cl::Option &option) {
    if (llvm::is_contained(exclude, option.ArgStr))
      return;
    if (options.try_emplace(option.ArgStr, &option).second)
      order.push_back(option.ArgStr.str());
  };
  cpu.forEachOption(collect);
  if (withGpu)
    gpu.forEachOption(collect);
  llvm::sort(order);
  for (const std::string &name : order) {
    const llvm::cl::Option &option = *options.lookup(name);
    auto shown = [](const std::string &value) { return value.empty() ? "\"\"" : value; };
    std::string defaults;
    auto cpuIt = cpuDefaults.find(name), gpuIt = gpuDefaults.find(name);
    bool inCpu = cpuIt != cpuDefaults.end(), inGpu = withGpu && gpuIt != gpuDefaults.end();
    if (inCpu && inGpu && cpuIt->second != gpuIt->second)
      defaults = "cpu: " + shown(cpuIt->second) + ", gpu: " + shown(gpuIt->second);
    else
      defaults = shown(inCpu ? cpuIt->second : gpuIt->second) + (withGpu && !inGpu   ? ", cpu only"
                                                            : withGpu && !inCpu ? ", gpu only"
                                                                                : "");
    // A tool shows its own options only (setUpToolOptions); an LLVM option of the same name
    // (LLVM registers a `threads`) gives way to the schedule's.
    auto &registered = llvm::cl::getRegisteredOptions();
    if (auto it = registered.find(name); it != registered.end())
      it->second->removeArgument();
    const std::string &flagName = storage.emplace_back(name);
    const std::string &help = storage.emplace_back(option.HelpStr.str() + " (default: " +
                                                   defaults + ")");
    auto flag = std::make_unique<Flag>();
    flag->option = name;
    flag->valueOptional = option.getValueExpectedFlag() == llvm::cl::ValueOptional;
    flag->value = std::make_unique<llvm::cl::opt<std::string>>(
        StringRef(flagName), llvm::cl::desc(help), llvm::cl::value_desc("value"),
        llvm::cl::cat(category));
    if (flag->valueOptional)
      flag->value->setValueExpectedFlag(llvm::cl::ValueOptional);
    flags.push_back(std::move(flag));
  }
}

ScheduleFlags::~ScheduleFlags() = default;

llvm::Error ScheduleFlags::apply(mlir::detail::PassOptions &options, StringRef targetLabel) const {
  llvm::StringSet<> known;
  std::string printed;
  llvm::raw_string_ostream os(printed);
  options.print(os);
  for (const auto &entry : scheduleOptionValues(printed))
    known.insert(entry.getKey());
  std::string text;
  for (const auto &flag : flags) {
    if (flag->value->getNumOccurrences() == 0)
      continue;
    if (!known.contains(flag->option))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "--" + flag->option + " is not an option of " +
                                         targetLabel);
    std::string value = flag->value->getValue();
    if (value.empty() && flag->valueOptional)
      value = "true";
    // Values with spaces go in braces, as PassOptions prints them.
    if (value.find(' ') != std::string::npos)
      value = "{" + value + "}";
    text += (text.empty() ? "" : " ") + flag->option + "=" + value;
  }
  return text.empty() ? llvm::Error::success() : parseScheduleOptions(options, text);
}

} // namespace linrec
