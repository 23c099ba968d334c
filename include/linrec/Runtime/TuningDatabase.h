//===- TuningDatabase.h - tuned schedules the runtime compiles with -*- C++ -*-===//
//
// The best schedule a tuner found for a kernel, kept in one JSON file and read by the runtime:
// a compile with no explicit value for a tunable option takes the tuned one of the nearest
// shape bucket (LINREC_EXPLAIN=1 says which), and explicit options always win.
//
// An entry is keyed by the kernel (the SHA-256 of its source with B, T and H generalized:
// buildKernelSource, the in-memory cache's key without the schedule), the target, the device
// (the host CPU's name and features and the thread count, or the GPU's name and compute
// capability), linrec's version, and the shape bucket: the (sequence, head) rows B·H and the
// tokens per sequence, each rounded up to a power of two. A lookup takes the entry of the
// same kernel, target, device and version whose bucket is nearest on a log scale.
//
// Where: $LINREC_TUNING_DB (a file; 0 or off: none), else $XDG_CACHE_HOME/linrec/tuning.json,
// else ~/.cache/linrec/tuning.json. Saving locks the file's `.lock` companion, merges with what
// is on disk (an entry of the same key and bucket is replaced: the later tuning wins), writes
// a temporary file in the same directory and renames it into place: a writer killed at any
// point leaves the previous file whole, and two tuners saving at once both keep their entries.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_TUNINGDATABASE_H
#define LINREC_RUNTIME_TUNINGDATABASE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <string>
#include <vector>

namespace linrec {

/// The shape bucket of a kernel call: (sequence, head) rows and tokens per sequence, rounded
/// up to powers of two.
struct ShapeBucket {
  int64_t rows = 1;
  int64_t tokens = 1;
  /// The bucket of B·H rows of T tokens each.
  static ShapeBucket of(int64_t rows, int64_t tokens);
  bool operator==(const ShapeBucket &other) const {
    return rows == other.rows && tokens == other.tokens;
  }
};

/// What a tuned schedule is for (all but the bucket).
struct TuningKey {
  std::string kernel;  // SHA-256 (hex) of the generalized kernel source
  std::string target;  // targetName(): "cpu", "gpu-schedule", "cuda"
  std::string device;  // cpuTuningDevice() or the GPU's name and compute capability
  std::string version; // linrec's version
  bool operator==(const TuningKey &other) const {
    return kernel == other.kernel && target == other.target && device == other.device &&
           version == other.version;
  }
};

struct TuningEntry {
  TuningKey key;
  ShapeBucket bucket;
  /// The tuned options, "name=value ..." in the target pipeline's option names.
  std::string schedule;
  /// What the kernel is, for people reading the file (the tuner's description).
  std::string description;
  /// Median seconds per call of the tuned schedule and of the default one, as measured.
  double seconds = 0;
  double defaultSeconds = 0;
};

class TuningDatabase {
public:
  /// The file the environment names (see above); empty when it turns tuning off or no
  /// directory can be named.
  static std::string pathFromEnvironment();

  /// The database in `path`: empty if there is no such file; an error naming the file if it
  /// is not a tuning database (never silently dropped: saving over it refuses too).
  static llvm::Expected<TuningDatabase> load(llvm::StringRef path);
  /// Reads a database from JSON text (`origin` names it in errors).
  static llvm::Expected<TuningDatabase> parse(llvm::StringRef text, llvm::StringRef origin);

  /// Adds `entry`, replacing one of the same key and bucket.
  void record(TuningEntry entry);
  /// Adds every entry of `other` (its entries win over this one's of the same key and bucket):
  /// how an exported database is imported.
  void merge(const TuningDatabase &other);
  /// The entry of `key` (of this linrec version) whose bucket is nearest to `bucket`: the
  /// least |log2 rows ratio| + |log2 tokens ratio|, ties to the larger bucket. Null if none.
  const TuningEntry *nearest(const TuningKey &key, ShapeBucket bucket) const;

  /// Writes the database to `path`, merged with the file's current content under a lock, by
  /// a temporary file renamed into place.
  llvm::Error save(llvm::StringRef path) const;

  llvm::json::Value toJSON() const;
  const std::vector<TuningEntry> &entries() const { return entries_; }

private:
  std::vector<TuningEntry> entries_;
};

/// The device part of a CPU tuning key: the host CPU's name, a digest of its features, and
/// the threads the kernels run on (a schedule tuned for 2 threads is another one's).
std::string cpuTuningDevice(int64_t threads);

} // namespace linrec

#endif // LINREC_RUNTIME_TUNINGDATABASE_H
