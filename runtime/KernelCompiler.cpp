//===- KernelCompiler.cpp - compiling ops to cached kernels ---------------===//

#include "RuntimeError.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Runtime/JitEngine.h"
#include "linrec/Runtime/KernelDiskCache.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SHA256.h"

#include <chrono>
#include <thread>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

KernelCompiler::KernelCompiler() {
  initializeNativeTarget();
  DialectRegistry registry;
  linrec::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context = std::make_unique<MLIRContext>(registry);
  disk = std::make_unique<KernelDiskCache>(KernelDiskCache::fromEnvironment());
  tuningPath = TuningDatabase::pathFromEnvironment();
  loadLinrecDialects(*context);
}

KernelCompiler::~KernelCompiler() = default;

void KernelCompiler::setDiskCache(KernelDiskCache cache) {
  std::lock_guard<std::mutex> lock(mutex);
  disk = std::make_unique<KernelDiskCache>(std::move(cache));
}

void KernelCompiler::setTuningDatabase(std::string path) {
  std::lock_guard<std::mutex> lock(mutex);
  tuningPath = std::move(path);
  tuning.reset();
  tuningLoaded = false;
}

size_t KernelCompiler::cacheSize() const {
  std::lock_guard<std::mutex> lock(mutex);
  return cache.size();
}

/// The type with the dims that vary between calls (B, T, H, N) made dynamic.
/// `type` with its first `leadingDims` dims dynamic, except `keep` (-1: none).
static RankedTensorType generalize(Type type, unsigned leadingDims, int keep = -1) {
  auto tensor = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(tensor.getShape());
  for (unsigned d = 0; d < leadingDims && d < shape.size(); ++d)
    if (int(d) != keep)
      shape[d] = ShapedType::kDynamic;
  return RankedTensorType::get(shape, tensor.getElementType());
}

/// A module holding `func @source` that applies a copy of `op` to arguments whose B, T, H
/// and N are dynamic: the text of this module is the kernel's cache key.
OwningOpRef<ModuleOp> buildKernelSource(Operation *op, const KernelOptions &options) {
  OpBuilder b(op->getContext());
  Location loc = op->getLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  SmallVector<Type> argTypes, resultTypes;
  if (auto rec = dyn_cast<RecurrenceOp>(op)) {
    // A norm over heads groups every head in one work item: H stays static.
    bool staticHeads = bool(rec.getHeadsNormEps());
    int tokenRowsH = staticHeads ? 2 : -1, statesH = staticHeads ? 1 : -1;
    for (Value v : rec.getInputs())
      argTypes.push_back(generalize(v.getType(), 3, tokenRowsH));
    for (Value v : rec.getParams())
      argTypes.push_back(generalize(v.getType(), 1, staticHeads ? 0 : -1));
    for (Value v : rec.getInits())
      argTypes.push_back(generalize(v.getType(), 2, statesH));
    if (Value cu = rec.getCuSeqlens())
      argTypes.push_back(generalize(cu.getType(), 1));
    if (Value indices = rec.getStateIndices())
      argTypes.push_back(generalize(indices.getType(), 1));
    unsigned numOutputs = rec.getNumOutputs();
    for (auto [i, t] : llvm::enumerate(op->getResultTypes()))
      resultTypes.push_back(i < numOutputs ? generalize(t, 3, tokenRowsH)
                                           : generalize(t, 2, statesH));
  } else { // a window attention: [B, T, H, ...] in and out
    for (Type t : op->getOperandTypes())
      argTypes.push_back(generalize(t, 3));
    for (Type t : op->getResultTypes())
      resultTypes.push_back(generalize(t, 3));
  }

  b.setInsertionPointToEnd(module->getBody());
  // Private: once the op is a kernel call, the pipeline's symbol-dce drops @source, and the
  // module is the kernel alone.
  auto func = func::FuncOp::create(b, loc, "source", b.getFunctionType(argTypes, resultTypes));
  func.setPrivate();
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  IRMapping mapping;
  for (auto [operand, arg] : llvm::zip(op->getOperands(), entry->getArguments()))
    mapping.map(operand, arg);
  Operation *copy = b.clone(*op, mapping);
  for (auto [result, type] : llvm::zip(copy->getResults(), resultTypes))
    result.setType(type);
  // The algorithm asked for is marked by the pipeline (linrec-select-algorithm).
  if (auto rec = dyn_cast<RecurrenceOp>(copy))
    rec.setChunkSizeAttr(b.getI64IntegerAttr(options.chunkSize()));
  // The kernel's T is dynamic: a window beyond this op's T is given as T here, where T is
  // still known (its history and bands would be sized by the window).
  if (auto window = dyn_cast<WindowAttentionOp>(op))
    cast<WindowAttentionOp>(copy).setSizeAttr(b.getI64IntegerAttr(window.getEffectiveSize()));
  func::ReturnOp::create(b, loc, copy->getResults());
  return module;
}

std::string kernelTuningDigest(Operation *op, Target target) {
  KernelOptions neutral;
  neutral.target = target;
  OwningOpRef<ModuleOp> source = buildKernelSource(op, neutral);
  std::string text;
  llvm::raw_string_ostream os(text);
  source->print(os);
  return llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(text)), /*LowerCase=*/true);
}

namespace {
/// The tuned options a compile took, and those it was given explicitly instead.
struct TunedChoice {
  SmallVector<std::string> taken, explicitlyGiven;
};

std::string optionText(int64_t value) { return std::to_string(value); }
std::string optionText(bool value) { return value ? "true" : "false"; }

/// `option` takes `tuned`'s value unless the caller set it (explicit options always win).
template <typename OptionT>
void takeTuned(OptionT &option, const OptionT &tuned, TunedChoice &choice) {
  if (!tuned.hasValue())
    return;
  std::string name = tuned.ArgStr.str();
  if (option.hasValue()) {
    choice.explicitlyGiven.push_back(name);
    return;
  }
  option = tuned.getValue();
  choice.taken.push_back(name + "=" + optionText(tuned.getValue()));
}

/// The options a tuner searches (linrec-tune) and a tuning database sets, of each pipeline:
/// f(a's option, b's same option) for each. (The rest are the caller's to choose.)
template <typename A, typename B, typename F>
void forEachTunableCpuOption(A &a, B &b, F &&f) {
  f(a.sequential, b.sequential);
  f(a.chunkSize, b.chunkSize);
  f(a.matmulRows, b.matmulRows);
  f(a.matmulColumns, b.matmulColumns);
  f(a.valueTiles, b.valueTiles);
  f(a.headsPerItem, b.headsPerItem);
}

template <typename A, typename B, typename F>
void forEachTunableGpuOption(A &a, B &b, F &&f) {
  f(a.sequential, b.sequential);
  f(a.chunkSize, b.chunkSize);
  f(a.valueTile, b.valueTile);
  f(a.twoPhase, b.twoPhase);
  f(a.tensorCores, b.tensorCores);
  f(a.blockSize, b.blockSize);
  f(a.maxRegisters, b.maxRegisters);
}
} // namespace

std::string explicitTunableOptions(const KernelOptions &options) {
  SmallVector<std::string> names;
  auto given = [&](const auto &option, const auto &) {
    if (option.hasValue())
      names.push_back(option.ArgStr.str());
  };
  if (usesGpuSchedule(options.target))
    forEachTunableGpuOption(options.gpu, options.gpu, given);
  else
    forEachTunableCpuOption(options.cpu, options.cpu, given);
  return llvm::join(names, ",");
}

std::string layerTuningDigest(func::FuncOp func) {
  std::string text;
  llvm::raw_string_ostream os(text);
  func->print(os, OpPrintingFlags().printGenericOpForm());
  return "layer-" +
         llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(text)), /*LowerCase=*/true);
}

std::optional<ShapeBucket> layerShapeBucket(func::FuncOp func) {
  for (Type t : func.getArgumentTypes())
    if (auto tensor = dyn_cast<RankedTensorType>(t);
        tensor && tensor.getRank() >= 2 && tensor.hasStaticShape())
      return ShapeBucket::of(tensor.getDimSize(0), tensor.getDimSize(1));
  return std::nullopt;
}

std::optional<ShapeBucket> kernelShapeBucket(Operation *op) {
  auto tokens = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  if (!tokens || tokens.getRank() < 3 || !tokens.hasStaticShape())
    return std::nullopt;
  int64_t batch = tokens.getDimSize(0), length = tokens.getDimSize(1),
          heads = tokens.getDimSize(2);
  if (auto rec = dyn_cast<RecurrenceOp>(op); rec && rec.getCuSeqlens()) {
    auto offsets = cast<RankedTensorType>(rec.getCuSeqlens().getType());
    if (offsets.isDynamicDim(0) || offsets.getDimSize(0) < 2)
      return std::nullopt;
    batch = offsets.getDimSize(0) - 1;
    length = std::max<int64_t>(1, length / batch);
  }
  return ShapeBucket::of(batch * heads, length);
}

std::string tuningDevice(const KernelOptions &options) {
  if (options.target == Target::CUDA) {
    auto driver = CudaDriver::get();
    if (!driver) {
      llvm::consumeError(driver.takeError());
      return "";
    }
    const CudaDeviceInfo &device = driver->devices().front();
    return "cuda " + device.name + " sm_" + std::to_string(device.computeMajor) +
           std::to_string(device.computeMinor);
  }
  int64_t threads = options.cpu.threads;
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  return cpuTuningDevice(threads);
}

void KernelCompiler::applyTunedSchedule(Operation *op, KernelOptions &options) {
  if (std::optional<ShapeBucket> bucket = kernelShapeBucket(op))
    applyTunedEntry([&] { return kernelTuningDigest(op, options.target); }, *bucket, options);
}

void KernelCompiler::applyTunedLayerSchedule(func::FuncOp func, KernelOptions &options) {
  if (std::optional<ShapeBucket> bucket = layerShapeBucket(func))
    applyTunedEntry([&] { return layerTuningDigest(func); }, *bucket, options);
}

void KernelCompiler::applyTunedEntry(llvm::function_ref<std::string()> digest,
                                     ShapeBucket bucket, KernelOptions &options) {
  bool explain = getenv("LINREC_EXPLAIN") != nullptr;
  std::shared_ptr<const TuningDatabase> database;
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!tuningLoaded) {
      tuningLoaded = true;
      if (!tuningPath.empty()) {
        auto loaded = TuningDatabase::load(tuningPath);
        if (loaded)
          tuning = std::make_shared<TuningDatabase>(std::move(*loaded));
        else if (explain)
          llvm::errs() << "linrec: not using tuned schedules: "
                       << llvm::toString(loaded.takeError()) << "\n";
        else
          llvm::consumeError(loaded.takeError());
      }
    }
    database = tuning;
    path = tuningPath;
  }
  // No database, or an empty one: nothing to key (the digest costs a print of the kernel).
  if (!database || database->entries().empty())
    return;
  TuningKey key{digest(), targetName(options.target).str(), tuningDevice(options),
                LINREC_VERSION};
  const TuningEntry *entry = database->nearest(key, bucket);
  if (!entry) {
    if (explain)
      llvm::errs() << "linrec: no tuned schedule in " << path << " for kernel "
                   << key.kernel.substr(0, 12) << " on " << key.device << "\n";
    return;
  }
  TunedChoice choice;
  bool gpu = usesGpuSchedule(options.target);
  KernelOptions tuned;
  tuned.target = options.target;
  if (llvm::Error e = tuned.parseSchedule(entry->schedule)) {
    if (explain)
      llvm::errs() << "linrec: the tuned schedule '" << entry->schedule << "' in " << path
                   << " does not parse: " << llvm::toString(std::move(e)) << "\n";
    else
      llvm::consumeError(std::move(e));
    return;
  }
  auto take = [&](auto &option, const auto &tunedOption) {
    takeTuned(option, tunedOption, choice);
  };
  if (gpu)
    forEachTunableGpuOption(options.gpu, tuned.gpu, take);
  else
    forEachTunableCpuOption(options.cpu, tuned.cpu, take);
  if (explain) {
    llvm::errs() << "linrec: tuned schedule from " << path << " for "
                 << (entry->description.empty() ? key.kernel.substr(0, 12) : entry->description)
                 << " (rows " << bucket.rows << ", tokens " << bucket.tokens
                 << "; tuned at rows " << entry->bucket.rows << ", tokens "
                 << entry->bucket.tokens << "): " << llvm::join(choice.taken, " ");
    if (!choice.explicitlyGiven.empty())
      llvm::errs() << "; explicit options win: " << llvm::join(choice.explicitlyGiven, ", ");
    llvm::errs() << "\n";
  }
}

/// The longest sequences (tokens each) a decode or short-prefill step on state pools runs with
/// the token scan by default: the chunked kernels pad each sequence to a chunk and transform
/// it (the delta rule's triangular solve), which costs 5.7× the scan at 8 tokens and 21× at
/// one (Gated DeltaNet, d = 128; linrec-tune), and 1.4× less at 64.
constexpr int64_t kLongestScannedStep = 32;

/// A step on state pools (serving) of short sequences runs the token scan unless the caller or
/// the tuning database chose the algorithm (LINREC_EXPLAIN=1 says so).
static void scanServedSteps(Operation *op, KernelOptions &options) {
  auto rec = dyn_cast<RecurrenceOp>(op);
  if (!rec || !rec.getStateIndices() || options.target == Target::CUDA)
    return;
  bool gpu = usesGpuSchedule(options.target);
  if (gpu ? options.gpu.sequential.hasValue() : options.cpu.sequential.hasValue())
    return;
  std::optional<ShapeBucket> bucket = kernelShapeBucket(op);
  if (!bucket || bucket->tokens > kLongestScannedStep)
    return;
  if (gpu)
    options.gpu.sequential = true;
  else
    options.cpu.sequential = true;
  if (getenv("LINREC_EXPLAIN"))
    llvm::errs() << "linrec: a step on state pools of sequences of at most "
                 << kLongestScannedStep
                 << " tokens runs the token scan (sequential=false asks for the chunked "
                    "kernel)\n";
}

/// The pipeline that compiles a kernel source for `options.target` (Pipelines.h).
static void buildKernelSourcePipeline(OpPassManager &pm, const KernelOptions &options) {
  switch (options.target) {
  case Target::GPUScheduleOnCPU:
    return buildGpuScheduleOnCpuPipeline(pm, options.gpu);
  case Target::CUDA:
    return buildLinrecToCudaPipeline(pm, options.gpu);
  case Target::CPU:
  case Target::Reference:
    return buildLinrecToCpuPipeline(pm, options.cpu);
  }
}

Expected<KernelLayout> lowerKernelSource(ModuleOp module, const KernelOptions &options) {
  if (options.target == Target::Reference)
    return runtimeError("the reference target has no kernels");
  // The pipeline's diagnostics become the error's message (they went to stderr, and the
  // error only said that it failed).
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  buildKernelSourcePipeline(pm, options);
  if (failed(pm.run(module)))
    return runtimeError(llvm::Twine("compiling the op for target '") +
                        targetName(options.target) + "' failed" +
                        (diagnostics.empty() ? "" : ": " + diagnostics));
  // What the lowering decided, recorded on the kernel function (now an llvm.func).
  Operation *kernel = SymbolTable::lookupSymbolIn(module, kKernelPrefix.str() + "0");
  if (!kernel)
    return runtimeError("internal error: the pipeline left no kernel function");
  KernelLayout layout;
  // (A window attention has no algorithm to choose; it reports the scan.)
  if (auto algorithm = kernel->getAttrOfType<AlgorithmAttr>(kAlgorithmAttr))
    layout.algorithm = algorithm.getValue();
  if (auto tiles = kernel->getAttrOfType<IntegerAttr>(kValueTilesAttr))
    layout.valueTiles = tiles.getInt();
  if (auto group = kernel->getAttrOfType<IntegerAttr>(kHeadsPerItemAttr))
    layout.headsPerItem = group.getInt();
  if (auto block = kernel->getAttrOfType<IntegerAttr>(kTokenBlockAttr))
    layout.tokenBlock = block.getInt();
  if (auto checks = kernel->getAttrOfType<DenseI32ArrayAttr>(kValueChecksAttr))
    for (int32_t check : checks.asArrayRef())
      layout.valueChecks.push_back(ValueCheck(check));
  return layout;
}

bool hasTransposedReads(Operation *root) {
  bool found = false;
  root->walk([&](ReadOp read) { found |= read.getTransposed(); });
  return found;
}

Expected<std::shared_ptr<const Kernel>> KernelCompiler::compile(Operation *operation,
                                                                const KernelOptions &options) {
  if (!isa<RecurrenceOp, WindowAttentionOp>(operation))
    return runtimeError("the kernel compiler takes a linrec.recurrence (run linrec-normalize on "
                        "named ops first) or a linrec.window_attention");
  // A GPU kernel reads along the key axis only, and a transposed copy of a state would be
  // one more operand of the kernel: the function is rewritten first (runFunction does).
  if (options.target != Target::CPU && options.target != Target::Reference &&
      hasTransposedReads(operation))
    return runtimeError("a recurrence reads its state transposed, which the GPU kernels do "
                        "not: run linrec-transpose-reads on its function first");
  KernelOptions resolved = options;
  if (options.target != Target::Reference)
    applyTunedSchedule(operation, resolved);
  scanServedSteps(operation, resolved);
  // Heads per work item from the op's static B and H, before the kernel source makes them
  // dynamic (one kernel then serves every shape; another B may pick another grouping).
  // (Value tiles, asked for when B·H is small, take the place of head groups: the kernel may
  // use fewer tiles than asked, so grouping heads on top could leave threads idle.)
  if (options.target == Target::CPU && resolved.cpu.headsPerItem == 0) {
    auto rec = dyn_cast<RecurrenceOp>(operation);
    resolved.cpu.headsPerItem = rec && resolved.cpu.valueTiles <= 1
                                    ? autoHeadsPerItem(rec, /*valueTiles=*/1, options.cpu.threads)
                                    : 1;
  }
  // The threads only choose the heads per work item, now chosen: kernels that differ in
  // nothing else are one kernel (and one cache entry).
  if (options.target == Target::CPU)
    resolved.cpu.threads = 0;
  // The checked mode checks inputs inside the CPU kernels, as they load them.
  if (options.target == Target::CPU)
    resolved.cpu.valueChecks = options.checkInputValues;
  if (options.target == Target::CUDA && resolved.gpu.chip.empty()) {
    // The device's architecture.
    auto driver = CudaDriver::get();
    if (!driver)
      return driver.takeError();
    resolved.gpu.chip = driver->devices().front().chip();
  }
  return compileResolved(operation, resolved);
}

/// Keeps the object code the JIT wrote to `objectFile` in the disk cache. A failure costs
/// the next process a compile, not this one its kernel: LINREC_EXPLAIN=1 says why.
static void storeOnDisk(const KernelDiskCache &disk, llvm::StringRef key,
                        const KernelLayout &layout, llvm::StringRef objectFile) {
  llvm::Error error = llvm::Error::success();
  if (auto object = llvm::MemoryBuffer::getFile(objectFile, /*IsText=*/false,
                                                /*RequiresNullTerminator=*/false))
    error = disk.store(key, layout, (*object)->getBuffer());
  else
    error = runtimeError("the JIT wrote no object file to " + objectFile);
  if (error && getenv("LINREC_EXPLAIN"))
    llvm::errs() << "linrec: the kernel disk cache keeps nothing: "
                 << llvm::toString(std::move(error)) << "\n";
  else
    llvm::consumeError(std::move(error));
}

Expected<std::shared_ptr<const Kernel>>
KernelCompiler::compileResolved(Operation *operation, const KernelOptions &options) {
  OwningOpRef<ModuleOp> source = buildKernelSource(operation, options);
  if (failed(verify(*source)))
    return runtimeError("the op does not verify with dynamic B, T and H");
  std::string key;
  llvm::raw_string_ostream os(key);
  source->print(os);
  // The target and every option of its pipeline, as a comment: the key still parses.
  key += "// " + options.str() + "\n";

  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end())
    return it->second;

  auto start = std::chrono::steady_clock::now();
  // Re-parse the key in the compiler's own context: kernels never share IR with callers.
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(key, context.get());
  if (!module)
    return runtimeError("internal error: the kernel source does not parse");
  Operation *sourceOp =
      &module->lookupSymbol<func::FuncOp>("source").getBody().front().front();
  auto rec = dyn_cast<RecurrenceOp>(sourceOp);

  std::shared_ptr<Kernel> kernel(new Kernel());
  if (rec) {
    kernel->numInputs = rec.getInputs().size();
    kernel->numParams = rec.getParams().size();
    kernel->numInits = rec.getInits().size();
    kernel->numOutputs = rec.getNumOutputs();
    kernel->varlen = static_cast<bool>(rec.getCuSeqlens());
    kernel->statePools = static_cast<bool>(rec.getStateIndices());
  } else { // window attention: q, k, v in; o (and the denominator) out, all [B, T, H, ...]
    kernel->numInputs = sourceOp->getNumOperands();
    kernel->numOutputs = sourceOp->getNumResults();
  }
  auto specOf = [](Type type) -> Expected<Kernel::ArgSpec> {
    auto tensor = cast<RankedTensorType>(type);
    std::optional<DType> dtype = elementDType(tensor.getElementType());
    if (!dtype)
    {
      std::string name;
      llvm::raw_string_ostream typeName(name);
      typeName << tensor.getElementType();
      return runtimeError("the CPU runtime takes f16, bf16, f32, f64 and i32 tensors, not " +
                          llvm::Twine(name));
    }
    std::vector<int64_t> shape;
    for (int64_t d : tensor.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return Kernel::ArgSpec{*dtype, shape};
  };
  for (Type t : sourceOp->getOperandTypes()) {
    auto spec = specOf(t);
    if (!spec)
      return spec.takeError();
    kernel->operandSpecs.push_back(*spec);
  }
  for (Type t : sourceOp->getResultTypes()) {
    auto spec = specOf(t);
    if (!spec)
      return spec.takeError();
    kernel->resultSpecs.push_back(*spec);
  }

  kernel->target_ = options.target;
  auto setLayout = [&](const KernelLayout &layout) {
    kernel->algorithm_ = layout.algorithm;
    kernel->valueTiles_ = layout.valueTiles;
    kernel->headsPerItem_ = layout.headsPerItem;
    kernel->tokenBlock_ = layout.tokenBlock;
    kernel->valueChecks_ = layout.valueChecks;
  };
  // Host code (CPU kernels, the GPU schedule on the CPU) is kept across processes; the key
  // adds what else makes the code valid here (versions, the host CPU).
  const std::string entryName = "_mlir_ciface_" + kKernelPrefix.str() + "0";
  bool diskCached = disk->enabled() && options.target != Target::CUDA;
  std::string diskKey = key + "// " + hostCodeIdentity() + "\n";
  if (diskCached)
    if (std::unique_ptr<CachedKernelCode> code = disk->load(diskKey, "_mlir_" + entryName)) {
      setLayout(code->layout);
      kernel->entry = code->entry;
      kernel->cachedCode = std::move(code);
      kernel->compileSeconds_ =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (getenv("LINREC_COMPILE_TIMING"))
        llvm::errs() << "linrec: loaded from the disk cache in " << kernel->compileSeconds_ * 1e3
                     << " ms\n";
      cache.emplace(key, kernel);
      return std::shared_ptr<const Kernel>(kernel);
    }

  Expected<KernelLayout> layout = lowerKernelSource(*module, options);
  if (!layout)
    return layout.takeError();
  setLayout(*layout);

  double mlirSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Where the JIT writes the object code the disk cache keeps (none: it keeps nothing).
  llvm::SmallString<128> objectFile;
  if (diskCached && llvm::sys::fs::createTemporaryFile("linrec-kernel", "o", objectFile))
    objectFile.clear();
  auto engine = createJitEngine(*module, /*openMP=*/false,
                                /*gpuLaunches=*/options.target == Target::CUDA, objectFile);
  if (!engine)
    return engine.takeError();
  auto entry = (*engine)->lookupPacked(entryName);
  if (!entry)
    return entry.takeError();
  kernel->entry = *entry;
  kernel->engine = std::move(*engine);
  if (!objectFile.empty()) {
    storeOnDisk(*disk, diskKey, *layout, objectFile);
    llvm::sys::fs::remove(objectFile);
  }
  kernel->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // LINREC_COMPILE_TIMING=1 splits the compile time: MLIR passes, then LLVM (the IR optimizer's
  // share printed by the transformer above; the rest is code generation).
  if (getenv("LINREC_COMPILE_TIMING"))
    llvm::errs() << "linrec: MLIR passes " << mlirSeconds * 1e3 << " ms, LLVM "
                 << (kernel->compileSeconds_ - mlirSeconds) * 1e3 << " ms\n";
  cache.emplace(key, kernel);
  return std::shared_ptr<const Kernel>(kernel);
}

} // namespace linrec
