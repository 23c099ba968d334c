//===- ScheduleFlags.h - command-line flags from the schedule options -*- C++ -*-===//
//
// A tool's flags for the schedule: one `--NAME` per option of linrec-to-cpu's (and, where the
// tool compiles for the GPU, linrec-to-nvvm's) options, with the option's own help and
// defaults, so that no tool declares a schedule option again. A flag sets the option of that
// name of the target the tool compiles for; a flag the target does not have is an error.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_PIPELINES_SCHEDULEFLAGS_H
#define LINREC_PIPELINES_SCHEDULEFLAGS_H

#include "linrec/Pipelines/ScheduleOptions.h"

#include "llvm/ADT/StringMap.h"

#include <deque>
#include <memory>

namespace linrec {

class ScheduleFlags {
public:
  /// Registers the flags in `category` (before llvm::cl parses the command line): the CPU
  /// options, and the GPU options with `withGpu`; not those named in `exclude` (options a tool
  /// sets itself).
  ScheduleFlags(llvm::cl::OptionCategory &category, bool withGpu,
                llvm::ArrayRef<llvm::StringRef> exclude = {});
  ~ScheduleFlags();

  /// Parses the flags given on the command line into `options` (the options of the target's
  /// pipeline); `targetLabel` names the target in the error for a flag it does not take.
  llvm::Error apply(mlir::detail::PassOptions &options, llvm::StringRef targetLabel) const;

private:
  struct Flag;
  std::vector<std::unique_ptr<Flag>> flags;
  /// The flags' names and help texts (llvm::cl keeps references).
  std::deque<std::string> storage;
};

/// The values of a printed option list `{name=value ...}`, by name.
llvm::StringMap<std::string> scheduleOptionValues(llvm::StringRef printed);

} // namespace linrec

#endif // LINREC_PIPELINES_SCHEDULEFLAGS_H
