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
           "that their token rows (adjacent in [B, T, H, D]) load together (chunked kernels)">,
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

#endif // LINREC_CONVERSION_PASSES_TD
