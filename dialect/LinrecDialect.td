//===- LinrecDialect.td - the linrec dialect ----------------*- tablegen -*-===//
//
// The linrec dialect describes linear-attention recurrences: a state S (key-major, dk x dv)
// updated once per token by decays, delta transitions and writes, and read by queries.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_DIALECT_TD
#define LINREC_DIALECT_TD

include "mlir/IR/OpBase.td"

def Linrec_Dialect : Dialect {
  let name = "linrec";
  let cppNamespace = "::linrec";
  let summary = "Linear, gated, delta-rule and hybrid attention recurrences";
  let description = [{
    A `linrec.recurrence` op describes one token step of a linear-attention recurrence in its
    body region; the region is evaluated independently for every (batch row, head) and, within
    one sequence, once per token in order. Named ops (`linrec.gated_deltanet`, ...) are sugar for
    common members of the family; `linrec-normalize` rewrites them into the generic form.

    Conventions (fla's): tensors are `[B, T, H, D]`, scalar per-token gates `[B, T, H]`,
    states `[B, H, dk, dv]` with the key dimension first. Decays are natural-log decay factors
    (always <= 0). Bodies compute in f32; the reference interpreter evaluates them in f64.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  // What the kernel lowerings record on a kernel function (func.func, and the llvm.func it
  // becomes) for the passes after them and the runtime. Verified in
  // verifyOperationAttribute; no other `linrec.` attribute is valid on an op.
  let discardableAttrs = (ins
    // The algorithm the kernel runs (a window attention's kernel has none).
    "::linrec::AlgorithmAttr":$algorithm,
    // Work items per (sequence, head group): value-dim tiles (>= 1).
    "::mlir::IntegerAttr":$value_tiles,
    // Adjacent heads per work item (>= 1).
    "::mlir::IntegerAttr":$heads_per_item,
    // Work items also split T into blocks of this many tokens (>= 1; GPU window schedules).
    "::mlir::IntegerAttr":$token_block,
    // The kernel is a GPU schedule (linrec-lower-gpu), not a CPU kernel.
    "::mlir::UnitAttr":$gpu_schedule,
    // The GPU schedule computes window reads (linrec-map-to-gpu's shared-memory diagnostic).
    "::mlir::UnitAttr":$window_reads,
    // On a gpu.launch: the dynamic shared memory it needs, in bytes.
    "::mlir::IntegerAttr":$shared_memory_bytes,
    // What a CPU kernel checks of each operand's values as it loads them (linrec::ValueCheck:
    // 0 nothing, 1 finite, 2 a log-decay); it reports failures in its status argument.
    "::mlir::DenseI32ArrayAttr":$value_checks
  );
  let hasOperationAttrVerify = 1;
  // `linrec.name` names a layer function's arguments and results (a StringAttr);
  // `linrec.value_status` marks the argument its kernels report value checks in.
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerTypes();
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Linrec_Op<string mnemonic, list<Trait> traits = []>
    : Op<Linrec_Dialect, mnemonic, traits>;

#endif // LINREC_DIALECT_TD
