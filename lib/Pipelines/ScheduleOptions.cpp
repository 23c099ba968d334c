//===- ScheduleOptions.cpp - parsing and handing on schedule options ------===//

#include "linrec/Pipelines/ScheduleOptions.h"
#include "linrec/Pipelines/ScheduleFlags.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;

namespace linrec {

static llvm::Error scheduleError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

/// `text` without one pair of enclosing braces.
static StringRef unbraced(StringRef text) {
  text = text.trim();
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}')
    return text.drop_front().drop_back().trim();
  return text;
}

/// The `name=value` entries of a printed option list (values with spaces are in braces, as
/// PassOptions prints them), by name.
static SmallVector<std::pair<StringRef, StringRef>> optionEntries(StringRef text) {
  SmallVector<std::pair<StringRef, StringRef>> entries;
  text = unbraced(text);
  while (!text.empty()) {
    size_t end = 0;
    int depth = 0;
    for (; end < text.size(); ++end) {
      char c = text[end];
      if (c == '{')
        ++depth;
      else if (c == '}')
        --depth;
      else if (c == ' ' && depth == 0)
        break;
    }
    StringRef entry = text.take_front(end);
    entries.emplace_back(entry.split('=').first, entry);
    text = text.drop_front(end).ltrim();
  }
  return entries;
}

llvm::StringMap<std::string> scheduleOptionValues(StringRef printed) {
  llvm::StringMap<std::string> values;
  for (auto [name, entry] : optionEntries(printed))
    values[name] = unbraced(entry.drop_front(name.size() + 1)).str();
  return values;
}

llvm::Error parseScheduleOptions(mlir::detail::PassOptions &options, StringRef text) {
  // One entry at a time, so that the error names the one that fails (llvm::cl reports a bad
  // value on stderr itself, and only an unknown name to the stream).
  for (auto [name, entry] : optionEntries(text)) {
    std::string message;
    llvm::raw_string_ostream errors(message);
    if (succeeded(options.parseFromString(entry, errors)))
      continue;
    StringRef reason = StringRef(message).trim();
    reason.consume_front("<Pass-Options-Parser>: ");
    return scheduleError("schedule option '" + entry + "': " +
                         (reason.empty() ? StringRef("not a value of its type") : reason));
  }
  return llvm::Error::success();
}

void copyScheduleOptionsTo(const mlir::detail::PassOptions &options, Pass &pass) {
  // The pass's own option names, from its printed form `name{a=1 b=2}`.
  std::string passText;
  llvm::raw_string_ostream passStream(passText);
  pass.printAsTextualPipeline(passStream);
  StringRef own = StringRef(passText);
  own = own.drop_until([](char c) { return c == '{'; });
  llvm::StringSet<> names;
  for (auto [name, entry] : optionEntries(own))
    names.insert(name);

  std::string text;
  llvm::raw_string_ostream stream(text);
  options.print(stream);
  std::string shared;
  for (auto [name, entry] : optionEntries(text))
    if (names.contains(name))
      shared += (shared.empty() ? "" : " ") + entry.str();
  // Every value came from an option of the same name and type: parsing cannot fail.
  LogicalResult parsed = pass.initializeOptions(shared, [](const llvm::Twine &message) {
    llvm::report_fatal_error(llvm::Twine("internal error: ") + message);
    return failure();
  });
  (void)parsed;
}

} // namespace linrec
