//===- Kernel.h - compiled kernels of recurrences and windows ---*- C++ -*-===//
//
// compile(recurrence, options) -> a cached Kernel; kernel.run(buffers). The kernel runs on
// the options' target: CPU kernels, the GPU schedule on the CPU, or CUDA. A kernel depends
// on the recurrence body, its head dims and dtypes, and the schedule options; it does not
// depend on B, T or H, so one kernel serves every batch size and sequence length. Errors are
// llvm::Error values with messages.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_KERNEL_H
#define LINREC_RUNTIME_KERNEL_H

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Pipelines/ScheduleOptions.h"
#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Target.h"
#include "linrec/Runtime/TuningDatabase.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
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

struct CachedKernelCode;
class KernelDiskCache;
class TuningDatabase;

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

/// What a kernel is compiled for: the target, and the options of the target's pipeline
/// (ScheduleOptions.h: every schedule option is declared there once). `cpu` applies to
/// Target::CPU, `gpu` to Target::GPUScheduleOnCPU and Target::CUDA.
struct KernelOptions {
  KernelOptions() { gpu.chip = ""; }

  /// CPU kernels, the GPU schedule run on the CPU, or CUDA kernels (Target::Reference has no
  /// kernels).
  Target target = Target::CPU;
  /// linrec-to-cpu's options: the algorithm choice, the CPU schedule, the fusions.
  CpuPipelineOptions cpu;
  /// linrec-to-nvvm's options; an empty chip (the runtime's default) means the device's
  /// (sm_90a on compute capability 9.0).
  GpuPipelineOptions gpu;
  /// Whether a model's inputs are checked for values outside their domain (InputChecks.h: the
  /// checked mode, on by default). CPU recurrence kernels then check the f32 rows they load
  /// (their pipeline's value-checks, which this sets); what no kernel checks is scanned
  /// before the run.
  bool checkInputValues = true;

  /// The options of the target's pipeline.
  const mlir::detail::PassOptions &schedule() const;
  mlir::detail::PassOptions &schedule();
  /// The target's chunk size.
  int64_t chunkSize() const;
  /// Parses "name=value ..." (the target pipeline's option names) into the target's options;
  /// the error names an option the target does not have.
  llvm::Error parseSchedule(llvm::StringRef text);
  /// The target and every option of its pipeline, printed, and which tunable options are
  /// set explicitly: part of the kernel cache's key.
  std::string str() const;
};

/// The tunable options (those a tuning database sets) that `options` sets explicitly, by
/// name, comma-separated: the others take the database's values (TuningDatabase.h).
std::string explicitTunableOptions(const KernelOptions &options);

class Kernel {
public:
  ~Kernel();

  /// Runs on `operands` (the recurrence's inputs, params, initial states, cu_seqlens,
  /// state_indices, in order) and writes `results` (its outputs, then final states). Every
  /// shape, dtype, cu_seqlens entry and state index is checked first. A kernel that checks
  /// values (compiled in the checked mode) ORs into `valueStatus` the ValueCheck of every
  /// check that failed.
  ///
  /// State pools (state_indices): a final state may be the very buffer of its initial
  /// state, which is then updated in place, slot by slot (a decode step touches only its
  /// sequences' slots); a distinct final-state buffer first receives a copy of the pool.
  llvm::Error run(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                  unsigned threads = 0, uint32_t *valueStatus = nullptr) const;

  /// The leading dim of the final states for these operands: B, the sequences of
  /// cu_seqlens, or the slots of the state pools.
  /// `leadingDim(i)` gives operand #i's first dim.
  int64_t finalStateRows(llvm::function_ref<int64_t(unsigned)> leadingDim) const;
  /// Whether the states live in pools (the recurrence has state_indices).
  bool hasStatePools() const { return statePools; }

  Algorithm algorithm() const { return algorithm_; }
  /// The value-dim tiles per (sequence, head) the kernel really uses.
  int64_t valueTiles() const { return valueTiles_; }
  /// Adjacent heads per work item (the schedule's, after heads-per-item=0 chose).
  int64_t headsPerItem() const { return headsPerItem_; }
  /// The element type the kernel takes for operand #i.
  DType operandDType(unsigned i) const { return operandSpecs[i].dtype; }
  /// Seconds spent in MLIR passes + LLVM JIT compilation (or loading from the disk cache).
  double compileSeconds() const { return compileSeconds_; }
  /// Whether the code came from the kernel disk cache (KernelDiskCache.h).
  bool loadedFromDisk() const { return cachedCode != nullptr; }
  /// Where the kernel runs.
  Target target() const { return target_; }
  /// What the kernel checks of operand #i's values as it loads them (the checked mode: CPU
  /// recurrence kernels, f32 inputs that are not delayed).
  ValueCheck valueCheck(unsigned i) const {
    return i < valueChecks_.size() ? valueChecks_[i] : ValueCheck::None;
  }

private:
  friend class KernelCompiler;
  Kernel() = default;

  /// The expected type of each kernel argument: element type and static dims (-1 dynamic).
  struct ArgSpec {
    DType dtype;
    std::vector<int64_t> shape;
  };
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::unique_ptr<CachedKernelCode> cachedCode; // instead of `engine`: loaded from disk
  void (*entry)(void **) = nullptr;
  std::vector<ArgSpec> operandSpecs, resultSpecs;
  unsigned numInputs = 0, numParams = 0, numInits = 0, numOutputs = 0;
  bool varlen = false;
  bool statePools = false;
  Algorithm algorithm_ = Algorithm::Sequential;
  int64_t valueTiles_ = 1;
  int64_t headsPerItem_ = 1;
  int64_t tokenBlock_ = 0;
  std::vector<ValueCheck> valueChecks_; // per operand; empty: no status word
  double compileSeconds_ = 0;
  Target target_ = Target::CPU;

  /// run() for a CUDA kernel: device copies of the buffers, one call over every work item
  /// (CudaKernel.cpp).
  llvm::Error runOnCuda(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                       int64_t numWork) const;

  llvm::Error check(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                    int64_t &numWork) const;
  /// The state indices are distinct slots of pools of `slots` slots.
  llvm::Error checkStateIndices(const BufferView &indices, int64_t slots) const;
  /// Copies each initial-state pool into its final state unless they are one buffer.
  void copyStatePools(llvm::ArrayRef<BufferView> operands,
                      llvm::ArrayRef<BufferView> results) const;
};

/// Compiles recurrences and windows to kernels for any target and caches them. Thread-safe.
class KernelCompiler {
public:
  KernelCompiler();
  ~KernelCompiler();

  /// The kernel of `op` (a generic recurrence, or a window attention) under `options`.
  llvm::Expected<std::shared_ptr<const Kernel>> compile(mlir::Operation *op,
                                                           const KernelOptions &options);
  size_t cacheSize() const;
  /// Where compiled kernels are kept across processes (KernelDiskCache::fromEnvironment()
  /// unless set): CPU kernels and the GPU schedule on the CPU.
  void setDiskCache(KernelDiskCache cache);
  const KernelDiskCache &diskCache() const { return *disk; }
  /// The tuning database whose schedules compiles take for the options they are not given
  /// explicitly (TuningDatabase.h; TuningDatabase::pathFromEnvironment() unless set; an
  /// empty path: none). Read at the first compile after it is set.
  void setTuningDatabase(std::string path);
  /// The tuned options for `func` compiled as a whole layer (compileFunction's CompiledLayer),
  /// applied to those `options` does not set explicitly, as compile() does for a kernel.
  void applyTunedLayerSchedule(mlir::func::FuncOp func, KernelOptions &options);

private:
  /// compile() once the options are complete (the GPU architecture known).
  llvm::Expected<std::shared_ptr<const Kernel>>
  compileResolved(mlir::Operation *op, const KernelOptions &options);

  /// The tuned options of the database's nearest entry for `op`, applied to those `options`
  /// does not set explicitly (LINREC_EXPLAIN=1 prints what it did).
  void applyTunedSchedule(mlir::Operation *op, KernelOptions &options);
  /// The same for the key `digest()` (computed only when the database has entries).
  void applyTunedEntry(llvm::function_ref<std::string()> digest, ShapeBucket bucket,
                       KernelOptions &options);

  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<KernelDiskCache> disk;
  std::string tuningPath;
  // Loaded at the first compile after the path is set; shared with compiles in flight when it
  // is replaced.
  std::shared_ptr<const TuningDatabase> tuning;
  bool tuningLoaded = false;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<const Kernel>> cache;
};

/// The runtime's dtype of a tensor element type (f16, bf16, f32, f64, i32), if it has one.
std::optional<DType> elementDType(mlir::Type type);

/// The run-time shape of a kernel result of static shape `shape` (dynamic dims any value),
/// given operand #0's shape [B, T, H, ...] and the number of state rows: an output is
/// [B, T, H, ...], a final state [rows, H, ...].
std::vector<int64_t> kernelResultShape(llvm::ArrayRef<int64_t> shape, bool isOutput,
                                       llvm::ArrayRef<int64_t> firstOperand, int64_t rows);

} // namespace linrec

#endif // LINREC_RUNTIME_KERNEL_H
