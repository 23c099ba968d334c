//===- JitEngine.cpp - LLVM's JIT for host code ---------------------------===//

#include "linrec/Runtime/JitEngine.h"
#include "linrec/Runtime/GpuLaunchRuntime.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"

#include <atomic>
#include <chrono>
#include <dlfcn.h>

// From the OpenMP runtime this library links (libomp).
extern "C" int omp_get_max_threads();

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

/// The file of the libomp this process loaded with linrec, found from one of its functions:
/// wherever the library lies (LLVM's directory, or next to the Python extension in a wheel),
/// the JIT'd code calls the same OpenMP runtime as Kernel::run, in one thread pool. It cannot
/// come from the process's global symbols: Python loads extensions (and what they need)
/// with RTLD_LOCAL.
static const std::string &openMPRuntimePath() {
  static const std::string path = [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&omp_get_max_threads), &info) && info.dli_fname)
      return std::string(info.dli_fname);
    return std::string("libomp.so.5");
  }();
  return path;
}

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
///   heads grouped per work item it took 220 of 670 ms of gla's compile;
/// - partial and run-time unrolling: the x86 cost model lets the IR optimizer unroll loops with
///   run-time trip counts by up to 16 (a quarter of its time on kda); without them linear
///   compiles in 135 ms instead of 223, kda in 305 instead of 375, and no kernel ran slower
///   (2-thread linear and simple_gla 6-8% faster). Full unrolling of small constant
///   loops stays: without it kernels ran 5-14% slower
///   (bench/results/2026-11-29-cpu-design-notes.md has the measurements).
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

Expected<std::unique_ptr<ExecutionEngine>> createJitEngine(ModuleOp module, bool openMP,
                                                           bool gpuLaunches,
                                                           llvm::StringRef objectFile) {
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
  // MLIR turns both JIT listeners on by default; the perf one writes a jitdump under
  // /tmp/.debug/jit for every engine (hundreds of MB over the tests). LINREC_PERF_JIT=1 turns
  // it back on for profiling with perf (docs/CPU-codegen.md).
  engineOptions.enablePerfNotificationListener = getenv("LINREC_PERF_JIT") != nullptr;
  engineOptions.enableGDBNotificationListener = false;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  // LINREC_DUMP_OBJECT=PATH keeps the JIT's object file for profiling (docs/CPU-codegen.md).
  const char *objectPath = getenv("LINREC_DUMP_OBJECT");
  engineOptions.enableObjectDump = objectPath != nullptr || !objectFile.empty();
  // OpenMP-parallel code calls into the runtime LLVM ships (libomp).
  SmallVector<StringRef> libraries;
  if (openMP)
    libraries.push_back(openMPRuntimePath());
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
  if (!objectFile.empty())
    (*engine)->dumpToObjectFile(objectFile);
  if (objectPath) {
    // The object's functions, with their addresses in this process, map profiler samples
    // onto `objdump -d` of the object (this LLVM has no perf JIT listener).
    static std::atomic<int> objects{0};
    std::string path = std::string(objectPath) + "." + std::to_string(objects++);
    (*engine)->dumpToObjectFile(path);
    for (auto function : module.getOps<LLVM::LLVMFuncOp>()) {
      if (function.isExternal())
        continue;
      if (auto address = (*engine)->lookup(function.getName()))
        llvm::errs() << "linrec: " << path << ": " << function.getName() << " at " << *address
                     << "\n";
      else
        consumeError(address.takeError());
    }
  }
  // GPU modules load in those constructors: report a failure now, not at the first launch.
  if (gpuLaunches)
    if (Error e = takeGpuLaunchError())
      return std::move(e);
  return std::move(*engine);
}

} // namespace linrec
