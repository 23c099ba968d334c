//===- TuningDatabaseTest.cpp - tuned schedules the runtime compiles with -===//
//
// The database finds the entry of the nearest shape bucket for the same kernel, target,
// device and version only; saving merges with what is on disk (the later tuning of a bucket
// wins), leaves no temporary file, and keeps every entry when writers save at once; a file
// that is not a tuning database is an error and is never overwritten; a compile takes the
// tuned options it is not given and explicit options win.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Version.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "gtest/gtest.h"

#include <thread>

using namespace linrec;

namespace {

const char *kRecurrence = R"mlir(
func.func @layer(%q: tensor<2x40x3x16xf32>, %g: tensor<2x40x3xf32>)
    -> (tensor<2x40x3x16xf32>, tensor<2x3x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x40x3x16xf32>, tensor<2x40x3xf32>)
      -> (tensor<2x40x3x16xf32>, tensor<2x3x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S2, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x16xf32>) outputs(%ot : vector<16xf32>)
  }
  return %o, %s : tensor<2x40x3x16xf32>, tensor<2x3x16x16xf32>
}
)mlir";

TuningEntry entry(llvm::StringRef kernel, int64_t rows, int64_t tokens,
                  llvm::StringRef schedule, llvm::StringRef device = "cpu test threads 1") {
  TuningEntry e;
  e.key = TuningKey{kernel.str(), "cpu", device.str(), LINREC_VERSION};
  e.bucket = ShapeBucket{rows, tokens};
  e.schedule = schedule.str();
  e.seconds = 1e-3;
  e.defaultSeconds = 2e-3;
  return e;
}

class TuningDatabaseTest : public ::testing::Test {
protected:
  TuningDatabaseTest() {
    llvm::SmallString<128> dir;
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("linrec-tuning-test", dir));
    directory = std::string(dir);
    llvm::SmallString<128> file(dir);
    llvm::sys::path::append(file, "tuning.json");
    path = std::string(file);
  }
  ~TuningDatabaseTest() override { llvm::sys::fs::remove_directories(directory); }

  std::vector<std::string> filesInDirectory() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(directory, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    llvm::sort(names);
    return names;
  }

  std::string directory, path;
};

TEST_F(TuningDatabaseTest, BucketsArePowersOfTwo) {
  EXPECT_EQ(ShapeBucket::of(24, 4096), (ShapeBucket{32, 4096}));
  EXPECT_EQ(ShapeBucket::of(1, 1), (ShapeBucket{1, 1}));
  EXPECT_EQ(ShapeBucket::of(0, 4097), (ShapeBucket{1, 8192}));
}

TEST_F(TuningDatabaseTest, NearestBucketOfTheSameKeyOnly) {
  TuningDatabase db;
  db.record(entry("k", 8, 4096, "chunk-size=64"));
  db.record(entry("k", 64, 4096, "chunk-size=128"));
  db.record(entry("k", 8, 256, "chunk-size=32"));
  db.record(entry("other", 16, 4096, "chunk-size=16"));
  TuningKey key = db.entries().front().key;
  // Rows 16: 8 is one octave away, 64 two.
  ASSERT_TRUE(db.nearest(key, {16, 4096}));
  EXPECT_EQ(db.nearest(key, {16, 4096})->schedule, "chunk-size=64");
  EXPECT_EQ(db.nearest(key, {32, 4096})->schedule, "chunk-size=128");
  EXPECT_EQ(db.nearest(key, {8, 128})->schedule, "chunk-size=32");
  // A tie (8 x 1024 is two octaves from both 8 x 4096 and 8 x 256) goes to the larger bucket.
  EXPECT_EQ(db.nearest(key, {8, 1024})->schedule, "chunk-size=64");
  // Another device, target or linrec version: nothing.
  TuningKey otherDevice = key, otherTarget = key, otherVersion = key;
  otherDevice.device = "cpu elsewhere threads 1";
  otherTarget.target = "gpu-schedule";
  otherVersion.version = "0.0.1";
  EXPECT_EQ(db.nearest(otherDevice, {8, 4096}), nullptr);
  EXPECT_EQ(db.nearest(otherTarget, {8, 4096}), nullptr);
  EXPECT_EQ(db.nearest(otherVersion, {8, 4096}), nullptr);
  // The same key and bucket again: the later tuning replaces the earlier.
  db.record(entry("k", 8, 4096, "chunk-size=16"));
  EXPECT_EQ(db.entries().size(), 4u);
  EXPECT_EQ(db.nearest(key, {8, 4096})->schedule, "chunk-size=16");
}

TEST_F(TuningDatabaseTest, SaveMergesWithTheFileAndLeavesNoTemporary) {
  auto empty = TuningDatabase::load(path);
  ASSERT_TRUE(static_cast<bool>(empty)) << llvm::toString(empty.takeError());
  EXPECT_TRUE(empty->entries().empty());

  TuningDatabase first, second;
  first.record(entry("a", 8, 4096, "chunk-size=64"));
  first.record(entry("b", 8, 4096, "chunk-size=64"));
  second.record(entry("b", 8, 4096, "chunk-size=32"));
  second.record(entry("c", 1, 1, "sequential=true"));
  ASSERT_FALSE(static_cast<bool>(first.save(path)));
  ASSERT_FALSE(static_cast<bool>(second.save(path)));
  auto loaded = TuningDatabase::load(path);
  ASSERT_TRUE(static_cast<bool>(loaded)) << llvm::toString(loaded.takeError());
  ASSERT_EQ(loaded->entries().size(), 3u);
  TuningKey b = entry("b", 8, 4096, "").key;
  EXPECT_EQ(loaded->nearest(b, {8, 4096})->schedule, "chunk-size=32");
  EXPECT_EQ(loaded->nearest(b, {8, 4096})->defaultSeconds, 2e-3);
  EXPECT_EQ(filesInDirectory(), (std::vector<std::string>{"tuning.json", "tuning.json.lock"}));

  // Exported and imported: merge() takes the other's entries.
  TuningDatabase imported;
  imported.record(entry("a", 8, 4096, "chunk-size=128"));
  imported.merge(*loaded);
  EXPECT_EQ(imported.entries().size(), 3u);
  EXPECT_EQ(imported.nearest(entry("a", 8, 4096, "").key, {8, 4096})->schedule,
            "chunk-size=64");
}

TEST_F(TuningDatabaseTest, WritersSavingAtOnceKeepEveryEntry) {
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      for (int round = 0; round < 10; ++round) {
        TuningDatabase db;
        db.record(entry("kernel" + std::to_string(w), 1 << round, 64, "chunk-size=64"));
        EXPECT_FALSE(static_cast<bool>(db.save(path)));
      }
    });
  for (std::thread &t : writers)
    t.join();
  auto loaded = TuningDatabase::load(path);
  ASSERT_TRUE(static_cast<bool>(loaded)) << llvm::toString(loaded.takeError());
  EXPECT_EQ(loaded->entries().size(), 40u);
}

TEST_F(TuningDatabaseTest, AFileThatIsNotADatabaseIsAnErrorAndKept) {
  for (llvm::StringRef text :
       {llvm::StringRef("{\"format\": \"linrec-tuning-database\", \"version\": 1, "),
        llvm::StringRef("{\"format\": \"something else\", \"version\": 1, \"entries\": []}"),
        llvm::StringRef("{\"format\": \"linrec-tuning-database\", \"version\": 9, "
                        "\"entries\": []}"),
        llvm::StringRef("{\"format\": \"linrec-tuning-database\", \"version\": 1, "
                        "\"entries\": [{\"kernel\": \"k\"}]}")}) {
    {
      std::error_code ec;
      llvm::raw_fd_ostream out(path, ec);
      out << text;
    }
    auto loaded = TuningDatabase::load(path);
    ASSERT_FALSE(static_cast<bool>(loaded)) << text.str();
    std::string message = llvm::toString(loaded.takeError());
    EXPECT_NE(message.find(path), std::string::npos) << message;
    TuningDatabase db;
    db.record(entry("k", 1, 1, "chunk-size=16"));
    llvm::Error saved = db.save(path);
    EXPECT_TRUE(static_cast<bool>(saved)) << text.str();
    llvm::consumeError(std::move(saved));
    auto kept = llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(static_cast<bool>(kept));
    EXPECT_EQ((*kept)->getBuffer(), text);
  }
}

TEST_F(TuningDatabaseTest, CompilesTakeTunedOptionsAndExplicitOnesWin) {
  mlir::MLIRContext context;
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kRecurrence, &context);
  ASSERT_TRUE(module);
  mlir::Operation *op = nullptr;
  module->walk([&](RecurrenceOp r) { op = r; });

  KernelOptions plain;
  plain.cpu.threads = 1;
  TuningDatabase db;
  // B·H = 6 rows of 40 tokens: bucket 8 x 64.
  db.record(entry(kernelTuningDigest(op, Target::CPU), 8, 64,
                  "sequential=true heads-per-item=1", cpuTuningDevice(1)));
  ASSERT_FALSE(static_cast<bool>(db.save(path)));

  KernelCompiler untuned;
  untuned.setTuningDatabase("");
  auto baseline = untuned.compile(op, plain);
  ASSERT_TRUE(static_cast<bool>(baseline)) << llvm::toString(baseline.takeError());
  EXPECT_NE((*baseline)->algorithm(), Algorithm::Sequential);

  KernelCompiler compiler;
  compiler.setTuningDatabase(path);
  auto tuned = compiler.compile(op, plain);
  ASSERT_TRUE(static_cast<bool>(tuned)) << llvm::toString(tuned.takeError());
  EXPECT_EQ((*tuned)->algorithm(), Algorithm::Sequential);

  KernelOptions chunked = plain;
  ASSERT_FALSE(static_cast<bool>(chunked.parseSchedule("sequential=false")));
  setenv("LINREC_EXPLAIN", "1", 1);
  testing::internal::CaptureStderr();
  auto mixed = compiler.compile(op, chunked);
  std::string explained = testing::internal::GetCapturedStderr();
  unsetenv("LINREC_EXPLAIN");
  ASSERT_TRUE(static_cast<bool>(mixed)) << llvm::toString(mixed.takeError());
  EXPECT_NE((*mixed)->algorithm(), Algorithm::Sequential);
  EXPECT_EQ((*mixed)->headsPerItem(), 1);
  EXPECT_NE(explained.find("tuned schedule from " + path), std::string::npos) << explained;
  EXPECT_NE(explained.find("heads-per-item=1"), std::string::npos) << explained;
  EXPECT_NE(explained.find("explicit options win: sequential"), std::string::npos)
      << explained;

  // Another thread count is another device: nothing tuned applies.
  KernelOptions twoThreads = plain;
  twoThreads.cpu.threads = 2;
  auto other = compiler.compile(op, twoThreads);
  ASSERT_TRUE(static_cast<bool>(other)) << llvm::toString(other.takeError());
  EXPECT_NE((*other)->algorithm(), Algorithm::Sequential);
}

} // namespace
