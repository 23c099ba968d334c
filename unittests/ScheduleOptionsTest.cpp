//===- ScheduleOptionsTest.cpp - schedule options declared once -----------===//
//
// Every schedule option reaches the kernel cache's key, a pass's options have the defaults of
// the pipeline options that hold them, option structs copy, and unknown names are errors that
// name the option.

#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Pipelines/ScheduleOptions.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Transforms/Passes.h"

#include "gtest/gtest.h"

using namespace linrec;

namespace {

/// The message of `e`, "" on success.
std::string errorOf(llvm::Error e) { return e ? llvm::toString(std::move(e)) : std::string(); }

/// Another value of the same type as `value` (printed form).
std::string otherValue(llvm::StringRef value) {
  if (value == "true")
    return "false";
  if (value == "false")
    return "true";
  int64_t number;
  if (!value.getAsInteger(10, number))
    return std::to_string(number + 3);
  return value.str() + "x";
}

/// The names of every option of `options`.
template <typename Options> std::vector<std::string> optionNames(const Options &options) {
  std::vector<std::string> names;
  options.forEachOption([&](const llvm::cl::Option &o) { names.push_back(o.ArgStr.str()); });
  return names;
}

/// Changing any one option of the target's pipeline changes the kernel cache's key.
void expectEveryOptionInTheKey(Target target) {
  KernelOptions base;
  base.target = target;
  llvm::StringMap<std::string> defaults = scheduleOptionValues(
      usesGpuSchedule(target) ? base.gpu.str() : base.cpu.str());
  std::vector<std::string> names =
      usesGpuSchedule(target) ? optionNames(base.gpu) : optionNames(base.cpu);
  ASSERT_GE(names.size(), 8u);
  for (const std::string &name : names) {
    ASSERT_TRUE(defaults.count(name)) << name;
    KernelOptions changed = base;
    ASSERT_EQ(errorOf(changed.parseSchedule(name + "=" + otherValue(defaults.lookup(name)))),
              "");
    EXPECT_NE(changed.str(), base.str()) << name << " is not in the key";
  }
}

TEST(ScheduleOptions, EveryCpuOptionIsInTheCacheKey) { expectEveryOptionInTheKey(Target::CPU); }

TEST(ScheduleOptions, EveryGpuOptionIsInTheCacheKey) {
  expectEveryOptionInTheKey(Target::GPUScheduleOnCPU);
  expectEveryOptionInTheKey(Target::CUDA);
}

TEST(ScheduleOptions, TheKeyNamesTheTarget) {
  KernelOptions cpu, gpu;
  gpu.target = Target::GPUScheduleOnCPU;
  gpu.gpu.chunkSize = int64_t(cpu.cpu.chunkSize); // the same numbers, another target
  EXPECT_NE(cpu.str(), gpu.str());
  EXPECT_EQ(llvm::StringRef(cpu.str()).take_front(3), "cpu");
}

/// A pass's own options have the defaults of the pipeline options that hold its group.
void expectPassDefaults(mlir::Pass &pass, const mlir::detail::PassOptions &pipeline) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pass.printAsTextualPipeline(os);
  llvm::StringMap<std::string> own =
      scheduleOptionValues(llvm::StringRef(text).drop_until([](char c) { return c == '{'; }));
  std::string printed;
  llvm::raw_string_ostream pipelineStream(printed);
  pipeline.print(pipelineStream);
  llvm::StringMap<std::string> shared = scheduleOptionValues(printed);
  ASSERT_FALSE(own.empty()) << text;
  for (const auto &entry : own)
    if (shared.count(entry.getKey()))
      EXPECT_EQ(entry.getValue(), shared.lookup(entry.getKey()))
          << pass.getArgument().str() << " " << entry.getKey().str();
}

TEST(ScheduleOptions, PassesAndPipelinesShareOneDefault) {
  CpuPipelineOptions cpu;
  GpuPipelineOptions gpu;
  expectPassDefaults(*createLinrecLowerCPU(), cpu);
  expectPassDefaults(*createLinrecSelectAlgorithm(), cpu);
  expectPassDefaults(*createLinrecLowerGPU(), gpu);
  expectPassDefaults(*createLinrecMapToGPU(), gpu);
  expectPassDefaults(*createLinrecGpuRegisterBudget(), gpu);
  EXPECT_EQ(int64_t(cpu.headsPerItem), 0); // chosen from B, H and threads
  EXPECT_EQ(int64_t(gpu.chunkSize), 32);
}

TEST(ScheduleOptions, CopiesKeepEveryValue) {
  KernelOptions options;
  ASSERT_EQ(errorOf(options.parseSchedule("chunk-size=16 value-tiles=2 sequential=true")), "");
  KernelOptions copy = options;
  EXPECT_EQ(int64_t(copy.cpu.chunkSize), 16);
  EXPECT_EQ(int64_t(copy.cpu.valueTiles), 2);
  EXPECT_TRUE(copy.cpu.sequential);
  EXPECT_EQ(copy.str(), options.str());
  KernelOptions assigned;
  assigned = options;
  EXPECT_EQ(assigned.str(), options.str());
}

TEST(ScheduleOptions, UnknownNamesAreErrorsThatNameThem) {
  KernelOptions options; // the CPU: value-tile is the GPU's
  std::string unknown = errorOf(options.parseSchedule("chunk-size=16 value-tile=8"));
  EXPECT_NE(unknown.find("value-tile"), std::string::npos) << unknown;
  std::string bad = errorOf(options.parseSchedule("chunk-size=many"));
  EXPECT_NE(bad.find("chunk-size"), std::string::npos) << bad;
  options.target = Target::CUDA;
  EXPECT_EQ(errorOf(options.parseSchedule("value-tile=8 two-phase=true")), "");
  EXPECT_EQ(int64_t(options.gpu.valueTile), 8);
  EXPECT_TRUE(options.gpu.twoPhase);
}

TEST(ScheduleOptions, PrintedValuesParseBack) {
  llvm::StringMap<std::string> values =
      scheduleOptionValues("{chip=sm_80 cuda-path={/opt/my cuda} two-phase=true}");
  EXPECT_EQ(values.lookup("chip"), "sm_80");
  EXPECT_EQ(values.lookup("cuda-path"), "/opt/my cuda");
  EXPECT_EQ(values.lookup("two-phase"), "true");
  GpuPipelineOptions gpu;
  ASSERT_EQ(errorOf(parseScheduleOptions(gpu, "{cuda-path={/opt/my cuda} chip=sm_80}")), "");
  EXPECT_EQ(gpu.cudaPath.getValue(), "/opt/my cuda");
  EXPECT_EQ(gpu.chip.getValue(), "sm_80");
}

} // namespace
