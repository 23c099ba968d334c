//===- CpuRuntime.cpp - JIT-compiled CPU kernels of recurrences -----------===//

#include "linrec/Runtime/CpuRuntime.h"
#include "linrec/Runtime/CompiledLayer.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Conversion/Passes.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Runtime/GpuLaunchRuntime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/TargetSelect.h"

#include <atomic>
#include <chrono>
#include <thread>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

static Error runtimeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

std::optional<DType> elementDType(Type type) {
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isInteger(32))
    return DType::I32;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// CpuKernel
//===----------------------------------------------------------------------===//

CpuKernel::~CpuKernel() = default;

Error CpuKernel::check(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                       int64_t &numWork) const {
  if (operands.size() != operandSpecs.size() || results.size() != resultSpecs.size())
    return runtimeError("the kernel takes " + llvm::Twine(operandSpecs.size()) +
                        " operands and " + llvm::Twine(resultSpecs.size()) + " results, got " +
                        llvm::Twine(operands.size()) + " and " + llvm::Twine(results.size()));
  auto checkOne = [](const BufferView &buffer, const ArgSpec &spec,
                     const llvm::Twine &what) -> Error {
    if (buffer.dtype != spec.dtype)
      return runtimeError(what + " must be " + dtypeName(spec.dtype) + ", got " +
                          dtypeName(buffer.dtype));
    bool ok = buffer.shape.size() == spec.shape.size();
    for (size_t d = 0; ok && d < spec.shape.size(); ++d)
      ok = buffer.shape[d] >= 0 && (spec.shape[d] < 0 || spec.shape[d] == buffer.shape[d]);
    if (!ok)
      return runtimeError(what + " has shape " + shapeString(buffer.shape) + " but the kernel takes " +
                          shapeString(spec.shape));
    if (!buffer.data && Array::numElementsOf(buffer.shape) > 0)
      return runtimeError(what + " is a null buffer");
    return Error::success();
  };
  for (size_t i = 0; i < operands.size(); ++i)
    if (Error e = checkOne(operands[i], operandSpecs[i], "operand #" + llvm::Twine(i)))
      return e;
  for (size_t i = 0; i < results.size(); ++i)
    if (Error e = checkOne(results[i], resultSpecs[i], "result #" + llvm::Twine(i)))
      return e;

  // B, T, H from input #0; every other buffer must agree (the kernel trusts them).
  const std::vector<int64_t> &first = operands[0].shape;
  int64_t batch = first[0], tokens = first[1], heads = first[2], rows = batch;
  auto expectDims = [&](const BufferView &buffer, std::vector<int64_t> dims,
                        const llvm::Twine &what) -> Error {
    for (size_t d = 0; d < dims.size(); ++d)
      if (buffer.shape[d] != dims[d])
        return runtimeError(what + " has shape " + shapeString(buffer.shape) +
                            " but its leading dims must be " + shapeString(dims));
    return Error::success();
  };
  for (unsigned i = 1; i < numInputs; ++i)
    if (Error e = expectDims(operands[i], {batch, tokens, heads}, "input #" + llvm::Twine(i)))
      return e;
  for (unsigned i = 0; i < numParams; ++i)
    if (Error e = expectDims(operands[numInputs + i], {heads}, "param #" + llvm::Twine(i)))
      return e;
  if (varlen) {
    const BufferView &cu = operands.back();
    if (batch != 1)
      return runtimeError("with cu_seqlens the inputs are packed as [1, total_T, H, D], got B = " +
                          llvm::Twine(batch));
    const auto *offsets = static_cast<const int32_t *>(cu.data);
    int64_t n = cu.shape[0];
    if (n < 1 || offsets[0] != 0 || offsets[n - 1] != tokens)
      return runtimeError("cu_seqlens must start at 0 and end at total_T = " + llvm::Twine(tokens));
    for (int64_t i = 1; i < n; ++i)
      if (offsets[i] < offsets[i - 1])
        return runtimeError("cu_seqlens must not decrease (entry " + llvm::Twine(i) + ")");
    rows = n - 1;
  }
  for (unsigned i = 0; i < numInits; ++i)
    if (Error e = expectDims(operands[numInputs + numParams + i], {rows, heads},
                             "initial state #" + llvm::Twine(i)))
      return e;
  for (unsigned i = 0; i < results.size(); ++i) {
    bool isOutput = i < numOutputs;
    if (Error e = expectDims(results[i],
                             isOutput ? std::vector<int64_t>{batch, tokens, heads}
                                      : std::vector<int64_t>{rows, heads},
                             "result #" + llvm::Twine(i)))
      return e;
  }
  numWork = rows * ((heads + headsPerItem_ - 1) / headsPerItem_) * valueTiles_;
  if (tokenBlock_ > 0)
    numWork *= (tokens + tokenBlock_ - 1) / tokenBlock_;
  return Error::success();
}

MemRefDescriptor::MemRefDescriptor(const BufferView &buffer) {
  size_t rank = buffer.shape.size();
  words.assign(3 + 2 * rank, 0);
  auto pointer = reinterpret_cast<int64_t>(buffer.data);
  words[0] = words[1] = pointer;
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    words[3 + d] = buffer.shape[d];
    words[3 + rank + d] = stride;
    stride *= buffer.shape[d];
  }
}

Error CpuKernel::run(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                     unsigned threads) const {
  int64_t numWork = 0;
  if (Error e = check(operands, results, numWork))
    return e;
  if (numWork == 0)
    return Error::success();
  if (cuda_)
    return runOnGpu(operands, results, numWork);

  std::vector<MemRefDescriptor> descriptors;
  for (const BufferView &b : operands)
    descriptors.emplace_back(b);
  for (const BufferView &b : results)
    descriptors.emplace_back(b);
  std::vector<void *> descriptorPointers;
  for (MemRefDescriptor &d : descriptors)
    descriptorPointers.push_back(d.words.data());

  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<int64_t>(threads, numWork));
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<void *> args;
    for (void *&p : descriptorPointers)
      args.push_back(&p);
    args.push_back(&begin);
    args.push_back(&end);
    entry(args.data());
  };
  if (threads == 1) {
    work(0, numWork);
    return Error::success();
  }
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    int64_t begin = numWork * t / threads, end = numWork * (t + 1) / threads;
    pool.emplace_back(work, begin, end);
  }
  for (std::thread &t : pool)
    t.join();
  return Error::success();
}

Error CpuKernel::runOnGpu(llvm::ArrayRef<BufferView> operands,
                          llvm::ArrayRef<BufferView> results, int64_t numWork) const {
  auto driver = CudaDriver::get();
  if (!driver)
    return driver.takeError();
  auto bytesOf = [](const BufferView &b) {
    return size_t(Array::numElementsOf(b.shape) * dtypeBytes(b.dtype));
  };
  // Device copies; the host code takes memref descriptors of device pointers.
  std::vector<CudaDriver::Buffer> device;
  std::vector<BufferView> views;
  auto addBuffer = [&](const BufferView &host, bool copyIn) -> Error {
    auto buffer = driver->allocate(bytesOf(host));
    if (!buffer)
      return buffer.takeError();
    if (copyIn)
      if (Error e = driver->copyToDevice(*buffer, host.data, bytesOf(host)))
        return e;
    BufferView view = host;
    view.data = reinterpret_cast<void *>(buffer->address());
    views.push_back(view);
    device.push_back(std::move(*buffer));
    return Error::success();
  };
  for (const BufferView &b : operands)
    if (Error e = addBuffer(b, /*copyIn=*/true))
      return e;
  for (const BufferView &b : results)
    if (Error e = addBuffer(b, /*copyIn=*/false))
      return e;
  std::vector<MemRefDescriptor> descriptors(views.begin(), views.end());
  std::vector<void *> descriptorPointers;
  for (MemRefDescriptor &d : descriptors)
    descriptorPointers.push_back(d.words.data());
  std::vector<void *> args;
  for (void *&p : descriptorPointers)
    args.push_back(&p);
  int64_t begin = 0, end = numWork;
  args.push_back(&begin);
  args.push_back(&end);
  entry(args.data()); // launches, then synchronizes its stream
  if (Error e = takeGpuLaunchError())
    return e;
  for (size_t i = 0; i < results.size(); ++i)
    if (Error e = driver->copyToHost(results[i].data, device[operands.size() + i],
                                     bytesOf(results[i])))
      return e;
  return Error::success();
}

//===----------------------------------------------------------------------===//
// CpuCompiler
//===----------------------------------------------------------------------===//

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// LLVM options CPU kernels compile with. Each bought nothing at run time and cost compile time
/// (measured on every family, d = 64 and 128, 1 and 2 threads):
/// - loop strength reduction (a code-generation pass) grows with the kernels' loop depth: with
///   heads grouped per work item it took 220 of 670 ms of gla's compile (session 6);
/// - partial and run-time unrolling: the x86 cost model lets the IR optimizer unroll loops with
///   run-time trip counts by up to 16 (a quarter of its time on kda); without them linear
///   compiles in 135 ms instead of 223, kda in 305 instead of 375, and no kernel ran slower
///   (2-thread linear and simple_gla 6-8% faster; session 7). Full unrolling of small constant
///   loops stays: without it kernels ran 5-14% slower (session 4).
static constexpr std::pair<const char *, const char *> kCpuCodeGenerationOptions[] = {
    {"disable-lsr", "true"},
    {"unroll-allow-partial", "false"},
    {"unroll-runtime", "false"},
};

CpuCodeGenerationScope::CpuCodeGenerationScope() : lock(mutex()) {
  initializeNativeTarget();
  // The options are LLVM's, process-wide: set as if on the command line while the scope holds
  // its lock, and reset after, so GPU code (NVPTX) keeps LLVM's defaults. An option given on the
  // command line wins.
  auto &options = llvm::cl::getRegisteredOptions();
  for (auto [name, value] : kCpuCodeGenerationOptions) {
    auto it = options.find(name);
    if (it == options.end() || it->second->getNumOccurrences() != 0)
      continue;
    if (!it->second->addOccurrence(0, name, value))
      overridden.push_back(it->second);
  }
}

CpuCodeGenerationScope::~CpuCodeGenerationScope() {
  for (llvm::cl::Option *option : overridden)
    option->reset();
}

std::mutex &CpuCodeGenerationScope::mutex() {
  static std::mutex codeGeneration;
  return codeGeneration;
}

Expected<std::unique_ptr<ExecutionEngine>> createCpuEngine(ModuleOp module, bool openMP,
                                                           bool gpuLaunches) {
  // The JIT generates the module's code in create() and initialize() below.
  CpuCodeGenerationScope scope;
  // The translation to LLVM IR needs these interfaces in the module's own context.
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  registerOpenMPDialectTranslation(*module.getContext());
  auto machineBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!machineBuilder)
    return machineBuilder.takeError();
  machineBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto machine = machineBuilder->createTargetMachine();
  if (!machine)
    return machine.takeError();
  // The host target machine, so that the optimizer vectorizes for it.
  auto optimize = makeOptimizingTransformer(3, 0, machine->get());
  // (engineOptions holds a reference: the transformer lives until the code is generated, by
  // the lookup below.)
  std::function<llvm::Error(llvm::Module *)> transformer =
      [optimize](llvm::Module *module) -> llvm::Error {
    // LINREC_COMPILE_TIMING=1: the LLVM IR optimizer's share of the compile time (the rest
    // of LLVM's is code generation).
    if (!getenv("LINREC_COMPILE_TIMING"))
      return optimize(module);
    auto start = std::chrono::steady_clock::now();
    llvm::Error error = optimize(module);
    llvm::errs() << "linrec: LLVM IR optimizer "
                 << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start)
                        .count()
                 << " ms\n";
    return error;
  };
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  // LINREC_DUMP_OBJECT=PATH keeps the JIT's object file for profiling (docs/CPU-codegen.md).
  const char *objectPath = getenv("LINREC_DUMP_OBJECT");
  engineOptions.enableObjectDump = objectPath != nullptr;
  // OpenMP-parallel code calls into the runtime LLVM ships (libomp).
  SmallVector<StringRef> libraries;
  if (openMP)
    libraries.push_back(LINREC_OPENMP_LIBRARY);
  engineOptions.sharedLibPaths = libraries;
  auto engine = ExecutionEngine::create(module, engineOptions, std::move(*machine));
  if (!engine)
    return engine.takeError();
  if (gpuLaunches)
    (*engine)->registerSymbols(gpuLaunchSymbols);
  (*engine)->initialize(); // global constructors: lookup alone does not run them
  // The JIT generates a module's code at the first lookup of one of its functions: do that
  // here, inside the code-generation scope.
  for (auto function : module.getOps<LLVM::LLVMFuncOp>())
    if (!function.isExternal()) {
      if (auto address = (*engine)->lookup(function.getName()); !address)
        return address.takeError();
      break;
    }
  if (objectPath) {
    static std::atomic<int> objects{0};
    (*engine)->dumpToObjectFile(std::string(objectPath) + "." + std::to_string(objects++));
  }
  // GPU modules load in those constructors: report a failure now, not at the first launch.
  if (gpuLaunches)
    if (Error e = takeGpuLaunchError())
      return std::move(e);
  return std::move(*engine);
}

CpuCompiler::CpuCompiler() {
  initializeNativeTarget();
  DialectRegistry registry;
  linrec::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
}

CpuCompiler::~CpuCompiler() = default;

size_t CpuCompiler::cacheSize() const {
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
OwningOpRef<ModuleOp> buildKernelSource(Operation *op, const CpuKernelOptions &options) {
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
  auto func = func::FuncOp::create(b, loc, "source", b.getFunctionType(argTypes, resultTypes));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  IRMapping mapping;
  for (auto [operand, arg] : llvm::zip(op->getOperands(), entry->getArguments()))
    mapping.map(operand, arg);
  Operation *copy = b.clone(*op, mapping);
  for (auto [result, type] : llvm::zip(copy->getResults(), resultTypes))
    result.setType(type);
  if (auto rec = dyn_cast<RecurrenceOp>(copy)) {
    rec.setChunkSizeAttr(b.getI64IntegerAttr(options.chunkSize));
    if (options.sequential)
      rec.setAlgorithmAttr(AlgorithmAttr::get(b.getContext(), Algorithm::Sequential));
    else if (options.chunkedProducts && RecurrenceAnalysis::analyze(rec).productChunkable)
      rec.setAlgorithmAttr(AlgorithmAttr::get(b.getContext(), Algorithm::ChunkedProduct));
  }
  func::ReturnOp::create(b, loc, copy->getResults());
  return module;
}

Expected<KernelLayout> lowerKernelSource(ModuleOp module, const CpuKernelOptions &options) {
  MLIRContext *context = module.getContext();
  auto sourceFunc = module.lookupSymbol<func::FuncOp>("source");
  if (!sourceFunc || sourceFunc.getBody().front().empty())
    return runtimeError("internal error: a kernel source holds func @source and its op");
  auto rec = dyn_cast<RecurrenceOp>(&sourceFunc.getBody().front().front());
  KernelLayout layout;
  // Classify first so that the kernel reports the algorithm it really runs.
  PassManager classify(context, ModuleOp::getOperationName());
  classify.addPass(createLinrecClassify());
  if (failed(classify.run(module)))
    return runtimeError("classifying the recurrence failed");
  // (A window attention has no algorithm to choose; it reports the scan.)
  layout.algorithm = rec ? rec.getAlgorithm().value_or(Algorithm::Sequential)
                         : Algorithm::Sequential;
  PassManager kernels(context, ModuleOp::getOperationName());
  GpuPipelineOptions gpu = options.gpu;
  gpu.chunkSize = options.chunkSize;
  if (options.gpuSchedule || options.cuda)
    buildGpuSchedulePipeline(kernels, gpu);
  else
    buildCpuKernelPipeline(kernels, options);
  if (failed(kernels.run(module)))
    return runtimeError(options.gpuSchedule || options.cuda
                            ? "lowering the op to a GPU schedule failed"
                            : "lowering the op to a CPU kernel failed");
  auto kernelFunc = module.lookupSymbol<func::FuncOp>(kKernelPrefix.str() + "0");
  if (auto tiles = kernelFunc->getAttrOfType<IntegerAttr>("linrec.value_tiles"))
    layout.valueTiles = tiles.getInt();
  if (auto group = kernelFunc->getAttrOfType<IntegerAttr>("linrec.heads_per_item"))
    layout.headsPerItem = group.getInt();
  if (auto block = kernelFunc->getAttrOfType<IntegerAttr>("linrec.token_block"))
    layout.tokenBlock = block.getInt();
  sourceFunc.erase();
  PassManager toLLVM(context, ModuleOp::getOperationName());
  if (options.cuda) {
    buildGpuScheduleToNvvmPipeline(toLLVM, gpu); // PTX in a gpu.binary
    buildCpuToLLVMPipeline(toLLVM, /*gpuLaunches=*/true);
  } else if (options.gpuSchedule) {
    buildGpuScheduleToCpuPipeline(toLLVM);
  } else {
    buildCpuToLLVMPipeline(toLLVM);
  }
  if (failed(toLLVM.run(module)))
    return runtimeError("lowering the kernel to LLVM failed");
  return layout;
}

Expected<std::shared_ptr<const CpuKernel>> CpuCompiler::compile(Operation *operation,
                                                                const CpuKernelOptions &options) {
  if (!isa<RecurrenceOp, WindowAttentionOp>(operation))
    return runtimeError("the CPU compiler takes a linrec.recurrence (run linrec-normalize on "
                        "named ops first) or a linrec.window_attention");
  CpuKernelOptions resolved = options;
  // Heads per work item from the op's static B and H, before the kernel source makes them
  // dynamic (one kernel then serves every shape; another B may pick another grouping).
  // (Value tiles, asked for when B·H is small, take the place of head groups: the kernel may
  // use fewer tiles than asked, so grouping heads on top could leave threads idle.)
  if (resolved.headsPerItem == 0) {
    auto rec = dyn_cast<RecurrenceOp>(operation);
    resolved.headsPerItem = rec && !options.cuda && !options.gpuSchedule && options.valueTiles <= 1
                                ? autoHeadsPerItem(rec, /*valueTiles=*/1, options.threads)
                                : 1;
  }
  if (options.cuda && resolved.gpu.chip.empty()) {
    // The device's architecture; sm_90 gets the arch-specific sm_90a features.
    auto driver = CudaDriver::get();
    if (!driver)
      return driver.takeError();
    const CudaDeviceInfo &device = driver->devices().front();
    resolved.gpu.chip = "sm_" + std::to_string(device.computeMajor) +
                       std::to_string(device.computeMinor) +
                       (device.computeMajor == 9 ? "a" : "");
  }
  return compileResolved(operation, resolved);
}

Expected<std::shared_ptr<const CpuKernel>>
CpuCompiler::compileResolved(Operation *operation, const CpuKernelOptions &options) {
  OwningOpRef<ModuleOp> source = buildKernelSource(operation, options);
  if (failed(verify(*source)))
    return runtimeError("the op does not verify with dynamic B, T and H");
  std::string key;
  llvm::raw_string_ostream os(key);
  source->print(os);
  std::string schedule = "// matmul tile " + std::to_string(options.matmulRows) + "x" +
                         std::to_string(options.matmulColumns) + ", value tiles " +
                         std::to_string(options.valueTiles) + ", heads per item " +
                         std::to_string(options.headsPerItem) +
                         (options.gpuSchedule || options.cuda
                              ? std::string(options.cuda ? ", CUDA " + options.gpu.chip
                                                         : ", GPU schedule") +
                                    " with value tile " + std::to_string(options.gpu.valueTile) +
                                    (options.gpu.twoPhase ? ", two-phase" : "") +
                                    (options.gpu.tensorCores ? ", tensor cores" : "")
                              : std::string()) +
                         "\n";
  key += schedule; // a comment: the key still parses

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

  std::shared_ptr<CpuKernel> kernel(new CpuKernel());
  if (rec) {
    kernel->numInputs = rec.getInputs().size();
    kernel->numParams = rec.getParams().size();
    kernel->numInits = rec.getInits().size();
    kernel->numOutputs = rec.getNumOutputs();
    kernel->varlen = static_cast<bool>(rec.getCuSeqlens());
  } else { // window attention: q, k, v in; o (and the denominator) out, all [B, T, H, ...]
    kernel->numInputs = sourceOp->getNumOperands();
    kernel->numOutputs = sourceOp->getNumResults();
  }
  auto specOf = [](Type type) -> Expected<CpuKernel::ArgSpec> {
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
    return CpuKernel::ArgSpec{*dtype, shape};
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

  Expected<KernelLayout> layout = lowerKernelSource(*module, options);
  if (!layout)
    return layout.takeError();
  kernel->algorithm_ = layout->algorithm;
  kernel->valueTiles_ = layout->valueTiles;
  kernel->headsPerItem_ = layout->headsPerItem;
  kernel->tokenBlock_ = layout->tokenBlock;

  double mlirSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto engine = createCpuEngine(*module, /*openMP=*/false, /*gpuLaunches=*/options.cuda);
  if (!engine)
    return engine.takeError();
  kernel->cuda_ = options.cuda;
  auto entry = (*engine)->lookupPacked("_mlir_ciface_" + kKernelPrefix.str() + "0");
  if (!entry)
    return entry.takeError();
  kernel->entry = *entry;
  if (getenv("LINREC_DUMP_OBJECT")) {
    auto address = (*engine)->lookup(kKernelPrefix.str() + "0");
    if (address)
      llvm::errs() << "linrec: " << kKernelPrefix << "0 at " << *address << "\n";
    else
      consumeError(address.takeError());
  }
  kernel->engine = std::move(*engine);
  kernel->compileSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // LINREC_COMPILE_TIMING=1 splits the compile time: MLIR passes, then LLVM (the IR optimizer's
  // share printed by the transformer above; the rest is code generation).
  if (getenv("LINREC_COMPILE_TIMING"))
    llvm::errs() << "linrec: MLIR passes " << mlirSeconds * 1e3 << " ms, LLVM "
                 << (kernel->compileSeconds_ - mlirSeconds) * 1e3 << " ms\n";
  cache.emplace(key, kernel);
  return std::shared_ptr<const CpuKernel>(kernel);
}

//===----------------------------------------------------------------------===//
// Arrays in, arrays out
//===----------------------------------------------------------------------===//

namespace {
/// A typed host copy of an Array.
struct TypedBuffer {
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<int32_t> i32;
  std::vector<uint16_t> half; // f16 or bf16 bits
  BufferView view;

  TypedBuffer(DType dtype, std::vector<int64_t> shape) {
    view.dtype = dtype;
    view.shape = std::move(shape);
    size_t n = static_cast<size_t>(Array::numElementsOf(view.shape));
    switch (dtype) {
    case DType::F64:
      f64.assign(n, std::numeric_limits<double>::quiet_NaN());
      view.data = f64.data();
      break;
    case DType::I32:
    case DType::I64:
      i32.assign(n, 0);
      view.data = i32.data();
      break;
    case DType::F16:
    case DType::BF16:
      half.assign(n, dtype == DType::F16 ? 0x7e00 : 0x7fc0); // NaN
      view.data = half.data();
      break;
    case DType::F32:
      // Results are poisoned: a value the kernel does not write shows up as NaN.
      f32.assign(n, std::numeric_limits<float>::quiet_NaN());
      view.data = f32.data();
    }
  }
  void copyFrom(const Array &a) {
    for (size_t i = 0; i < a.data.size(); ++i) {
      double x = a.data[i];
      switch (view.dtype) {
      case DType::F32:
        f32[i] = static_cast<float>(x);
        break;
      case DType::F64:
        f64[i] = x;
        break;
      case DType::F16:
        half[i] = doubleToHalf(x);
        break;
      case DType::BF16:
        half[i] = doubleToBf16(x);
        break;
      default:
        i32[i] = static_cast<int32_t>(x);
      }
    }
  }
  Array toArray() const {
    Array a(view.dtype, view.shape);
    for (size_t i = 0; i < a.data.size(); ++i) {
      switch (view.dtype) {
      case DType::F32:
        a.data[i] = f32[i];
        break;
      case DType::F64:
        a.data[i] = f64[i];
        break;
      case DType::F16:
        a.data[i] = halfToDouble(half[i]);
        break;
      case DType::BF16:
        a.data[i] = bf16ToDouble(half[i]);
        break;
      default:
        a.data[i] = i32[i];
      }
    }
    return a;
  }
};
} // namespace

std::vector<int64_t> kernelResultShape(llvm::ArrayRef<int64_t> shape, bool isOutput,
                                       llvm::ArrayRef<int64_t> firstOperand, int64_t rows) {
  std::vector<int64_t> result(shape.begin(), shape.end());
  if (isOutput) {
    for (size_t d = 0; d < 3 && d < result.size(); ++d)
      result[d] = firstOperand[d];
  } else {
    result[0] = rows;
    result[1] = firstOperand[2];
  }
  return result;
}

Expected<std::optional<std::vector<Array>>>
runCompiledFunctionOnCpu(CpuCompiler &compiler, ModuleOp module, StringRef funcName,
                         llvm::ArrayRef<Array> args, const CpuKernelOptions &options) {
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return runtimeError("no function @" + funcName + " with a body");
  auto staticTensor = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return tensor && tensor.hasStaticShape() && elementDType(tensor.getElementType());
  };
  if (!llvm::all_of(func.getArgumentTypes(), staticTensor) ||
      !llvm::all_of(func.getResultTypes(), staticTensor) || args.size() != func.getNumArguments())
    return std::optional<std::vector<Array>>();
  Expected<CpuExecutable> executable = compileForCpu(compiler, module, funcName, options);
  if (!executable) {
    llvm::consumeError(executable.takeError());
    return std::optional<std::vector<Array>>(); // op by op, which reports real errors
  }
  std::vector<std::unique_ptr<TypedBuffer>> in, out;
  std::vector<BufferView> inViews, outViews;
  for (auto [array, type] : llvm::zip(args, func.getArgumentTypes())) {
    auto tensor = cast<RankedTensorType>(type);
    if (array.shape != std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end()))
      return std::optional<std::vector<Array>>(); // the op-by-op path says what is wrong
    in.push_back(std::make_unique<TypedBuffer>(*elementDType(tensor.getElementType()), array.shape));
    in.back()->copyFrom(array);
    inViews.push_back(in.back()->view);
  }
  for (Type type : func.getResultTypes()) {
    auto tensor = cast<RankedTensorType>(type);
    out.push_back(std::make_unique<TypedBuffer>(
        *elementDType(tensor.getElementType()),
        std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end())));
    outViews.push_back(out.back()->view);
  }
  if (Error e = executable->run(inViews, outViews, options.threads))
    return std::move(e);
  std::vector<Array> results;
  for (auto &b : out)
    results.push_back(b->toArray());
  return std::optional<std::vector<Array>>(std::move(results));
}

Expected<std::vector<Array>> runOnCpu(CpuCompiler &compiler, Operation *op,
                                      llvm::ArrayRef<Array> operands,
                                      const CpuKernelOptions &options) {
  auto kernel = compiler.compile(op, options);
  if (!kernel)
    return kernel.takeError();
  if (operands.size() != op->getNumOperands())
    return runtimeError(op->getName().getStringRef() + " takes " +
                        llvm::Twine(op->getNumOperands()) + " operands, got " +
                        llvm::Twine(operands.size()));
  auto rec = dyn_cast<RecurrenceOp>(op);
  std::vector<std::unique_ptr<TypedBuffer>> in, out;
  for (auto [array, type] : llvm::zip(operands, op->getOperandTypes())) {
    std::optional<DType> dtype = elementDType(cast<RankedTensorType>(type).getElementType());
    in.push_back(std::make_unique<TypedBuffer>(*dtype, array.shape));
    in.back()->copyFrom(array);
  }
  // Result shapes: outputs [B, T, H, ...], final states [N, H, ...].
  const Array &first = operands.front();
  int64_t rows = rec && rec.getCuSeqlens() ? operands.back().numElements() - 1 : first.shape[0];
  unsigned numOutputs = rec ? rec.getNumOutputs() : op->getNumResults();
  for (auto [i, type] : llvm::enumerate(op->getResultTypes())) {
    auto tensor = cast<RankedTensorType>(type);
    out.push_back(std::make_unique<TypedBuffer>(
        *elementDType(tensor.getElementType()),
        kernelResultShape(tensor.getShape(), i < numOutputs, first.shape, rows)));
  }
  std::vector<BufferView> inViews, outViews;
  for (auto &b : in)
    inViews.push_back(b->view);
  for (auto &b : out)
    outViews.push_back(b->view);
  if (Error e = (*kernel)->run(inViews, outViews, options.threads))
    return std::move(e);
  std::vector<Array> results;
  for (auto &b : out)
    results.push_back(b->toArray());
  return results;
}

} // namespace linrec
