//===- ScheduleOptions.h - every schedule option, declared once -*- C++ -*-===//
//
// Each group below declares the options of one pass: their names, descriptions and defaults.
// A group is a template over the option type, so that the same declaration gives the pass's
// own options (PassOption: what `linrec-opt --linrec-lower-cpu='chunk-size=32'` parses) and a
// pipeline's options (PipelineOption: CpuPipelineOptions and GpuPipelineOptions, the options of
// `linrec-to-cpu` and `linrec-to-nvvm`, which hold the groups of the passes they run plus their
// own choices). The runtime's KernelOptions holds the two pipeline structs; the tools' flags,
// Python's keywords and the C API's schedule string are parsed by them; the kernel cache's key
// is their printed form, so a new option is in it the moment it is declared here.
//
// (The groups are C++, not ODS: ODS declares a pass's options for that pass alone.)
//
// Header-only: the passes that own a group include it.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_PIPELINES_SCHEDULEOPTIONS_H
#define LINREC_PIPELINES_SCHEDULEOPTIONS_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace linrec {

/// The option types a group is instantiated with.
template <typename T> using PassOption = mlir::Pass::Option<T>;
template <typename T> using PipelineOption = mlir::detail::PassOptions::Option<T>;

/// linrec-select-algorithm: which algorithm the recurrences run when not the analysis's.
template <template <typename> class Option> struct AlgorithmChoice {
  template <typename Owner>
  explicit AlgorithmChoice(Owner &owner)
      : sequential(owner, "sequential",
                   llvm::cl::desc("Every recurrence runs the token-by-token scan, the "
                                  "recurrence step by step in f32 (decode steps, or to "
                                  "cross-check the chunked forms)"),
                   llvm::cl::init(false)),
        chunkedProducts(owner, "chunked-products",
                        llvm::cl::desc("Recurrences that read products of states (tensor "
                                       "attention) run the chunked product form instead of the "
                                       "scan"),
                        llvm::cl::init(false)) {}
  Option<bool> sequential;
  Option<bool> chunkedProducts;
};

/// linrec-lower-cpu: the CPU kernels' schedule.
template <template <typename> class Option> struct CpuKernelSchedule {
  template <typename Owner>
  explicit CpuKernelSchedule(Owner &owner)
      : chunkSize(owner, "chunk-size",
                  llvm::cl::desc("Tokens per chunk of the chunked algorithms (1 to 256; a "
                                 "recurrence's own chunk_size attribute wins)"),
                  llvm::cl::init(64)),
        matmulRows(owner, "matmul-rows", llvm::cl::desc("Rows of a matmul register tile"),
                   llvm::cl::init(4)),
        matmulColumns(owner, "matmul-columns",
                      llvm::cl::desc("Columns of a matmul register tile (a multiple of 16 fills "
                                     "AVX-512 registers)"),
                      llvm::cl::init(64)),
        valueTiles(owner, "value-tiles",
                   llvm::cl::desc("Split each (sequence, head) into this many value-dim tiles "
                                  "of separate work items (more parallelism when B·H is "
                                  "small); used when every state is a matrix with the same dv "
                                  "and every output is a read, 1 otherwise"),
                   llvm::cl::init(1)),
        headsPerItem(owner, "heads-per-item",
                     llvm::cl::desc("Adjacent heads of one sequence per work item, advanced "
                                    "chunk by chunk together so that their token rows load "
                                    "together; 0 chooses from the static B and H: the most "
                                    "heads (up to 8, dividing H) that keep every thread busy "
                                    "(autoHeadsPerItem; 1 for dynamic shapes)"),
                     llvm::cl::init(0)),
        threads(owner, "threads",
                llvm::cl::desc("Threads the kernels run on, for heads-per-item=0 and fused "
                               "norms over heads (0: the host's hardware threads)"),
                llvm::cl::init(0)),
        valueChecks(owner, "value-checks",
                    llvm::cl::desc("Recurrence kernels check the input rows they load, once "
                                   "per token (NaN or +-inf; in a log-decay NaN or a positive "
                                   "value), and OR what failed into a status word: a trailing "
                                   "memref<1xi32> argument of the function that calls them "
                                   "(the runtime sets it from its checked mode)"),
                    llvm::cl::init(false)) {}
  Option<int64_t> chunkSize;
  Option<int64_t> matmulRows;
  Option<int64_t> matmulColumns;
  Option<int64_t> valueTiles;
  Option<int64_t> headsPerItem;
  Option<int64_t> threads;
  Option<bool> valueChecks;
};

/// linrec-lower-gpu: the GPU schedules' shape.
template <template <typename> class Option> struct GpuKernelSchedule {
  template <typename Owner>
  explicit GpuKernelSchedule(Owner &owner)
      : chunkSize(owner, "chunk-size",
                  llvm::cl::desc("Tokens per chunk (1 to 128; workgroup tiles grow with it; a "
                                 "recurrence's own chunk_size attribute wins)"),
                  llvm::cl::init(32)),
        valueTile(owner, "value-tile",
                  llvm::cl::desc("Value columns per program; a state whose dv it does not "
                                 "divide (or an epilogue that needs whole rows) takes whole "
                                 "rows"),
                  llvm::cl::init(64)),
        twoPhase(owner, "two-phase",
                 llvm::cl::desc("Chunked recurrences as a state pass (saving each chunk-start "
                                "state to a workspace) and a chunk-parallel output pass, "
                                "instead of one program per work item walking its chunks"),
                 llvm::cl::init(false)),
        tensorCores(owner, "tensor-cores",
                    llvm::cl::desc("The chunk's products as f16 matmuls with f32 accumulation "
                                   "(tensor-core MMA after linrec-map-to-gpu); for bf16/f16 "
                                   "inputs (about 1e-3 relative error)"),
                    llvm::cl::init(false)) {}
  Option<int64_t> chunkSize;
  Option<int64_t> valueTile;
  Option<bool> twoPhase;
  Option<bool> tensorCores;
};

/// linrec-map-to-gpu: threads per block.
template <template <typename> class Option> struct GpuBlockSchedule {
  template <typename Owner>
  explicit GpuBlockSchedule(Owner &owner)
      : blockSize(owner, "block-size", llvm::cl::desc("Threads per block"),
                  llvm::cl::init(256)) {}
  Option<int64_t> blockSize;
};

/// linrec-gpu-register-budget: registers per thread.
template <template <typename> class Option> struct GpuRegisterSchedule {
  template <typename Owner>
  explicit GpuRegisterSchedule(Owner &owner)
      : maxRegisters(owner, "max-registers",
                     llvm::cl::desc("Registers per thread (ptxas .maxnreg, at most 255): 128 x "
                                    "256 threads leaves two blocks per SM"),
                     llvm::cl::init(128)) {}
  Option<int64_t> maxRegisters;
};

/// What the option structs below share: copies (PassOptions themselves do not copy), and the
/// options' names and help for flags that mirror them (ScheduleFlags).
template <typename Derived>
class ScheduleOptionsBase : public mlir::PassPipelineOptions<Derived> {
public:
  /// Calls `f` on every option (llvm::cl's view of it: name, help, whether it takes a value).
  void forEachOption(llvm::function_ref<void(const llvm::cl::Option &)> f) const {
    for (const auto &entry : this->OptionsMap)
      f(*entry.second);
  }
  /// The printed form, `{name=value ...}`: every option, sorted by name.
  std::string str() const {
    std::string text;
    llvm::raw_string_ostream os(text);
    this->print(os);
    return text;
  }
};

/// The options of `linrec-to-cpu` and of the CPU target: the algorithm choice, the CPU
/// kernels' schedule, and which fusions run.
struct CpuPipelineOptions : ScheduleOptionsBase<CpuPipelineOptions>,
                            AlgorithmChoice<PipelineOption>,
                            CpuKernelSchedule<PipelineOption> {
  CpuPipelineOptions() : AlgorithmChoice(*this), CpuKernelSchedule(*this) {}
  CpuPipelineOptions(const CpuPipelineOptions &other) : CpuPipelineOptions() {
    copyOptionValuesFrom(other);
  }
  CpuPipelineOptions &operator=(const CpuPipelineOptions &other) {
    copyOptionValuesFrom(other);
    return *this;
  }
  Option<bool> fuseWindows{*this, "fuse-windows",
                           llvm::cl::desc("Window attentions that feed a recurrence move into "
                                          "its chunked kernel (linrec-fuse-windows); off, they "
                                          "run as their own kernels"),
                           llvm::cl::init(true)};
  Option<bool> fuseHeadsNorms{*this, "fuse-heads-norms",
                              llvm::cl::desc("A norm over all heads moves into the chunked "
                                             "kernel before it (linrec-fuse-heads-norms; not "
                                             "for the scan): every head of a batch row in one "
                                             "work item"),
                              llvm::cl::init(true)};
};

/// The options of `linrec-to-nvvm` and of the GPU targets: the algorithm choice, the GPU
/// schedule, and the NVVM target.
struct GpuPipelineOptions : ScheduleOptionsBase<GpuPipelineOptions>,
                            AlgorithmChoice<PipelineOption>,
                            GpuKernelSchedule<PipelineOption>,
                            GpuBlockSchedule<PipelineOption>,
                            GpuRegisterSchedule<PipelineOption> {
  GpuPipelineOptions()
      : AlgorithmChoice(*this), GpuKernelSchedule(*this), GpuBlockSchedule(*this),
        GpuRegisterSchedule(*this) {}
  GpuPipelineOptions(const GpuPipelineOptions &other) : GpuPipelineOptions() {
    copyOptionValuesFrom(other);
  }
  GpuPipelineOptions &operator=(const GpuPipelineOptions &other) {
    copyOptionValuesFrom(other);
    return *this;
  }
  Option<bool> fuseWindows{*this, "fuse-windows",
                           llvm::cl::desc("Window attentions that feed a recurrence computed "
                                          "inside its chunked schedule (one kernel, more shared "
                                          "memory: exceeds a block's at head dims of 128)"),
                           llvm::cl::init(false)};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture (sm_80, sm_90a); empty: the "
                                          "device's, where the runtime has one"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features (sm_90 needs +ptx80 or newer)"),
                               llvm::cl::init("+ptx80")};
  Option<std::string> format{*this, "format",
                             llvm::cl::desc("Binary format: isa (PTX), bin (cubin), fatbin, "
                                            "offload (LLVM IR)"),
                             llvm::cl::init("isa")};
  Option<std::string> cudaPath{*this, "cuda-path",
                               llvm::cl::desc("CUDA toolkit (libdevice, ptxas); empty: "
                                              "$CUDA_HOME, $CUDA_PATH or /usr/local/cuda"),
                               llvm::cl::init("")};
};

/// Parses `text` ("name=value ..." or "{name=value ...}") into `options`; the error names the
/// option it cannot take.
llvm::Error parseScheduleOptions(mlir::detail::PassOptions &options, llvm::StringRef text);

/// Sets the options of `pass` that `options` also has (by name) to their values there: how a
/// pipeline hands a pass its group. (Through the printed form, so that no field is ever
/// copied by hand.)
void copyScheduleOptionsTo(const mlir::detail::PassOptions &options, mlir::Pass &pass);

} // namespace linrec

#endif // LINREC_PIPELINES_SCHEDULEOPTIONS_H
