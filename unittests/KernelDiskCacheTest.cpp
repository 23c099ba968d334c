//===- KernelDiskCacheTest.cpp - compiled kernels kept across processes ---===//
//
// A second compiler (as a new process would have) loads what the first stored instead of
// compiling, and the loaded kernel computes the same bits; entries are keyed by the schedule
// and the target; truncated, corrupt or foreign entries and a writer's leftover temporary
// file are ignored and rewritten; compilers writing the same entry at once leave one that
// loads; the environment picks the directory or turns the cache off.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/KernelDiskCache.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <thread>

using namespace linrec;

namespace {

// A gated linear recurrence with a state per (sequence, head).
const char *kRecurrence = R"mlir(
func.func @layer(%q: tensor<2x5x3x16xf32>, %g: tensor<2x5x3xf32>)
    -> (tensor<2x5x3x16xf32>, tensor<2x3x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x5x3x16xf32>, tensor<2x5x3xf32>)
      -> (tensor<2x5x3x16xf32>, tensor<2x3x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S2, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x16xf32>) outputs(%ot : vector<16xf32>)
  }
  return %o, %s : tensor<2x5x3x16xf32>, tensor<2x3x16x16xf32>
}
)mlir";

class KernelDiskCacheTest : public ::testing::Test {
protected:
  KernelDiskCacheTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    module = mlir::parseSourceString<mlir::ModuleOp>(kRecurrence, &context);
    module->walk([&](RecurrenceOp r) { op = r; });
    llvm::SmallString<128> path;
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("linrec-kernel-cache-test", path));
    directory = std::string(path);
  }
  ~KernelDiskCacheTest() override { llvm::sys::fs::remove_directories(directory); }

  /// A compiler with an empty in-memory cache (as in a new process) on the test's directory.
  std::unique_ptr<KernelCompiler> newCompiler() {
    auto compiler = std::make_unique<KernelCompiler>();
    compiler->setDiskCache(KernelDiskCache(directory));
    return compiler;
  }

  static KernelOptions options(llvm::StringRef schedule = "chunk-size=16",
                               Target target = Target::CPU) {
    KernelOptions options;
    options.target = target;
    EXPECT_FALSE(static_cast<bool>(options.parseSchedule(schedule)));
    return options;
  }

  /// The kernel's outputs on fixed inputs.
  static std::vector<float> outputsOf(const Kernel &kernel) {
    std::vector<float> q(2 * 5 * 3 * 16), g(2 * 5 * 3), o(q.size()), s(2 * 3 * 256);
    for (size_t i = 0; i < q.size(); ++i)
      q[i] = std::sin(0.37f * i);
    for (size_t i = 0; i < g.size(); ++i)
      g[i] = -0.1f * (i % 7);
    std::vector<BufferView> operands = {{q.data(), DType::F32, {2, 5, 3, 16}},
                                        {g.data(), DType::F32, {2, 5, 3}}};
    std::vector<BufferView> results = {{o.data(), DType::F32, {2, 5, 3, 16}},
                                       {s.data(), DType::F32, {2, 3, 16, 16}}};
    EXPECT_FALSE(static_cast<bool>(kernel.run(operands, results, 1)));
    o.insert(o.end(), s.begin(), s.end());
    return o;
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(directory, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    return names;
  }

  std::shared_ptr<const Kernel> compile(KernelCompiler &compiler, const KernelOptions &opts) {
    auto kernel = compiler.compile(op, opts);
    EXPECT_TRUE(static_cast<bool>(kernel)) << (kernel ? "" : llvm::toString(kernel.takeError()));
    return kernel ? *kernel : nullptr;
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  RecurrenceOp op;
  std::string directory;
};

TEST_F(KernelDiskCacheTest, ANewCompilerLoadsWhatTheFirstStored) {
  for (bool scan : {false, true}) {
    KernelOptions opts = options(scan ? "sequential=true" : "chunk-size=16");
    auto first = compile(*newCompiler(), opts);
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->loadedFromDisk());
    auto second = compile(*newCompiler(), opts);
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->loadedFromDisk());
    EXPECT_EQ(second->algorithm(), first->algorithm());
    EXPECT_EQ(second->headsPerItem(), first->headsPerItem());
    EXPECT_EQ(second->valueTiles(), first->valueTiles());
    EXPECT_EQ(outputsOf(*second), outputsOf(*first)); // the same code: the same bits
  }
  // One entry per kernel, nothing else left behind (no temporary files).
  EXPECT_EQ(entries().size(), 2u);
}

TEST_F(KernelDiskCacheTest, EntriesAreKeyedByScheduleAndTarget) {
  compile(*newCompiler(), options("chunk-size=16"));
  compile(*newCompiler(), options("chunk-size=32"));
  compile(*newCompiler(), options("chunk-size=16", Target::GPUScheduleOnCPU));
  EXPECT_EQ(entries().size(), 3u);
  auto gpu = compile(*newCompiler(), options("chunk-size=16", Target::GPUScheduleOnCPU));
  EXPECT_TRUE(gpu->loadedFromDisk());
  EXPECT_EQ(gpu->target(), Target::GPUScheduleOnCPU);
  auto cpu = compile(*newCompiler(), options("chunk-size=16"));
  std::vector<float> a = outputsOf(*gpu), b = outputsOf(*cpu);
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(b[i])));
}

TEST_F(KernelDiskCacheTest, BrokenEntriesAreIgnoredAndRewritten) {
  KernelOptions opts = options();
  std::vector<float> expected = outputsOf(*compile(*newCompiler(), opts));
  ASSERT_EQ(entries().size(), 1u);
  std::string path = directory + "/" + entries().front();
  auto original = llvm::MemoryBuffer::getFile(path, false, false);
  ASSERT_TRUE(static_cast<bool>(original));
  std::string bytes = (*original)->getBuffer().str();
  auto rewrite = [&](llvm::StringRef content) {
    std::error_code ec;
    llvm::raw_fd_ostream out(path, ec);
    out << content;
  };
  // Keys of the same size, so that only the comparison of the key can reject the third.
  std::string foreign = bytes;
  size_t keyAt = foreign.find('\n', foreign.find('\n') + 1) + 1;
  foreign[keyAt + 10] ^= 1;
  std::string badObject = bytes;
  for (size_t i = badObject.size() - 64; i < badObject.size(); ++i)
    badObject[i] = char(0xff);
  for (const std::string &broken :
       {bytes.substr(0, bytes.size() / 2), std::string("not a kernel"), foreign, badObject,
        std::string("linrec-kernel-cache 1\n{}\n"), std::string()}) {
    rewrite(broken);
    auto kernel = compile(*newCompiler(), opts);
    ASSERT_TRUE(kernel);
    EXPECT_FALSE(kernel->loadedFromDisk());
    EXPECT_EQ(outputsOf(*kernel), expected);
    // Rewritten whole: the next compiler loads it.
    auto next = compile(*newCompiler(), opts);
    EXPECT_TRUE(next->loadedFromDisk());
    EXPECT_EQ(outputsOf(*next), expected);
  }
  // A writer killed before its rename leaves only a temporary file, which nothing loads.
  llvm::sys::fs::remove(path);
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(path + ".tmp.12345.0", ec);
    out << bytes.substr(0, bytes.size() / 3);
  }
  auto kernel = compile(*newCompiler(), opts);
  EXPECT_FALSE(kernel->loadedFromDisk());
  EXPECT_TRUE(compile(*newCompiler(), opts)->loadedFromDisk());
}

TEST_F(KernelDiskCacheTest, CompilersWritingAtOnceLeaveOneEntryThatLoads) {
  KernelOptions opts = options();
  std::vector<std::unique_ptr<KernelCompiler>> compilers;
  for (int i = 0; i < 4; ++i)
    compilers.push_back(newCompiler());
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const Kernel>> kernels(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto kernel = compilers[i]->compile(op, opts);
      if (kernel)
        kernels[i] = *kernel;
      else
        llvm::consumeError(kernel.takeError());
    });
  for (std::thread &t : threads)
    t.join();
  for (auto &kernel : kernels)
    ASSERT_TRUE(kernel);
  EXPECT_EQ(entries().size(), 1u);
  auto loaded = compile(*newCompiler(), opts);
  EXPECT_TRUE(loaded->loadedFromDisk());
  EXPECT_EQ(outputsOf(*loaded), outputsOf(*kernels[0]));
}

TEST_F(KernelDiskCacheTest, TheEnvironmentPicksTheDirectoryOrTurnsItOff) {
  // The variables as they were (the test runner may turn the cache off for other tests).
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (const char *name : {"LINREC_KERNEL_CACHE", "LINREC_KERNEL_CACHE_DIR", "XDG_CACHE_HOME"})
    saved.emplace_back(name, getenv(name) ? std::optional<std::string>(getenv(name))
                                          : std::nullopt);
  auto with = [](std::vector<std::pair<const char *, const char *>> variables) {
    unsetenv("LINREC_KERNEL_CACHE");
    unsetenv("LINREC_KERNEL_CACHE_DIR");
    for (auto [name, value] : variables)
      value ? setenv(name, value, 1) : unsetenv(name);
    return KernelDiskCache::fromEnvironment();
  };
  EXPECT_EQ(with({{"LINREC_KERNEL_CACHE_DIR", "/some/where"}}).path(), "/some/where");
  EXPECT_EQ(with({{"LINREC_KERNEL_CACHE_DIR", nullptr}, {"XDG_CACHE_HOME", "/xdg"}}).path(),
            "/xdg/linrec/kernels");
  EXPECT_FALSE(with({{"LINREC_KERNEL_CACHE", "0"}, {"LINREC_KERNEL_CACHE_DIR", "/x"}}).enabled());
  EXPECT_FALSE(with({{"LINREC_KERNEL_CACHE", "off"}}).enabled());
  EXPECT_TRUE(with({{"LINREC_KERNEL_CACHE", "1"}}).enabled());
  for (auto &[name, value] : saved)
    value ? setenv(name.c_str(), value->c_str(), 1) : unsetenv(name.c_str());
  // The key names the build, the LLVM and the host CPU the code is for.
  EXPECT_NE(hostCodeIdentity().find("linrec-unittests"), std::string::npos) << hostCodeIdentity();
  EXPECT_NE(hostCodeIdentity().find("; LLVM "), std::string::npos);
  EXPECT_NE(hostCodeIdentity().find(llvm::sys::getHostCPUName().str()), std::string::npos);
}

} // namespace
