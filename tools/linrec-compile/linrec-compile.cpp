//===- linrec-compile.cpp - kernels compiled ahead of time ----------------===//
//
//   linrec-compile FILE.mlir -o DIR [--target=cpu|cuda] [--element-type=f32|bf16|f16]
//                  [--binary=cubin|ptx] [--name=NAME] [SCHEDULE FLAGS]
//
// The target defaults to cuda where a CUDA toolkit is found ($CUDA_HOME, $CUDA_PATH or
// /usr/local/cuda), else cpu; the first line of output says which. The schedule flags are the
// target pipeline's options (linrec-to-cpu, linrec-to-nvvm: --chunk-size, --chip,
// --value-tile, --two-phase, --tensor-cores, --fuse-windows, ...; --help lists them).
//
// Compiles every recurrence of FILE (named ops normalized, neighbours fused) into a shared
// library DIR/NAME[_i].so and a manifest DIR/NAME[_i].json. The library exports the kernel's C
// interface, `_mlir_ciface___linrec_kernel_0(operands..., results..., begin, end)`: memref
// descriptors of [B, T, H, D] buffers (B, T, H and N dynamic) and the work items [begin, end)
// (sequence x head x value tile; the manifest gives the value tiles). A CUDA library carries its
// cubin (assembled here by ptxas for --chip; or PTX with --binary=ptx, which the driver compiles),
// loads it through libcuda.so.1 when it is opened, and launches on device pointers; it
// needs neither LLVM nor MLIR at run time (linrecGpuTakeError reports launch failures).
// That is how a machine without the toolchain (a lent GPU) runs linrec kernels.
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/JitEngine.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Tools/ToolOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace linrec;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("linrec-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<module.mlir>"), cl::Required,
                                      cl::cat(toolCategory));
static cl::opt<std::string> outDir("o", cl::desc("output directory"), cl::Required,
                                   cl::cat(toolCategory));
static cl::opt<std::string> targetFlag("target",
                                       cl::desc("cpu | cuda (default: cuda where a CUDA "
                                                "toolkit is found, else cpu)"),
                                       cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> binary("binary",
                                   cl::desc("GPU code in the library: cubin (ptxas here, no JIT "
                                            "on the GPU's machine) or ptx (the driver compiles it "
                                            "when the library is opened)"),
                                   cl::init("cubin"), cl::cat(toolCategory));
static cl::opt<std::string> elementType("element-type",
                                        cl::desc("element type of the inputs and outputs "
                                                 "(f32, bf16, f16; states stay f32)"),
                                        cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> baseName("name", cl::desc("library name (default: FILE's stem)"),
                                     cl::init(""), cl::cat(toolCategory));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "linrec-compile: error: " << message << "\n";
  return 1;
}

/// The name a function argument or result carries (linrec.name), if `value` is one.
static std::string nameOf(Value value, func::FuncOp func, unsigned fallbackIndex,
                          StringRef fallback) {
  if (auto arg = dyn_cast<BlockArgument>(value))
    if (arg.getOwner() == &func.getBody().front())
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "linrec.name"))
        return name.str();
  for (Operation *user : value.getUsers())
    if (auto ret = dyn_cast<func::ReturnOp>(user))
      for (OpOperand &use : ret->getOpOperands())
        if (use.get() == value)
          if (auto name =
                  func.getResultAttrOfType<StringAttr>(use.getOperandNumber(), "linrec.name"))
            return name.str();
  return (fallback + llvm::Twine(fallbackIndex)).str();
}

/// Gives the kernel source's inputs and outputs `element` (the states stay f32).
static LogicalResult retypeIO(ModuleOp source, Type element) {
  auto func = source.lookupSymbol<func::FuncOp>("source");
  auto rec = cast<RecurrenceOp>(func.getBody().front().front());
  auto withElement = [&](Type t) {
    return RankedTensorType::get(cast<RankedTensorType>(t).getShape(), element);
  };
  for (Value input : rec.getInputs())
    cast<BlockArgument>(input).setType(withElement(input.getType()));
  for (unsigned i = 0; i < rec.getNumOutputs(); ++i)
    rec->getResult(i).setType(withElement(rec->getResult(i).getType()));
  func.setType(FunctionType::get(source.getContext(), func.getBody().front().getArgumentTypes(),
                                 rec->getResultTypes()));
  return verify(source);
}

/// Specs of the values `types` describe; `constants` (when given) are the layer's values of
/// them that are constants (a per-head decay, say), which the caller must pass as they are.
static llvm::json::Array specsOf(TypeRange types, ArrayRef<std::string> names,
                                 ValueRange constants = {}) {
  llvm::json::Array specs;
  for (auto [i, type, name] : llvm::enumerate(types, names)) {
    auto tensor = cast<RankedTensorType>(type);
    llvm::json::Array shape;
    for (int64_t d : tensor.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    std::string dtype;
    llvm::raw_string_ostream os(dtype);
    os << tensor.getElementType();
    llvm::json::Object spec{{"name", name}, {"dtype", dtype}, {"shape", std::move(shape)}};
    DenseElementsAttr dense;
    if (i < constants.size() && matchPattern(constants[i], m_Constant(&dense)) &&
        isa<FloatType>(dense.getElementType())) {
      llvm::json::Array values;
      for (const APFloat &x : dense.getValues<APFloat>())
        values.push_back(x.convertToDouble());
      spec["value"] = std::move(values);
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

/// Object code of `module` (LLVM dialect) for `machine`, optimized at -O3.
static llvm::Error emitObject(ModuleOp module, llvm::TargetMachine &machine, StringRef path) {
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "translating the kernel to LLVM IR failed");
  llvmModule->setDataLayout(machine.createDataLayout());
  llvmModule->setTargetTriple(machine.getTargetTriple());
  if (llvm::Error e = makeOptimizingTransformer(3, 0, &machine)(llvmModule.get()))
    return e;
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return llvm::createStringError(ec, "cannot write " + path.str());
  CpuCodeGenerationScope scope; // (also for GPU host code: it is CPU code)
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, out, nullptr, llvm::CodeGenFileType::ObjectFile))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the target cannot emit object files");
  passes.run(*llvmModule);
  return llvm::Error::success();
}

/// The target machine of the library: the host's CPU for CPU kernels (they are vectorized for
/// it); generic x86-64 for the host code of GPU kernels, which runs on any x86-64 machine.
static llvm::Expected<std::unique_ptr<llvm::TargetMachine>> targetMachine(bool forGpu) {
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  if (forGpu) {
    builder->setCPU("x86-64");
    builder->getFeatures() = llvm::SubtargetFeatures();
  }
  builder->setRelocationModel(llvm::Reloc::PIC_);
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return builder->createTargetMachine();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // The schedule flags are the target pipeline's options; the GPU binary's format is --binary.
  ScheduleFlags scheduleFlags(toolCategory, /*withGpu=*/true, {"format"});
  setUpToolOptions("linrec-compile", toolCategory);
  cl::ParseCommandLineOptions(argc, argv, "linrec ahead-of-time kernel compiler\n");
  std::string cudaPath = defaultCudaPath();
  bool haveToolkit = llvm::sys::fs::exists(cudaPath + "/bin/ptxas");
  std::string target = targetFlag.empty() ? (haveToolkit ? "cuda" : "cpu") : targetFlag.getValue();
  bool cuda = target == "cuda";
  if (!cuda && target != "cpu")
    return fail("unknown --target=" + target + " (cpu, cuda)");
  KernelOptions options;
  options.target = cuda ? Target::CUDA : Target::CPU;
  options.gpu.chip = "sm_90a"; // no device here: the pipeline's default unless --chip
  if (llvm::Error e = scheduleFlags.apply(options.schedule(), "--target=" + target))
    return fail(llvm::toString(std::move(e)));
  // A library holds one recurrence: a norm over all heads stays the caller's.
  options.cpu.fuseHeadsNorms = false;
  if (binary != "cubin" && binary != "ptx")
    return fail("unknown --binary=" + binary + " (cubin, ptx)");
  options.gpu.format = binary == "cubin" ? "bin" : "isa";
  llvm::outs() << "linrec-compile: target " << target
               << (cuda ? " " + options.gpu.chip.getValue() + ", " + binary.getValue()
                        : std::string(" (this host's CPU)"))
               << (targetFlag.empty() ? (haveToolkit ? " (a CUDA toolkit is at " + cudaPath + ")"
                                                     : " (no CUDA toolkit at " + cudaPath + ")")
                                      : "")
               << "\n";
  initializeNativeTarget();

  DialectRegistry registry;
  linrec::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::SourceMgr sources;
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(inputFile, sources, &context);
  if (!module)
    return fail("cannot parse " + inputFile);
  // What surrounds a recurrence moves into it first (shifts, projections; windows on the CPU),
  // so that Hedgehog is one library; the tensor ops left around the recurrences are the
  // caller's.
  PassManager prepare(&context, ModuleOp::getOperationName());
  if (cuda)
    buildGpuFusionPipeline(prepare, options.gpu);
  else
    buildCpuFusionPipeline(prepare, options.cpu);
  if (failed(prepare.run(*module)))
    return fail("normalizing " + inputFile + " failed");

  Type element;
  if (elementType == "bf16")
    element = BFloat16Type::get(&context);
  else if (elementType == "f16")
    element = Float16Type::get(&context);
  else if (elementType == "f32")
    element = Float32Type::get(&context);
  else if (!elementType.empty())
    return fail("unknown --element-type=" + elementType + " (f32, bf16, f16)");

  auto machine = targetMachine(cuda);
  if (!machine)
    return fail(llvm::toString(machine.takeError()));

  SmallVector<RecurrenceOp> recurrences;
  module->walk([&](RecurrenceOp op) { recurrences.push_back(op); });
  if (recurrences.empty())
    return fail(inputFile + " has no recurrence to compile");
  std::string stem =
      baseName.empty() ? llvm::sys::path::stem(inputFile).str() : std::string(baseName);
  // The name becomes file names in -o: a plain name, so nothing is written outside it.
  if (stem.empty() || stem == "." || stem == ".." ||
      stem.find_first_of("/\\") != std::string::npos)
    return fail("--name='" + stem + "' must be a plain file name (no directories)");
  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return fail("cannot create " + outDir + ": " + ec.message());

  for (auto [i, rec] : llvm::enumerate(recurrences)) {
    std::string name = recurrences.size() == 1 ? stem : stem + "_" + std::to_string(i);
    auto func = rec->getParentOfType<func::FuncOp>();
    std::vector<std::string> operandNames, resultNames;
    for (auto [j, v] : llvm::enumerate(rec->getOperands()))
      operandNames.push_back(nameOf(v, func, j, "operand"));
    for (auto [j, v] : llvm::enumerate(rec->getResults()))
      resultNames.push_back(nameOf(v, func, j, "result"));

    OwningOpRef<ModuleOp> source = buildKernelSource(rec, options);
    if (element && failed(retypeIO(*source, element)))
      return fail(name + ": the recurrence does not take " + elementType + " inputs");
    Operation *sourceOp =
        &source->lookupSymbol<func::FuncOp>("source").getBody().front().front();
    llvm::json::Object manifest{
        {"library", name + ".so"},
        {"entry", "_mlir_ciface___linrec_kernel_0"},
        {"target", target},
        {"chip", cuda ? options.gpu.chip.getValue() : std::string()},
        {"binary", cuda ? binary.getValue() : std::string()},
        {"operands", specsOf(sourceOp->getOperandTypes(), operandNames, rec->getOperands())},
        {"results", specsOf(sourceOp->getResultTypes(), resultNames)},
        {"num_inputs", int64_t(rec.getInputs().size())},
        {"num_params", int64_t(rec.getParams().size())},
        {"num_inits", int64_t(rec.getInits().size())},
        {"num_outputs", int64_t(rec.getNumOutputs())},
        {"varlen", bool(rec.getCuSeqlens())},
        {"chunk_size", options.chunkSize()},
    };
    llvm::Expected<KernelLayout> layout = lowerKernelSource(*source, options);
    if (!layout)
      return fail(name + ": " + llvm::toString(layout.takeError()));
    manifest["value_tiles"] = layout->valueTiles;
    manifest["heads_per_item"] = layout->headsPerItem;
    manifest["token_block"] = layout->tokenBlock;
    manifest["algorithm"] = stringifyAlgorithm(layout->algorithm).str();

    SmallString<128> object(outDir), library(outDir), manifestPath(outDir);
    llvm::sys::path::append(object, name + ".o");
    llvm::sys::path::append(library, name + ".so");
    llvm::sys::path::append(manifestPath, name + ".json");
    if (llvm::Error e = emitObject(*source, **machine, object))
      return fail(name + ": " + llvm::toString(std::move(e)));
    std::vector<StringRef> link = {LINREC_C_COMPILER, "-shared", "-o", library, object};
    if (cuda)
      link.push_back(LINREC_GPU_LAUNCH_OBJECT);
    link.push_back("-ldl");
    link.push_back("-lpthread");
    std::string message;
    if (llvm::sys::ExecuteAndWait(LINREC_C_COMPILER, link, std::nullopt, {}, 0, 0, &message) != 0)
      return fail(name + ": linking " + library + " failed " + message);
    llvm::sys::fs::remove(object);
    std::error_code ec;
    llvm::raw_fd_ostream out(manifestPath, ec);
    if (ec)
      return fail("cannot write " + manifestPath + ": " + ec.message());
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
    llvm::outs() << library << " (" << stringifyAlgorithm(layout->algorithm) << ", "
                 << layout->valueTiles << " value tile(s))\n";
  }
  return 0;
}
