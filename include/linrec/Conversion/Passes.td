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
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", "64",
           "Tokens per chunk of the chunked algorithms (a multiple of 16, up to 128); a "
           "recurrence's own chunk_size attribute wins">,
    Option<"valueTiles", "value-tiles", "int64_t", "1",
           "Split each (sequence, head) into this many value-dim tiles of separate work items "
           "(more parallelism when B·H is small); used when every state is a matrix with the "
           "same dv and every output is a read, 1 otherwise">,
    Option<"headsPerItem", "heads-per-item", "int64_t", "1",
           "Adjacent heads of one sequence per work item, advanced chunk by chunk together so "
           "that their token rows (adjacent in [B, T, H, D]) load together (chunked kernels); "
           "0 chooses: the most heads (up to 8, dividing H) that still give every thread a "
           "work item (autoHeadsPerItem)">,
    Option<"threads", "threads", "int64_t", "0",
           "Threads the kernels will run on, for heads-per-item=0 (0: the host's hardware "
           "threads)">,
    Option<"matmulRows", "matmul-rows", "int64_t", "4",
           "Rows of a matmul register tile">,
    Option<"matmulColumns", "matmul-columns", "int64_t", "64",
           "Columns of a matmul register tile (a multiple of 16 fills AVX-512 registers)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
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
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", "32",
           "Tokens per chunk (a recurrence's own chunk_size attribute wins)">,
    Option<"valueTile", "value-tile", "int64_t", "64",
           "Value columns per program; a state whose dv it does not divide (or an epilogue "
           "that needs whole rows) takes whole rows">,
    Option<"twoPhase", "two-phase", "bool", "false",
           "Chunked recurrences as a state pass (saving each chunk-start state to a "
           "workspace) and a chunk-parallel output pass, instead of one program per work item "
           "walking its chunks (more parallelism when B·H is small)">,
    Option<"tensorCores", "tensor-cores", "bool", "false",
           "The chunk's products as f16 matmuls with f32 accumulation (linalg.matmul on "
           "workgroup tiles; tensor-core MMA after linrec-map-to-gpu): the reads' and the "
           "delta rule's products with the state, the state update, and the intra-chunk "
           "attention without key decays. For bf16/f16 inputs (about 1e-3 relative error)">,
  ];
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
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", "256", "Threads per block">,
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
  let options = [
    Option<"maxRegisters", "max-registers", "int64_t", "128",
           "Registers per thread (at most 255)">,
  ];
}

#endif // LINREC_CONVERSION_PASSES_TD
