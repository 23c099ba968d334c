//===- TuningDatabase.cpp - tuned schedules the runtime compiles with -----===//

#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Runtime/KernelDiskCache.h"
#include "linrec/Version.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <sys/file.h>
#include <unistd.h>

namespace linrec {

namespace {
constexpr llvm::StringLiteral kFormat = "linrec-tuning-database";
constexpr int64_t kFormatVersion = 1;

llvm::Error fileError(llvm::StringRef path, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "tuning database " + path + ": " + message);
}

/// |log2(a / b)|, for positive a and b.
double logDistance(int64_t a, int64_t b) {
  return std::fabs(std::log2(double(a)) - std::log2(double(b)));
}
} // namespace

ShapeBucket ShapeBucket::of(int64_t rows, int64_t tokens) {
  return {int64_t(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(rows, 1)))),
          int64_t(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(tokens, 1))))};
}

std::string TuningDatabase::pathFromEnvironment() {
  if (std::optional<std::string> setting = llvm::sys::Process::GetEnv("LINREC_TUNING_DB")) {
    if (isOffSetting(*setting))
      return "";
    if (!setting->empty())
      return *setting;
  }
  return userCachePath("tuning.json");
}

std::string cpuTuningDevice(int64_t threads) {
  std::vector<std::string> features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    if (feature.second)
      features.push_back(feature.first().str());
  llvm::sort(features);
  std::string digest = llvm::toHex(
      llvm::SHA256::hash(llvm::arrayRefFromStringRef(llvm::join(features, ","))), true);
  return "cpu " + llvm::sys::getHostCPUName().str() + " features " + digest.substr(0, 16) +
         " threads " + std::to_string(threads);
}

static llvm::json::Value entryToJSON(const TuningEntry &e) {
  return llvm::json::Object{{"kernel", e.key.kernel},
                            {"target", e.key.target},
                            {"device", e.key.device},
                            {"linrec", e.key.version},
                            {"rows", e.bucket.rows},
                            {"tokens", e.bucket.tokens},
                            {"schedule", e.schedule},
                            {"description", e.description},
                            {"seconds", e.seconds},
                            {"default_seconds", e.defaultSeconds}};
}

static bool entryFromJSON(const llvm::json::Value &value, TuningEntry &e,
                          llvm::json::Path path) {
  llvm::json::ObjectMapper map(value, path);
  return map && map.map("kernel", e.key.kernel) && map.map("target", e.key.target) &&
         map.map("device", e.key.device) && map.map("linrec", e.key.version) &&
         map.map("rows", e.bucket.rows) && map.map("tokens", e.bucket.tokens) &&
         map.map("schedule", e.schedule) && map.mapOptional("description", e.description) &&
         map.map("seconds", e.seconds) && map.mapOptional("default_seconds", e.defaultSeconds);
}

llvm::Expected<TuningDatabase> TuningDatabase::parse(llvm::StringRef text,
                                                      llvm::StringRef origin) {
  llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
  if (!json)
    return fileError(origin, "not JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root || root->getString("format") != kFormat)
    return fileError(origin, "not a linrec tuning database (no \"format\": \"" + kFormat +
                                 "\")");
  if (root->getInteger("version") != kFormatVersion)
    return fileError(origin, "format version " +
                                 llvm::Twine(root->getInteger("version").value_or(-1)) +
                                 ", this linrec reads version " + llvm::Twine(kFormatVersion));
  const llvm::json::Array *entries = root->getArray("entries");
  if (!entries)
    return fileError(origin, "no \"entries\" array");
  TuningDatabase database;
  llvm::json::Path::Root pathRoot("entries");
  for (auto [i, value] : llvm::enumerate(*entries)) {
    TuningEntry entry;
    if (!entryFromJSON(value, entry, llvm::json::Path(pathRoot).index(i)))
      return fileError(origin, "a malformed entry: " + llvm::toString(pathRoot.getError()));
    if (entry.bucket.rows < 1 || entry.bucket.tokens < 1)
      return fileError(origin, "an entry's rows and tokens must be positive");
    database.record(std::move(entry));
  }
  return database;
}

llvm::Expected<TuningDatabase> TuningDatabase::load(llvm::StringRef path) {
  if (!llvm::sys::fs::exists(path))
    return TuningDatabase();
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file = llvm::MemoryBuffer::getFile(path);
  if (!file)
    return fileError(path, "cannot read it: " + file.getError().message());
  return parse((*file)->getBuffer(), path);
}

void TuningDatabase::record(TuningEntry entry) {
  for (TuningEntry &existing : entries_)
    if (existing.key == entry.key && existing.bucket == entry.bucket) {
      existing = std::move(entry);
      return;
    }
  entries_.push_back(std::move(entry));
}

void TuningDatabase::merge(const TuningDatabase &other) {
  for (const TuningEntry &entry : other.entries_)
    record(entry);
}

const TuningEntry *TuningDatabase::nearest(const TuningKey &key, ShapeBucket bucket) const {
  const TuningEntry *best = nullptr;
  double bestDistance = 0;
  for (const TuningEntry &entry : entries_) {
    if (!(entry.key == key))
      continue;
    double distance = logDistance(entry.bucket.rows, bucket.rows) +
                      logDistance(entry.bucket.tokens, bucket.tokens);
    bool larger = best && (entry.bucket.rows * entry.bucket.tokens >
                           best->bucket.rows * best->bucket.tokens);
    if (!best || distance < bestDistance || (distance == bestDistance && larger)) {
      best = &entry;
      bestDistance = distance;
    }
  }
  return best;
}

llvm::json::Value TuningDatabase::toJSON() const {
  llvm::json::Array entries;
  for (const TuningEntry &entry : entries_)
    entries.push_back(entryToJSON(entry));
  return llvm::json::Object{
      {"format", kFormat}, {"version", kFormatVersion}, {"entries", std::move(entries)}};
}

/// Holds an exclusive lock on a file for its lifetime: flock's, which belongs to the open
/// file, so that writers exclude each other between threads of one process too (POSIX record
/// locks, llvm::sys::fs::lockFile's, are per process).
class LockedFile {
public:
  static llvm::Expected<LockedFile> lock(const std::string &path) {
    LockedFile locked;
    if (std::error_code ec = llvm::sys::fs::openFileForReadWrite(
            path, locked.fd, llvm::sys::fs::CD_OpenAlways, llvm::sys::fs::OF_None))
      return fileError(path, "cannot open the lock file: " + ec.message());
    while (::flock(locked.fd, LOCK_EX) != 0)
      if (errno != EINTR)
        return fileError(path, "cannot lock it: " + std::string(strerror(errno)));
    return locked;
  }
  LockedFile(LockedFile &&other) : fd(std::exchange(other.fd, -1)) {}
  ~LockedFile() {
    if (fd >= 0)
      ::close(fd); // releases the lock
  }

private:
  LockedFile() = default;
  int fd = -1;
};

llvm::Error TuningDatabase::save(llvm::StringRef pathRef) const {
  std::string path = pathRef.str();
  llvm::StringRef directory = llvm::sys::path::parent_path(path);
  if (!directory.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(directory))
      return fileError(path, "cannot create its directory: " + ec.message());
  auto lock = LockedFile::lock(path + ".lock");
  if (!lock)
    return lock.takeError();
  // What another tuner saved since this one loaded stays: merge this over the file's entries.
  auto current = load(path);
  if (!current)
    return current.takeError();
  current->merge(*this);
  static std::atomic<unsigned> writes{0};
  std::string temporary =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(temporary, ec, llvm::sys::fs::OF_Text);
    if (ec)
      return fileError(path, "cannot write " + temporary + ": " + ec.message());
    out << llvm::formatv("{0:2}", current->toJSON()) << "\n";
    out.close();
    if (out.has_error()) {
      out.clear_error();
      llvm::sys::fs::remove(temporary);
      return fileError(path, "cannot write " + temporary);
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path)) {
    llvm::sys::fs::remove(temporary);
    return fileError(path, "cannot rename " + temporary + " into place: " + ec.message());
  }
  return llvm::Error::success();
}

} // namespace linrec
