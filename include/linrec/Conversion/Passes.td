//===- Passes.td - linrec conversion passes -----------------*- tablegen -*-===//

#ifndef LINREC_CONVERSION_PASSES_TD
#define LINREC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def LinrecLowerCPU : Pass<"linrec-lower-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower classified recurrences to CPU kernels (scf + vector on memrefs)";
  let description = [{
    Every `linrec.recurrence` (classified by `linrec-classify`) becomes a kernel function
    `@__linrec_kernel_<n>` on memrefs, with the C interface, that processes the (sequence,
    head) work items in `[begin, end)`: the chunked algorithm (intra-chunk attention blocks,
    the delta rule's triangular solve, inter-chunk state passing) for `chunked_*`
    recurrences, a token-by-token scan for `sequential` ones. The body's per-token ops (feature
    maps, gates, norms, output arithmetic) are cloned into the kernel's loads and stores. The
    recurrence itself is replaced by a call of the kernel on buffers of its operands, so the
    enclosing function still computes the same tensors. The runtime calls the kernels
    directly, one range of work items per thread.

    Options (`linrec::CpuKernelSchedule`): `chunk-size`, `matmul-rows`, `matmul-columns`,
    `value-tiles`, `heads-per-item`, `threads`; `linrec-opt --help` describes them.
  }];
  // Options: the CPU kernel schedule, CpuKernelSchedule in linrec/Pipelines/ScheduleOptions.h
  // (declared once for this pass, linrec-to-cpu and the runtime).
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def LinrecParallelizeKernelCalls : Pass<"linrec-parallelize-kernel-calls", "::mlir::ModuleOp"> {
  let summary = "Spread each kernel call's work items over scf.parallel iterations";
  let description = [{
    A kernel call `func.call @__linrec_kernel_<n>(operands..., %c0, %work)` (what
    `linrec-lower-cpu` leaves in a layer function) becomes an `scf.parallel` over
    `[0, %work)` whose iteration `w` calls the kernel on the work items `[w, w + 1)`; a later
    `convert-scf-to-openmp` spreads them over threads. For compiled layers, whose tensor ops
    around the kernels run in the same function (`linrec-layer-to-cpu`); the kernel functions
    themselves are untouched.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect"];
}

def LinrecDeallocateLayerBuffers : Pass<"linrec-deallocate-layer-buffers", "::mlir::ModuleOp"> {
  let summary = "Free the intermediate buffers of the functions that call kernels";
  let description = [{
    Runs upstream's `buffer-deallocation-pipeline` (ownership-based deallocation) on every
    function except the kernels `__linrec_kernel_<n>`, which free their own scratch buffers
    (`memref.dealloc` at their end, which ownership-based deallocation does not take).
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def LinrecLowerGPU : Pass<"linrec-lower-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower classified recurrences to GPU schedules (block and thread loops on "
                "shared-memory tiles)";
  let description = [{
    Every chunked `linrec.recurrence` becomes a kernel function `@__linrec_kernel_<n>` with
    the CPU kernel's signature (operands, results, work items `[begin, end)`) whose body is
    the GPU schedule, still target-independent: one `scf.parallel` over the work items
    (sequence · head · value tile) mapped to blocks, and inside it the chunk loop whose phases
    (token prologue, cumulative decays, intra-chunk attention, the delta rule's forward
    substitution, reads, state update, epilogue) are `scf.parallel` loops mapped to the
    block's threads. The state tile and the chunk's tiles live in workgroup memory
    (`memref.alloca` in `#gpu.address_space<workgroup>`). A thread loop's iterations are
    independent and every thread loop ends at a barrier, so the schedule also runs
    sequentially on the CPU (`linrec-gpu-schedule-to-cpu`), which is how CI checks it.
    `linrec-map-to-gpu` then maps it onto `gpu.launch`. A `linrec.window_attention` becomes
    one program per (batch row, head) walking its queries in blocks of `chunk-size`: the
    block's queries, the keys and values of its key span, masked scores, row weights and
    outputs, each a thread phase.

    Options (`linrec::GpuKernelSchedule`): `chunk-size`, `value-tile`, `two-phase`,
    `tensor-cores`; `linrec-opt --help` describes them.
  }];
  // Options: GpuKernelSchedule in linrec/Pipelines/ScheduleOptions.h.
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::gpu::GPUDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def LinrecGpuScheduleToCPU : Pass<"linrec-gpu-schedule-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Make a GPU schedule executable on the CPU";
  let description = [{
    Workgroup tiles become stack buffers allocated once per kernel call (hoisted to the
    function entry; the memory space is dropped from every memref type) and the block and
    thread mappings are removed; the `scf.parallel` loops then run
    sequentially (a thread loop completes before the next starts, which is what its
    barrier guarantees on the GPU). The result lowers with the CPU pipeline.
  }];
}

def LinrecMapToGPU : Pass<"linrec-map-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Map GPU schedules onto gpu.launch: blocks, threads, barriers, shared memory";
  let description = [{
    The mechanical last step of `linrec-lower-gpu`: the block-mapped `scf.parallel` becomes a
    `gpu.launch` with one block per work item; each thread-mapped `scf.parallel` becomes a
    loop strided by the block size starting at the thread id, followed by `gpu.barrier`;
    the workgroup allocas of the block become views into one dynamic shared-memory buffer
    (128-byte aligned, from the buffer's first 128-byte boundary), whose size is the launch's dynamic shared memory and is checked against the
    target's limit.

    Options: `block-size` (`linrec::GpuBlockSchedule`) and `shared-memory-limit`.
  }];
  let options = [
    Option<"sharedMemoryLimit", "shared-memory-limit", "int64_t", "232448",
           "Bytes of shared memory one block may use (sm_90: 227 KiB, sm_80: 163 KiB)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def LinrecGpuRegisterBudget : Pass<"linrec-gpu-register-budget", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Cap the registers of every GPU kernel (nvvm.maxnreg)";
  let description = [{
    Sets `nvvm.maxnreg` on every kernel `gpu.func` of the module (`.maxnreg` in the PTX).
    Without a cap ptxas picks a register count from the block size alone, as if shared
    memory allowed any number of blocks per SM: it then either spills to reach an occupancy
    the kernel's shared memory never allows, or (with `.minnctapersm 1`) takes every
    register. The budget is a schedule parameter: 128 registers x 256 threads leaves room
    for two blocks per SM, as the chunk tiles' shared memory does. Runs after
    `gpu-kernel-outlining`.
  }];
  // Options: GpuRegisterSchedule (max-registers) in linrec/Pipelines/ScheduleOptions.h.
}

#endif // LINREC_CONVERSION_PASSES_TD
