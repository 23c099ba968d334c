//===- CpuRuntime.h - JIT-compiled CPU kernels of recurrences ---*- C++ -*-===//
//
// compile(recurrence, options) -> a cached CpuKernel; kernel.run(buffers). A kernel depends
// on the recurrence body, its head dims and dtypes, and the schedule options; it does not
// depend on B, T or H, so one kernel serves every batch size and sequence length. Errors are
// llvm::Error values with messages.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_CPURUNTIME_H
#define LINREC_RUNTIME_CPURUNTIME_H

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Reference/Array.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace linrec {

/// A contiguous row-major host buffer.
struct BufferView {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

/// The memref descriptor of a contiguous buffer, as JIT-compiled functions take it:
/// {allocated, aligned, offset, sizes, strides}.
struct MemRefDescriptor {
  explicit MemRefDescriptor(const BufferView &buffer);
  std::vector<int64_t> words;
};

/// The kernel's schedule (chunk size, matmul tile, value tiles, heads per work item: see
/// CpuPipelineOptions) plus what only the runtime decides.
struct CpuKernelOptions : CpuPipelineOptions {
  /// Force the token-by-token scan (decode steps, or to cross-check the chunked form).
  bool sequential = false;
  /// Recurrences that read products of states (tensor attention) run the chunked product
  /// form (chunks of at most 16) instead of the scan, which costs less on the CPU.
  bool chunkedProducts = false;
  /// Compile the GPU schedule instead (linrec-lower-gpu: block and thread loops on workgroup
  /// tiles, before linrec-map-to-gpu) and run it on the CPU, a thread loop at a time: how the
  /// GPU lowering is checked on machines without a GPU.
  bool gpuSchedule = false;
  /// Compile for the GPU instead (linrec-to-nvvm; the JIT-compiled host code loads the PTX and
  /// launches it through the CUDA driver): run() then copies the buffers to the device and
  /// back. Needs a CUDA driver and GPU.
  bool cuda = false;
  /// The GPU schedule and target (with gpuSchedule or cuda); its chunk size is `chunkSize`'s,
  /// and an empty chip means the device's (sm_90a on compute capability 9.0).
  GpuPipelineOptions gpu = [] {
    GpuPipelineOptions device;
    device.chip = "";
    return device;
  }();
};

class CpuKernel {
public:
  ~CpuKernel();

  /// Runs on `operands` (the recurrence's inputs, params, initial states, cu_seqlens, in
  /// order) and writes `results` (its outputs, then final states). Every shape, dtype and
  /// cu_seqlens entry is checked first.
  llvm::Error run(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                  unsigned threads = 0) const;

  Algorithm algorithm() const { return algorithm_; }
  /// The value-dim tiles per (sequence, head) the kernel really uses.
  int64_t valueTiles() const { return valueTiles_; }
  /// Adjacent heads per work item (the schedule's, after heads-per-item=0 chose).
  int64_t headsPerItem() const { return headsPerItem_; }
  /// The element type the kernel takes for operand #i.
  DType operandDType(unsigned i) const { return operandSpecs[i].dtype; }
  /// Seconds spent in MLIR passes + LLVM JIT compilation.
  double compileSeconds() const { return compileSeconds_; }
  /// Whether the kernel runs on the GPU (CpuKernelOptions::cuda).
  bool onGpu() const { return cuda_; }

private:
  friend class CpuCompiler;
  CpuKernel() = default;

  /// The expected type of each kernel argument: element type and static dims (-1 dynamic).
  struct ArgSpec {
    DType dtype;
    std::vector<int64_t> shape;
  };
  std::unique_ptr<mlir::ExecutionEngine> engine;
  void (*entry)(void **) = nullptr;
  std::vector<ArgSpec> operandSpecs, resultSpecs;
  unsigned numInputs = 0, numParams = 0, numInits = 0, numOutputs = 0;
  bool varlen = false;
  Algorithm algorithm_ = Algorithm::Sequential;
  int64_t valueTiles_ = 1;
  int64_t headsPerItem_ = 1;
  int64_t tokenBlock_ = 0;
  double compileSeconds_ = 0;
  bool cuda_ = false;

  /// run() for a GPU kernel: device copies of the buffers, one call over every work item.
  llvm::Error runOnGpu(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                       int64_t numWork) const;

  llvm::Error check(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                    int64_t &numWork) const;
};

/// Compiles recurrences to CPU kernels and caches them. Thread-safe.
class CpuCompiler {
public:
  CpuCompiler();
  ~CpuCompiler();

  /// The kernel of `op` (a generic recurrence, or a window attention) under `options`.
  llvm::Expected<std::shared_ptr<const CpuKernel>> compile(mlir::Operation *op,
                                                           const CpuKernelOptions &options);
  size_t cacheSize() const;

private:
  /// compile() once the options are complete (the GPU architecture known).
  llvm::Expected<std::shared_ptr<const CpuKernel>>
  compileResolved(mlir::Operation *op, const CpuKernelOptions &options);

  std::unique_ptr<mlir::MLIRContext> context;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<const CpuKernel>> cache;
};

/// A module holding `func @source` that applies a copy of `op` (a recurrence or a window
/// attention) to arguments whose B, T, H (and N) are dynamic, with `options`' chunk size and
/// algorithm: what a kernel is compiled from (its text is the kernel cache's key).
mlir::OwningOpRef<mlir::ModuleOp> buildKernelSource(mlir::Operation *op,
                                                    const CpuKernelOptions &options);

/// How a lowered kernel splits its work, and the algorithm it runs.
struct KernelLayout {
  Algorithm algorithm = Algorithm::Sequential;
  int64_t valueTiles = 1;
  int64_t headsPerItem = 1;
  /// Work items also split T into blocks of this many tokens (0: they do not).
  int64_t tokenBlock = 0;
};

/// Lowers a kernel source module to the LLVM dialect: @__linrec_kernel_0 with its C interface
/// (operands, results as memrefs, then the work items [begin, end)); with options.cuda it is
/// host code that launches the GPU kernel, whose PTX the module carries.
llvm::Expected<KernelLayout> lowerKernelSource(mlir::ModuleOp module,
                                               const CpuKernelOptions &options);

/// The runtime's dtype of a tensor element type (f16, bf16, f32, f64, i32), if it has one.
std::optional<DType> elementDType(mlir::Type type);

/// Initializes the host's LLVM target (once per process).
void initializeNativeTarget();

/// While alive: LLVM's options for CPU kernels (loop strength reduction, partial and run-time
/// unrolling off; the options are process-wide, so the scope holds a lock and resets them).
/// Generate a kernel's CPU code inside one.
class CpuCodeGenerationScope {
public:
  CpuCodeGenerationScope();
  ~CpuCodeGenerationScope();

private:
  static std::mutex &mutex();
  std::lock_guard<std::mutex> lock;
  std::vector<llvm::cl::Option *> overridden;
};

/// JIT-compiles a module already lowered to the LLVM dialect for the host (its target
/// machine, -O3), with its global constructors run; `openMP` links the OpenMP runtime;
/// `gpuLaunches` provides the GPU launch runtime (GpuLaunchRuntime.h) to host code that
/// launches GPU kernels.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
createCpuEngine(mlir::ModuleOp module, bool openMP = false, bool gpuLaunches = false);

/// The run-time shape of a kernel result of static shape `shape` (dynamic dims any value),
/// given operand #0's shape [B, T, H, ...] and the number of state rows: an output is
/// [B, T, H, ...], a final state [rows, H, ...].
std::vector<int64_t> kernelResultShape(llvm::ArrayRef<int64_t> shape, bool isOutput,
                                       llvm::ArrayRef<int64_t> firstOperand, int64_t rows);

/// Runs @funcName (static shapes) compiled as a whole on the CPU: as its kernels on threads
/// when it holds only kernel ops, else as one compiled layer (tensor ops lowered to loops).
/// Returns no value when the function cannot be compiled that way (dynamic shapes, an op
/// without a lowering); the op-by-op evaluator then runs it and reports real errors.
llvm::Expected<std::optional<std::vector<Array>>>
runCompiledFunctionOnCpu(CpuCompiler &compiler, mlir::ModuleOp module, llvm::StringRef funcName,
                         llvm::ArrayRef<Array> args, const CpuKernelOptions &options);

/// Runs one recurrence or window attention on host arrays through its CPU kernel (the CPU
/// counterpart of interpretRecurrence): inputs convert to the op's element types, results
/// come back as arrays of their element types.
llvm::Expected<std::vector<Array>> runOnCpu(CpuCompiler &compiler, mlir::Operation *op,
                                            llvm::ArrayRef<Array> operands,
                                            const CpuKernelOptions &options);

} // namespace linrec

#endif // LINREC_RUNTIME_CPURUNTIME_H
