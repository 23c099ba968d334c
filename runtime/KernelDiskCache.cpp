//===- KernelDiskCache.cpp - compiled kernels kept across processes -------===//
//
// An entry: the line "linrec-kernel-cache 1", a JSON line (the key's and the object's sizes,
// the object's SHA-256, the kernel's layout), the key itself, then the object file. It loads only if all of it is
// there and the key is the one asked for.
//
//===----------------------------------------------------------------------===//

#include "linrec/Runtime/KernelDiskCache.h"
#include "linrec/Runtime/JitEngine.h"
#include "linrec/Version.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <atomic>
#include <dlfcn.h>
#include <unistd.h>

namespace linrec {

static constexpr llvm::StringLiteral kMagic = "linrec-kernel-cache 1\n";

CachedKernelCode::~CachedKernelCode() = default;

/// The binary linrec's code generators are in (a tool, the Python extension, liblinrec_c.so),
/// its size and modification time: a rebuild that changes how kernels are generated (which
/// need not change their source IR or the version) gets entries of its own.
static std::string buildIdentity() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&buildIdentity), &info) || !info.dli_fname)
    return "an unknown build";
  llvm::sys::fs::file_status status;
  if (llvm::sys::fs::status(info.dli_fname, status))
    return info.dli_fname;
  return std::string(info.dli_fname) + " " + std::to_string(status.getSize()) + " bytes, " +
         std::to_string(llvm::sys::toTimeT(status.getLastModificationTime()));
}

const std::string &hostCodeIdentity() {
  static const std::string identity = [] {
    std::vector<std::string> features;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features.push_back((feature.second ? "+" : "-") + feature.first().str());
    llvm::sort(features);
    return "linrec " LINREC_VERSION " (" + buildIdentity() + "); LLVM " LLVM_VERSION_STRING
           "; " + llvm::sys::getHostCPUName().str() + "; " + llvm::join(features, ",");
  }();
  return identity;
}

bool isOffSetting(llvm::StringRef value) {
  return llvm::is_contained({"0", "off", "false", "no"}, value.lower());
}

std::string userCachePath(llvm::StringRef name) {
  llvm::SmallString<256> path;
  if (std::optional<std::string> xdg = llvm::sys::Process::GetEnv("XDG_CACHE_HOME");
      xdg && !xdg->empty())
    path = *xdg;
  else if (!llvm::sys::path::home_directory(path))
    return "";
  else
    llvm::sys::path::append(path, ".cache");
  llvm::sys::path::append(path, "linrec", name);
  return std::string(path);
}

KernelDiskCache KernelDiskCache::fromEnvironment() {
  if (std::optional<std::string> setting = llvm::sys::Process::GetEnv("LINREC_KERNEL_CACHE"))
    if (isOffSetting(*setting))
      return KernelDiskCache("");
  if (std::optional<std::string> dir = llvm::sys::Process::GetEnv("LINREC_KERNEL_CACHE_DIR"))
    return KernelDiskCache(*dir);
  return KernelDiskCache(userCachePath("kernels"));
}

static std::string sha256(llvm::StringRef bytes) {
  return llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes)), /*LowerCase=*/true);
}

std::string KernelDiskCache::entryPath(llvm::StringRef key) const {
  llvm::SmallString<256> path(directory);
  llvm::sys::path::append(path, sha256(key) + ".kernel");
  return std::string(path);
}

/// The entry's parts, if it is whole and holds `key`.
static std::optional<std::pair<KernelLayout, llvm::StringRef>>
parseEntry(llvm::StringRef entry, llvm::StringRef key) {
  if (!entry.consume_front(kMagic))
    return std::nullopt;
  auto [headerLine, rest] = entry.split('\n');
  llvm::Expected<llvm::json::Value> header = llvm::json::parse(headerLine);
  if (!header) {
    llvm::consumeError(header.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *fields = header->getAsObject();
  if (!fields)
    return std::nullopt;
  std::optional<int64_t> keySize = fields->getInteger("key_size");
  std::optional<int64_t> objectSize = fields->getInteger("object_size");
  std::optional<int64_t> algorithm = fields->getInteger("algorithm");
  std::optional<int64_t> valueTiles = fields->getInteger("value_tiles");
  std::optional<int64_t> headsPerItem = fields->getInteger("heads_per_item");
  std::optional<int64_t> tokenBlock = fields->getInteger("token_block");
  const llvm::json::Array *checks = fields->getArray("value_checks");
  std::optional<llvm::StringRef> objectHash = fields->getString("object_sha256");
  if (!keySize || !objectSize || !algorithm || !valueTiles || !headsPerItem || !tokenBlock ||
      !checks || !objectHash || *keySize < 0 || *objectSize <= 0 ||
      rest.size() != size_t(*keySize) + size_t(*objectSize) ||
      rest.take_front(*keySize) != key)
    return std::nullopt;
  // Damaged code would load and run: the object's hash must match.
  llvm::StringRef object = rest.drop_front(*keySize);
  if (*objectHash != sha256(object))
    return std::nullopt;
  KernelLayout layout;
  layout.algorithm = Algorithm(*algorithm);
  layout.valueTiles = *valueTiles;
  layout.headsPerItem = *headsPerItem;
  layout.tokenBlock = *tokenBlock;
  for (const llvm::json::Value &check : *checks) {
    std::optional<int64_t> bits = check.getAsInteger();
    if (!bits)
      return std::nullopt;
    layout.valueChecks.push_back(ValueCheck(*bits));
  }
  return std::make_pair(layout, object);
}

std::unique_ptr<CachedKernelCode> KernelDiskCache::load(llvm::StringRef key,
                                                        llvm::StringRef symbol) const {
  if (!enabled())
    return nullptr;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
      llvm::MemoryBuffer::getFile(entryPath(key), /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!file)
    return nullptr;
  auto parsed = parseEntry((*file)->getBuffer(), key);
  if (!parsed)
    return nullptr;
  // Link the object in a JIT of its own; what it calls outside itself (libm, the C library)
  // comes from this process, as for the kernels the ExecutionEngine compiles.
  initializeNativeTarget();
  auto machine = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!machine) {
    llvm::consumeError(machine.takeError());
    return nullptr;
  }
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*machine)).create();
  if (!jit) {
    llvm::consumeError(jit.takeError());
    return nullptr;
  }
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!process) {
    llvm::consumeError(process.takeError());
    return nullptr;
  }
  (*jit)->getMainJITDylib().addGenerator(std::move(*process));
  if (llvm::Error e = (*jit)->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(
          parsed->second, entryPath(key)))) {
    llvm::consumeError(std::move(e));
    return nullptr;
  }
  auto address = (*jit)->lookup(symbol);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  auto code = std::make_unique<CachedKernelCode>();
  code->layout = parsed->first;
  code->entry = address->toPtr<void (*)(void **)>();
  code->jit = std::move(*jit);
  return code;
}

llvm::Error KernelDiskCache::store(llvm::StringRef key, const KernelLayout &layout,
                                   llvm::StringRef objectCode) const {
  if (!enabled())
    return llvm::Error::success();
  if (std::error_code ec = llvm::sys::fs::create_directories(directory))
    return llvm::createStringError(ec, "cannot create the kernel cache " + directory + ": " +
                                           ec.message());
  llvm::json::Array checks;
  for (ValueCheck check : layout.valueChecks)
    checks.push_back(int64_t(check));
  llvm::json::Object header{{"key_size", int64_t(key.size())},
                            {"object_size", int64_t(objectCode.size())},
                            {"object_sha256", sha256(objectCode)},
                            {"algorithm", int64_t(layout.algorithm)},
                            {"value_tiles", layout.valueTiles},
                            {"heads_per_item", layout.headsPerItem},
                            {"token_block", layout.tokenBlock},
                            {"value_checks", std::move(checks)}};
  // A name no other writer uses, renamed into place once whole.
  static std::atomic<unsigned> writes{0};
  std::string path = entryPath(key);
  std::string temporary =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(temporary, ec, llvm::sys::fs::OF_None);
    if (ec)
      return llvm::createStringError(ec, "cannot write " + temporary + ": " + ec.message());
    out << kMagic << llvm::json::Value(std::move(header)) << "\n" << key << objectCode;
    out.close();
    if (out.has_error()) {
      out.clear_error();
      llvm::sys::fs::remove(temporary);
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "cannot write " + temporary);
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path)) {
    llvm::sys::fs::remove(temporary);
    return llvm::createStringError(ec, "cannot rename " + temporary + ": " + ec.message());
  }
  return llvm::Error::success();
}

} // namespace linrec
