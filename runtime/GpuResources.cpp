//===- GpuResources.cpp - what a GPU kernel needs, as ptxas reports it ----===//

#include "linrec/Runtime/GpuResources.h"
#include "RuntimeError.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Runtime/KernelSource.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"

#include <map>

using namespace mlir;

namespace linrec {

std::string GpuKernelResources::problem() const {
  if (spillBytes > 0)
    return llvm::formatv("{0} spills {1} bytes at {2} registers", kernel, spillBytes, registers)
        .str();
  if (staticShared + dynamicShared > sharedLimit)
    return llvm::formatv("{0} needs {1} KiB of shared memory, a block on {2} has {3} KiB",
                         kernel, (staticShared + dynamicShared + 1023) / 1024, chip,
                         sharedLimit / 1024)
        .str();
  return "";
}

std::string describeGpuResources(const std::vector<GpuKernelResources> &kernels) {
  int64_t registers = 0, spills = 0, shared = 0;
  for (const GpuKernelResources &k : kernels) {
    registers = std::max(registers, k.registers);
    spills += k.spillBytes;
    shared = std::max(shared, k.staticShared + k.dynamicShared);
  }
  return llvm::formatv("{0} registers, {1} B spilled, {2} KiB shared", registers, spills,
                       (shared + 1023) / 1024)
      .str();
}

namespace {

/// The launches' dynamic shared memory by kernel name (constants; 0 when not one).
std::map<std::string, int64_t> dynamicSharedOf(ModuleOp module) {
  std::map<std::string, int64_t> shared;
  module.walk([&](gpu::LaunchFuncOp launch) {
    int64_t bytes = 0;
    if (Value size = launch.getDynamicSharedMemorySize())
      if (auto constant = size.getDefiningOp<arith::ConstantIntOp>())
        bytes = constant.value();
    int64_t &entry = shared[launch.getKernelName().str()];
    entry = std::max(entry, bytes);
  });
  return shared;
}

/// `ptxas -v` on `ptx` for `chip`: its report (stderr and stdout together).
llvm::Expected<std::string> runPtxas(llvm::StringRef ptxas, llvm::StringRef ptx,
                                     llvm::StringRef chip) {
  llvm::SmallString<128> input, report;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("linrec-tune", "ptx", input))
    return runtimeError("cannot create a temporary file: " + ec.message());
  llvm::scope_exit removeInput([&] { llvm::sys::fs::remove(input); });
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile("linrec-tune", "txt", report))
    return runtimeError("cannot create a temporary file: " + ec.message());
  llvm::scope_exit removeReport([&] { llvm::sys::fs::remove(report); });
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(input, ec);
    if (ec)
      return runtimeError("cannot write " + input + ": " + ec.message());
    os << ptx;
  }
  std::string arch = ("-arch=" + chip).str();
  llvm::StringRef args[] = {ptxas, "-v", arch, "-o", "/dev/null", input};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, report.str(), report.str()};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/120, 0, &message);
  auto text = llvm::MemoryBuffer::getFile(report);
  std::string output = text ? (*text)->getBuffer().str() : "";
  if (status != 0)
    return runtimeError("ptxas failed" + (message.empty() ? "" : ": " + message) + ": " +
                        llvm::StringRef(output).trim());
  return output;
}

/// Adds the kernels `report` (ptxas -v's output) describes.
void parsePtxasReport(llvm::StringRef report, llvm::StringRef chip,
                      std::vector<GpuKernelResources> &kernels) {
  llvm::Regex entry("Compiling entry function '([^']+)'");
  llvm::Regex spills("([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads");
  llvm::Regex used("Used ([0-9]+) registers");
  llvm::Regex smem("([0-9]+) bytes smem");
  llvm::SmallVector<llvm::StringRef> lines;
  report.split(lines, '\n');
  for (llvm::StringRef line : lines) {
    llvm::SmallVector<llvm::StringRef> m;
    if (entry.match(line, &m)) {
      kernels.push_back(GpuKernelResources{m[1].str(), chip.str()});
      kernels.back().sharedLimit = sharedMemoryLimitOf(chip);
      continue;
    }
    if (kernels.empty())
      continue;
    GpuKernelResources &k = kernels.back();
    if (spills.match(line, &m))
      k.spillBytes = std::stoll(m[1].str()) + std::stoll(m[2].str());
    if (used.match(line, &m))
      k.registers = std::stoll(m[1].str());
    if (smem.match(line, &m))
      k.staticShared = std::stoll(m[1].str());
  }
}

} // namespace

llvm::Expected<std::vector<GpuKernelResources>> assembleGpuKernels(Operation *op,
                                                                  const KernelOptions &options) {
  GpuPipelineOptions gpu = options.gpu;
  if (gpu.chip.empty())
    return runtimeError("assembling GPU kernels needs a chip (chip=sm_90a)");
  std::string cudaPath = gpu.cudaPath.empty() ? defaultCudaPath() : gpu.cudaPath.getValue();
  std::string ptxas = cudaPath + "/bin/ptxas";
  if (!llvm::sys::fs::can_execute(ptxas))
    return runtimeError("no ptxas at " + ptxas + " (the CUDA toolkit: set CUDA_HOME)");
  gpu.format = "isa";
  KernelOptions lowering = options;
  lowering.target = Target::CUDA;
  lowering.gpu = gpu;
  OwningOpRef<ModuleOp> source = buildKernelSource(op, lowering);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(op->getContext(), [&](Diagnostic &d) {
    diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  PassManager pm(op->getContext(), ModuleOp::getOperationName());
  buildLinrecToNvvmPipeline(pm, gpu);
  if (failed(pm.run(*source)))
    return runtimeError("linrec-to-nvvm failed: " + diagnostics);

  std::vector<GpuKernelResources> kernels;
  std::map<std::string, int64_t> dynamicShared = dynamicSharedOf(*source);
  WalkResult walk = source->walk([&](gpu::BinaryOp binary) {
    for (Attribute attr : binary.getObjects()) {
      auto object = dyn_cast<gpu::ObjectAttr>(attr);
      auto target = object ? dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget()) : nullptr;
      if (!target)
        continue;
      auto report = runPtxas(ptxas, object.getObject().getValue(), target.getChip());
      if (!report) {
        diagnostics = llvm::toString(report.takeError());
        return WalkResult::interrupt();
      }
      parsePtxasReport(*report, target.getChip(), kernels);
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return runtimeError(diagnostics);
  for (GpuKernelResources &k : kernels)
    if (auto it = dynamicShared.find(k.kernel); it != dynamicShared.end())
      k.dynamicShared = it->second;
  if (kernels.empty())
    return runtimeError("linrec-to-nvvm gave no GPU kernel to assemble");
  return kernels;
}

} // namespace linrec
