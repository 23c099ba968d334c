//===- StatePoolTest.cpp - decode steps on states kept in a pool ----------===//
//
// Serving engines keep every live sequence's state in one pool and run each decode step on
// a batch of sequences whose states sit at arbitrary slots (state_indices). These tests run
// layers built with state pools through the compiled kernels, the pool updated in place
// (the final state is the initial state's own buffer), against the float64 reference:
// decode steps and short prefills, chunked and scanned kernels and the GPU schedule,
// packed sequences, every family with a state; slots no sequence runs on keep their bits;
// bad indices are clear errors on every path.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/InputChecks.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/JSON.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace linrec;

namespace {

/// One layer call's tensors: float inputs (f32 values), the pools and the int32 indices.
struct StepInputs {
  std::map<std::string, TensorInfo> infos;
  std::map<std::string, std::vector<float>> floats;
  std::vector<int32_t> cuSeqlens, stateIndices;
};

class StatePoolTest : public ::testing::Test {
protected:
  StatePoolTest() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Inputs of `model` for B rows of T tokens (or the packed sequences of `cuSeqlens`), H
  /// heads of dim d, states in a pool of `slots` slots at `indices`.
  StepInputs inputsFor(const PreparedModel &model, int64_t B, int64_t T, int64_t H, int64_t d,
                       int64_t slots, std::vector<int32_t> indices,
                       std::vector<int32_t> cuSeqlens = {}) {
    StepInputs in;
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    in.stateIndices = std::move(indices);
    in.cuSeqlens = std::move(cuSeqlens);
    for (const std::string &name : model.inputNames) {
      std::vector<int64_t> shape = {B, T, H, d};
      if (name == "g" || name == "beta")
        shape = {B, T, H};
      else if (name == "initial_state")
        shape = {slots, H, d, d};
      else if (name == "initial_z")
        shape = {slots, H, d};
      if (name == "state_indices" || name == "cu_seqlens") {
        auto &values = name == "state_indices" ? in.stateIndices : in.cuSeqlens;
        in.infos[name] = TensorInfo{DType::I32, {int64_t(values.size())}};
        continue;
      }
      std::vector<float> values(Array::numElementsOf(shape));
      for (float &x : values)
        x = name == "g" || name == "gk" ? -uniform(rng)
            : name == "beta"            ? uniform(rng)
            : name == "initial_z"       ? uniform(rng)
                                        : normal(rng) * (name == "initial_state" ? 0.3f : 1.0f);
      if (name == "k") // unit-norm keys keep delta rules contracting
        for (size_t row = 0; row < values.size(); row += d) {
          float norm = 0;
          for (int64_t j = 0; j < d; ++j)
            norm += values[row + j] * values[row + j];
          for (int64_t j = 0; j < d; ++j)
            values[row + j] /= std::sqrt(norm);
        }
      in.infos[name] = TensorInfo{DType::F32, shape};
      in.floats[name] = std::move(values);
    }
    return in;
  }

  /// The infos a layer with pools is prepared for (inputsFor needs the names first).
  static std::map<std::string, TensorInfo> infosFor(llvm::StringRef model, int64_t B, int64_t T,
                                                    int64_t H, int64_t d, int64_t slots,
                                                    int64_t sequences = 0) {
    std::map<std::string, TensorInfo> infos;
    for (const char *name : {"q", "k", "v"})
      infos[name] = TensorInfo{DType::F32, {B, T, H, d}};
    if (model == "simple_gla" || model == "gated_delta")
      infos["g"] = TensorInfo{DType::F32, {B, T, H}};
    if (model == "gla" || model == "kda")
      infos["gk"] = TensorInfo{DType::F32, {B, T, H, d}};
    if (model == "delta" || model == "gated_delta" || model == "kda")
      infos["beta"] = TensorInfo{DType::F32, {B, T, H}};
    infos["initial_state"] = TensorInfo{DType::F32, {slots, H, d, d}};
    if (model == "linear")
      infos["initial_z"] = TensorInfo{DType::F32, {slots, H, d}};
    int64_t rows = B;
    if (sequences) {
      infos["cu_seqlens"] = TensorInfo{DType::I32, {sequences + 1}};
      rows = sequences;
    }
    infos["state_indices"] = TensorInfo{DType::I32, {rows}};
    return infos;
  }

  static llvm::json::Object paramsFor(llvm::StringRef model) {
    llvm::json::Object params{{"scale", 0.25}};
    if (model == "linear") {
      params["normalize"] = true;
      params["eps"] = 1e-3;
      params["feature_map"] = "1+elu";
    }
    return params;
  }

  PreparedModel prepare(llvm::StringRef model, const std::map<std::string, TensorInfo> &infos) {
    auto prepared = prepareModel(context, model, paramsFor(model), infos, Target::CPU);
    EXPECT_TRUE(static_cast<bool>(prepared))
        << (prepared ? "" : llvm::toString(prepared.takeError()));
    return std::move(*prepared);
  }

  /// The float64 reference's results for `in` (the pools as they are before the step).
  std::vector<Array> reference(const PreparedModel &model, const StepInputs &in) {
    std::vector<Array> args;
    for (const std::string &name : model.inputNames) {
      const TensorInfo &info = in.infos.at(name);
      Array a(info.dtype, info.shape);
      if (name == "state_indices" || name == "cu_seqlens") {
        const auto &values = name == "state_indices" ? in.stateIndices : in.cuSeqlens;
        a.data.assign(values.begin(), values.end());
      } else {
        const std::vector<float> &values = in.floats.at(name);
        a.data.assign(values.begin(), values.end());
      }
      args.push_back(std::move(a));
    }
    auto results = interpretFunction(*model.module, "layer", args);
    EXPECT_TRUE(static_cast<bool>(results))
        << (results ? "" : llvm::toString(results.takeError()));
    return results ? std::move(*results) : std::vector<Array>{};
  }

  /// The layer's arguments, by its input names, viewing `in`'s buffers.
  static std::vector<BufferView> argsOf(const PreparedModel &model, StepInputs &in) {
    std::vector<BufferView> args;
    for (const std::string &name : model.inputNames) {
      const TensorInfo &info = in.infos.at(name);
      void *data = name == "state_indices" ? static_cast<void *>(in.stateIndices.data())
                   : name == "cu_seqlens"  ? static_cast<void *>(in.cuSeqlens.data())
                                           : static_cast<void *>(in.floats.at(name).data());
      args.push_back(BufferView{data, info.dtype, info.shape});
    }
    return args;
  }

  /// Runs the compiled layer on `in`, its final states written into the initial states'
  /// buffers (in place); returns o, or the error's message in `error`.
  std::vector<float> runInPlace(const PreparedModel &model, const Executable &executable,
                                StepInputs &in, std::string &error) {
    std::vector<BufferView> args = argsOf(model, in), results;
    auto func = model.module.get().lookupSymbol<mlir::func::FuncOp>("layer");
    auto oType = mlir::cast<mlir::RankedTensorType>(func.getResultTypes()[0]);
    std::vector<int64_t> oShape(oType.getShape().begin(), oType.getShape().end());
    std::vector<float> o(Array::numElementsOf(oShape));
    results.push_back(BufferView{o.data(), DType::F32, oShape});
    for (const std::string &name : llvm::drop_begin(model.outputNames)) {
      std::string init = name == "final_z" ? "initial_z" : "initial_state";
      results.push_back(args[llvm::find(model.inputNames, init) - model.inputNames.begin()]);
    }
    llvm::Error e = executable.run(args, results, /*threads=*/2);
    error = e ? llvm::toString(std::move(e)) : "";
    return o;
  }

  /// The worst relative RMS error of `got` against `want` over the given elements.
  static double relativeError(const std::vector<float> &got, const Array &want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      num += (got[i] - want.data[i]) * (got[i] - want.data[i]);
      den += want.data[i] * want.data[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
  }

  /// One layer call on pools, in place, against the reference; `schedule` picks the kernel.
  void expectStepMatches(llvm::StringRef model, int64_t B, int64_t T, int64_t H, int64_t d,
                         int64_t slots, std::vector<int32_t> indices, KernelOptions options,
                         std::vector<int32_t> cuSeqlens = {}) {
    int64_t sequences = cuSeqlens.empty() ? 0 : int64_t(cuSeqlens.size()) - 1;
    PreparedModel prepared = prepare(model, infosFor(model, B, T, H, d, slots, sequences));
    StepInputs in = inputsFor(prepared, B, T, H, d, slots, indices, cuSeqlens);
    std::vector<Array> want = reference(prepared, in);
    ASSERT_EQ(want.size(), prepared.outputNames.size());
    std::map<std::string, std::vector<float>> before = in.floats;
    auto executable = compileFunction(compiler, *prepared.module, "layer", options);
    ASSERT_TRUE(static_cast<bool>(executable))
        << llvm::toString(executable.takeError());
    std::string error;
    std::vector<float> o = runInPlace(prepared, *executable, in, error);
    ASSERT_EQ(error, "");
    std::string what = (model + " B=" + llvm::Twine(B) + " T=" + llvm::Twine(T) + " slots " +
                        llvm::Twine(slots) + " on " + options.str())
                           .str();
    EXPECT_LE(relativeError(o, want[0]), 2e-5) << what << ": o";
    for (auto [i, name] : llvm::enumerate(llvm::drop_begin(prepared.outputNames))) {
      std::string init = name == "final_z" ? "initial_z" : "initial_state";
      const std::vector<float> &pool = in.floats.at(init);
      EXPECT_LE(relativeError(pool, want[i + 1]), 2e-5) << what << ": " << name;
      // A slot no sequence runs on keeps its bits.
      int64_t slotSize = int64_t(pool.size()) / slots;
      for (int64_t slot = 0; slot < slots; ++slot)
        if (!llvm::is_contained(indices, slot))
          for (int64_t j = 0; j < slotSize; ++j)
            ASSERT_EQ(pool[slot * slotSize + j], before.at(init)[slot * slotSize + j])
                << what << ": slot " << slot << " of " << init << " changed";
    }
  }

  static KernelOptions cpu(bool scan = false, int64_t chunk = 16) {
    KernelOptions options;
    EXPECT_FALSE(static_cast<bool>(options.parseSchedule(
        ("chunk-size=" + llvm::Twine(chunk) + (scan ? " sequential=true" : " sequential=false"))
            .str())));
    return options;
  }
  static KernelOptions gpuSchedule() {
    KernelOptions options;
    options.target = Target::GPUScheduleOnCPU;
    EXPECT_FALSE(static_cast<bool>(options.parseSchedule("chunk-size=16 sequential=false")));
    return options;
  }

  mlir::MLIRContext context;
  KernelCompiler compiler;
  std::mt19937 rng{7};
};

TEST_F(StatePoolTest, DecodeStepUpdatesItsSlotsInPlace) {
  for (const char *model : {"simple_gla", "gla", "delta", "gated_delta", "kda", "linear"})
    for (bool scan : {true, false})
      expectStepMatches(model, /*B=*/3, /*T=*/1, /*H=*/2, /*d=*/16, /*slots=*/7, {5, 0, 3},
                        cpu(scan));
}

TEST_F(StatePoolTest, ShortStepsOnPoolsRunTheScanUnlessAskedOtherwise) {
  // Serving's decode step with default options: the token scan (the chunked kernel pads each
  // token to a chunk); sequential=false still gets the chunked kernel. Both match.
  PreparedModel prepared = prepare("gated_delta", infosFor("gated_delta", 3, 1, 2, 16, 7));
  setenv("LINREC_EXPLAIN", "1", 1);
  for (bool chunked : {false, true}) {
    testing::internal::CaptureStderr();
    auto executable = compileFunction(compiler, *prepared.module, "layer",
                                      chunked ? cpu(false) : KernelOptions());
    std::string explained = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
    EXPECT_EQ(explained.find("runs the token scan") != std::string::npos, !chunked)
        << explained;
  }
  unsetenv("LINREC_EXPLAIN");
  expectStepMatches("gated_delta", 3, 1, 2, 16, 7, {5, 0, 3}, KernelOptions());
  expectStepMatches("gla", 2, 24, 2, 16, 4, {1, 3}, KernelOptions());
}

TEST_F(StatePoolTest, PrefillOnPoolSlots) {
  // Several tokens per sequence: chunked kernels (T across chunks) and the scan.
  for (const char *model : {"gla", "gated_delta", "kda"}) {
    expectStepMatches(model, 2, 37, 2, 16, 4, {3, 1}, cpu(false, 16));
    expectStepMatches(model, 2, 9, 2, 16, 4, {0, 2}, cpu(true));
  }
}

TEST_F(StatePoolTest, PackedSequencesOnPoolSlots) {
  // cu_seqlens: one slot per packed sequence (an empty one included), chunked and scanned.
  for (bool scan : {false, true})
    expectStepMatches("gated_delta", 1, 40, 2, 16, 6, {4, 0, 5}, cpu(scan),
                      /*cuSeqlens=*/{0, 17, 17, 40});
}

TEST_F(StatePoolTest, GpuScheduleOnPoolSlots) {
  for (const char *model : {"gla", "gated_delta"}) {
    expectStepMatches(model, 3, 1, 2, 16, 5, {4, 2, 0}, gpuSchedule());
    expectStepMatches(model, 2, 20, 2, 16, 3, {1, 2}, gpuSchedule());
  }
}

TEST_F(StatePoolTest, DistinctFinalBufferGetsTheWholePool) {
  // Out of place: the final state is a copy of the pool with the sequences' slots updated.
  PreparedModel prepared = prepare("gated_delta", infosFor("gated_delta", 2, 1, 2, 16, 4));
  StepInputs in = inputsFor(prepared, 2, 1, 2, 16, 4, {3, 1});
  std::vector<Array> want = reference(prepared, in);
  auto executable = compileFunction(compiler, *prepared.module, "layer", cpu());
  ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
  std::vector<BufferView> args = argsOf(prepared, in);
  std::vector<float> o(2 * 2 * 16), pool(4 * 2 * 16 * 16, NAN);
  std::vector<BufferView> results = {BufferView{o.data(), DType::F32, {2, 1, 2, 16}},
                                     BufferView{pool.data(), DType::F32, {4, 2, 16, 16}}};
  ASSERT_FALSE(static_cast<bool>(executable->run(args, results, 1)));
  EXPECT_LE(relativeError(o, want[0]), 2e-5);
  EXPECT_LE(relativeError(pool, want[1]), 2e-5);
}

TEST_F(StatePoolTest, BadIndicesAreClearErrors) {
  PreparedModel prepared = prepare("gated_delta", infosFor("gated_delta", 2, 1, 2, 16, 4));
  auto executable = compileFunction(compiler, *prepared.module, "layer", cpu());
  ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
  struct Case {
    std::vector<int32_t> indices;
    std::string message;
  } cases[] = {
      {{1, 4}, "state_indices[1] = 4 is outside the state pool's 4 slots"},
      {{-1, 2}, "state_indices[0] = -1 is outside the state pool's 4 slots"},
      {{2, 2}, "state_indices[1] = 2 repeats a slot: two sequences cannot share a state"},
  };
  for (const Case &c : cases) {
    StepInputs in = inputsFor(prepared, 2, 1, 2, 16, 4, c.indices);
    std::string error;
    runInPlace(prepared, *executable, in, error);
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
    // The reference says the same.
    std::vector<Array> args;
    for (const std::string &name : prepared.inputNames) {
      const TensorInfo &info = in.infos.at(name);
      Array a(info.dtype, info.shape);
      if (name == "state_indices")
        a.data.assign(in.stateIndices.begin(), in.stateIndices.end());
      else
        a.data.assign(in.floats.at(name).begin(), in.floats.at(name).end());
      args.push_back(std::move(a));
    }
    auto results = interpretFunction(*prepared.module, "layer", args);
    ASSERT_FALSE(static_cast<bool>(results));
    std::string message = llvm::toString(results.takeError());
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // A correct step after the errors: the per-thread bitmap of taken slots was cleared.
  StepInputs in = inputsFor(prepared, 2, 1, 2, 16, 4, {2, 1});
  std::string error;
  runInPlace(prepared, *executable, in, error);
  EXPECT_EQ(error, "");
}

TEST_F(StatePoolTest, Bf16PoolsKeepTheirStatesInBf16) {
  // A bf16 pool: the kernels read each state into f32, compute in f32 and round it back to bf16
  // as they store it. The chunked kernel and the GPU schedule round once per call; the scan
  // updates the pool in place and rounds after each token, as that many decode steps would:
  // exact for a decode step, within bf16's rounding over several tokens.
  struct Case {
    KernelOptions options;
    int64_t tokens;
    double outputTolerance;
  } cases[] = {{cpu(/*scan=*/true), 1, 2e-5},
               {cpu(/*scan=*/false), 2, 2e-5},
               {gpuSchedule(), 2, 2e-5},
               {cpu(/*scan=*/true), 3, 4e-3}};
  for (const Case &c : cases) {
    const KernelOptions &options = c.options;
    int64_t T = c.tokens;
    std::map<std::string, TensorInfo> infos = infosFor("gated_delta", 3, T, 2, 16, 5);
    infos["initial_state"].dtype = DType::BF16;
    PreparedModel prepared = prepare("gated_delta", infos);
    StepInputs in = inputsFor(prepared, 3, T, 2, 16, 5, {4, 0, 2});
    in.infos["initial_state"].dtype = DType::BF16;
    std::vector<float> &floats = in.floats["initial_state"];
    std::vector<uint16_t> pool(floats.size());
    for (size_t i = 0; i < floats.size(); ++i) {
      pool[i] = doubleToBf16(floats[i]);
      floats[i] = float(bf16ToDouble(pool[i])); // what the reference starts from
    }
    std::vector<Array> want = reference(prepared, in);
    ASSERT_EQ(want.size(), 2u);
    auto executable = compileFunction(compiler, *prepared.module, "layer", options);
    ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
    std::vector<BufferView> args;
    for (const std::string &name : prepared.inputNames) {
      const TensorInfo &info = in.infos.at(name);
      void *data = name == "state_indices"   ? static_cast<void *>(in.stateIndices.data())
                   : name == "initial_state" ? static_cast<void *>(pool.data())
                                             : static_cast<void *>(in.floats.at(name).data());
      args.push_back(BufferView{data, info.dtype, info.shape});
    }
    std::vector<float> o(3 * T * 2 * 16);
    std::vector<BufferView> results = {BufferView{o.data(), DType::F32, {3, T, 2, 16}},
                                       args[5]}; // in place
    ASSERT_EQ(args[5].dtype, DType::BF16);
    ASSERT_FALSE(static_cast<bool>(executable->run(args, results, 2)));
    EXPECT_LE(relativeError(o, want[0]), c.outputTolerance) << options.str() << " T=" << T;
    std::vector<float> updated(pool.size());
    for (size_t i = 0; i < pool.size(); ++i)
      updated[i] = float(bf16ToDouble(pool[i]));
    // One rounding to bf16 (8 bits): 2^-9 relative per element at most.
    EXPECT_LE(relativeError(updated, want[1]), 4e-3) << options.str();
    for (int64_t slot : {1, 3})
      for (int64_t j = 0; j < 2 * 16 * 16; ++j)
        ASSERT_EQ(updated[slot * 512 + j], floats[slot * 512 + j]) << "slot " << slot;
  }
}

TEST_F(StatePoolTest, CheckedModeChecksTheSlotsAStepReads) {
  // The scan updates pool slots in place and checks each state's rows as it first reads them:
  // a NaN in a slot the step uses is named, one in a slot it does not use is not read.
  for (bool scan : {true, false}) {
    PreparedModel prepared = prepare("gated_delta", infosFor("gated_delta", 2, 1, 2, 16, 4));
    auto executable = compileFunction(compiler, *prepared.module, "layer", cpu(scan));
    ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
    std::vector<ValueCheck> domains;
    for (const std::string &name : prepared.inputNames)
      domains.push_back(inputDomain("gated_delta", name, prepared.inputNames.size() &&
                                                             name == "state_indices"
                                                         ? DType::I32
                                                         : DType::F32));
    for (int64_t slot : {1, 2}) {
      StepInputs in = inputsFor(prepared, 2, 1, 2, 16, 4, {3, 1});
      // Slot `slot`, head 1, row 5, column 7.
      in.floats["initial_state"][((slot * 2 + 1) * 16 + 5) * 16 + 7] = NAN;
      std::vector<BufferView> args = argsOf(prepared, in), results;
      std::vector<float> o(2 * 2 * 16);
      results = {BufferView{o.data(), DType::F32, {2, 1, 2, 16}}, args[5]};
      llvm::Error error = executable->runChecked(args, results, 2, prepared.inputNames, domains);
      std::string message = error ? llvm::toString(std::move(error)) : "";
      // The scan found it as it updated the slot in place: the slot and head are named (the
      // row and column where the NaN has spread to by then may differ).
      if (slot == 1)
        EXPECT_NE(message.find("input initial_state[1, 1, "), std::string::npos)
            << (scan ? "scan: " : "chunked: ") << message;
      else
        EXPECT_EQ(message, "") << (scan ? "scan" : "chunked");
    }
  }
}

TEST_F(StatePoolTest, CheckedModeChecksTheSlotOfAnEmptySequence) {
  // A packed sequence without tokens runs no pass over its state: its slot is still checked.
  for (bool scan : {true, false}) {
    PreparedModel prepared =
        prepare("gated_delta", infosFor("gated_delta", 1, 5, 2, 16, 4, /*sequences=*/2));
    auto executable = compileFunction(compiler, *prepared.module, "layer", cpu(scan));
    ASSERT_TRUE(static_cast<bool>(executable)) << llvm::toString(executable.takeError());
    std::vector<ValueCheck> domains;
    for (const std::string &name : prepared.inputNames)
      domains.push_back(inputDomain("gated_delta", name,
                                    name == "state_indices" || name == "cu_seqlens"
                                        ? DType::I32
                                        : DType::F32));
    StepInputs in = inputsFor(prepared, 1, 5, 2, 16, 4, {3, 1}, /*cuSeqlens=*/{0, 5, 5});
    in.floats["initial_state"][((1 * 2 + 0) * 16 + 2) * 16 + 3] = NAN; // slot 1: empty sequence
    std::vector<BufferView> args = argsOf(prepared, in), results;
    std::vector<float> o(5 * 2 * 16);
    auto init = llvm::find(prepared.inputNames, "initial_state") - prepared.inputNames.begin();
    results = {BufferView{o.data(), DType::F32, {1, 5, 2, 16}}, args[init]};
    llvm::Error failed = executable->runChecked(args, results, 2, prepared.inputNames, domains);
    std::string message = failed ? llvm::toString(std::move(failed)) : "";
    EXPECT_NE(message.find("input initial_state[1, 0, 2, 3] = nan"), std::string::npos)
        << (scan ? "scan: " : "chunked: ") << message;
  }
}

TEST_F(StatePoolTest, LayersWithoutOnePoolableRecurrenceRefuse) {
  std::map<std::string, TensorInfo> infos = infosFor("gated_delta", 2, 1, 2, 16, 4);
  infos.erase("initial_state");
  auto noPool = prepareModel(context, "gated_delta", paramsFor("gated_delta"), infos,
                             Target::CPU);
  ASSERT_FALSE(static_cast<bool>(noPool));
  std::string message = llvm::toString(noPool.takeError());
  EXPECT_NE(message.find("initial_state must be a pool"), std::string::npos) << message;
  // Hedgehog's projections and feature maps around its recurrence: one state per sequence.
  std::map<std::string, TensorInfo> hedgehog = {
      {"q", {DType::F32, {1, 1, 2, 16}}},      {"k", {DType::F32, {1, 1, 2, 16}}},
      {"v", {DType::F32, {1, 1, 2, 16}}},      {"Wq", {DType::F32, {2, 16, 4}}},
      {"Wk", {DType::F32, {2, 16, 4}}},        {"initial_state", {DType::F32, {3, 2, 8, 16}}},
      {"initial_z", {DType::F32, {3, 2, 8}}}, {"state_indices", {DType::I32, {1}}}};
  llvm::json::Object params{{"feature", "softmax"}, {"eps", 1e-6}};
  auto refused = prepareModel(context, "hedgehog", params, hedgehog, Target::CPU);
  ASSERT_FALSE(static_cast<bool>(refused));
  message = llvm::toString(refused.takeError());
  EXPECT_NE(message.find("state_indices (state pools) are for layers of one recurrence; "
                         "hedgehog layers keep one state per sequence"),
            std::string::npos)
      << message;
}

} // namespace
