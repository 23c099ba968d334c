//===- KernelDiskCache.h - compiled kernels kept across processes -*- C++ -*-===//
//
// A serving process should not pay the JIT for every layer it loads: the object code of each
// CPU kernel (and of the GPU schedule run on the CPU) is kept in a directory, keyed by what the
// in-memory kernel cache keys on (the kernel's source and every schedule option) plus linrec's
// and LLVM's versions and the host CPU (name and features), and loaded from there by later
// processes without running MLIR's passes or LLVM.
//
// Where: $LINREC_KERNEL_CACHE_DIR, else $XDG_CACHE_HOME/linrec/kernels, else
// ~/.cache/linrec/kernels; LINREC_KERNEL_CACHE=0 (or off) turns it off. An entry is one file,
// written to a temporary name and renamed into place, so a process killed mid-write never
// leaves an entry that loads, and processes compiling the same kernel at once each write a
// whole one (the last rename wins). An entry that does not load (truncated, corrupt, another
// key under the same name, another format) is ignored and rewritten.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_KERNELDISKCACHE_H
#define LINREC_RUNTIME_KERNELDISKCACHE_H

#include "linrec/Runtime/KernelSource.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
#include <string>

namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace linrec {

/// A kernel loaded from the disk cache: its code, kept alive with the JIT that linked it.
struct CachedKernelCode {
  KernelLayout layout;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  void (*entry)(void **) = nullptr;
  ~CachedKernelCode();
};

class KernelDiskCache {
public:
  /// The cache the environment asks for (see above); disabled when it says so or no
  /// directory can be named.
  static KernelDiskCache fromEnvironment();
  /// A cache in `directory` (an empty one: disabled).
  explicit KernelDiskCache(std::string directory) : directory(std::move(directory)) {}

  bool enabled() const { return !directory.empty(); }
  llvm::StringRef path() const { return directory; }

  /// The kernel stored under `key` (the in-memory cache's key), if a valid entry exists;
  /// `symbol` is the packed entry point to look up in it.
  std::unique_ptr<CachedKernelCode> load(llvm::StringRef key, llvm::StringRef symbol) const;
  /// Stores the kernel's object code and layout under `key`. Failing to write is not an error
  /// of the compile that asked (the kernel still runs): the message says why, for
  /// LINREC_EXPLAIN.
  llvm::Error store(llvm::StringRef key, const KernelLayout &layout,
                    llvm::StringRef objectCode) const;

  /// The entry file of `key`.
  std::string entryPath(llvm::StringRef key) const;

private:
  std::string directory;
};

/// `name` in the directory linrec keeps per-user files in: $XDG_CACHE_HOME/linrec/NAME, else
/// ~/.cache/linrec/NAME; empty when neither can be named.
std::string userCachePath(llvm::StringRef name);

/// Whether an environment setting turns a feature off: 0, off, false or no (any case).
bool isOffSetting(llvm::StringRef value);

/// What makes compiled code valid on this machine beside its source: linrec's and LLVM's
/// versions, the host CPU's name and features. Part of every disk cache key.
const std::string &hostCodeIdentity();

} // namespace linrec

#endif // LINREC_RUNTIME_KERNELDISKCACHE_H
