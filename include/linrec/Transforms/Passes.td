//===- Passes.td - linrec transformation passes -------------*- tablegen -*-===//

#ifndef LINREC_TRANSFORMS_PASSES_TD
#define LINREC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def LinrecNormalize : Pass<"linrec-normalize"> {
  let summary = "Rewrite named recurrences (gated_deltanet, gla, ...) into linrec.recurrence";
  let description = [{
    Every later pass, and the reference interpreter, work on the generic form only: a named
    op is replaced by the `linrec.recurrence` whose body spells its token step.
  }];
  let dependentDialects = [
    "::linrec::LinrecDialect", "::mlir::arith::ArithDialect", "::mlir::vector::VectorDialect"
  ];
}

def LinrecCheckSlices : Pass<"linrec-check-slices"> {
  let summary = "Refuse slices whose static strides are not positive";
  let description = [{
    Every pipeline starts here. A tensor or memref slice (`tensor.extract_slice`,
    `tensor.insert_slice`, `memref.subview`, ... : any op with static strides) with a stride of
    0 or less is an error naming the op and the dim: the lowerings after bufferization
    cannot take it (MLIR's `expand-strided-metadata` asks for memory by the subview's strides:
    a zero stride made it allocate 31 GB and crash), so linrec refuses it while it can still
    say why.
  }];
}

def LinrecClassify : Pass<"linrec-classify"> {
  let summary = "Decide how each recurrence is evaluated: chunked (diagonal or delta) or sequential";
  let description = [{
    Reads each `linrec.recurrence` body as a state algebra (decays, delta transition, write,
    reads) and records the algorithm in its `algorithm` attribute: `chunked_diagonal` when
    only decays and writes touch the states, `chunked_delta` with a delta transition, and
    `sequential` for anything else the verifier accepts (masked writes, selects, keys that
    depend on reads, ...), and for a recurrence whose states are all running sums (one key
    row, no delta transition: a backward's gate sums), which the scan runs for less than chunk
    matmuls that contract over one row. A recurrence already marked `sequential` keeps that
    choice (decode kernels ask for it). With `remark-sequential`, says why a recurrence is sequential.
  }];
  let options = [
    Option<"remarkSequential", "remark-sequential", "bool", "false",
           "Emit a remark with the reason when a recurrence is sequential">
  ];
}

def LinrecSelectAlgorithm : Pass<"linrec-select-algorithm"> {
  let summary = "Mark recurrences with the algorithm asked for instead of the analysis's";
  let description = [{
    With `sequential`, every `linrec.recurrence` is marked `algorithm = sequential` (the token
    scan: decode steps, cross-checks); with `chunked-products`, every recurrence whose reads of
    state products have the chunked product form (tensor attention) is marked
    `chunked_product`. Runs right after `linrec-normalize`, before the fusion passes, which
    respect the mark (a window or a norm over heads is not fused into a scan), and
    `linrec-classify`, which keeps it. Without either option the pass changes nothing.

    Options (`linrec::AlgorithmChoice` in linrec/Pipelines/ScheduleOptions.h): `sequential`,
    `chunked-products`.
  }];
}

def LinrecExpandFeatureMaps : Pass<"linrec-expand-feature-maps"> {
  let summary = "Expand linrec.feature_map and linrec.l2norm into arith, math and vector ops";
  let description = [{
    Once a recurrence is lowered, its per-token ops live in ordinary loops; this pass spells
    the feature maps and gate activations in upstream ops, in their numerically stable forms
    (logsigmoid(x) = min(x, 0) − log1p(e^{−|x|}), softmax with the max subtracted, ...).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::vector::VectorDialect"
  ];
}

def LinrecApproximateMath : Pass<"linrec-approximate-math"> {
  let summary = "Replace f32 math functions (exp, log1p, expm1, tanh, ...) by vectorizable polynomials";
  let description = [{
    LLVM lowers a vector `math.exp` to one libm call per lane; the kernels take exponentials
    of every decay difference, so this pass rewrites them into the upstream polynomial
    approximations (range reduction + minimax polynomial, a few ulp), which vectorize.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect", "::mlir::vector::VectorDialect"
  ];
}

def LinrecCopiesToLinalg : Pass<"linrec-copies-to-linalg"> {
  let summary = "Rewrite memref.copy as linalg.copy, so that copies lower to loops";
  let description = [{
    Bufferized layer functions copy slices (strided memrefs) into and out of their event
    sequences and results. LLVM lowering turns a strided `memref.copy` into a call of the
    `memrefCopy` runtime function, which the JIT would have to load; as `linalg.copy` the copy
    becomes plain loops under `convert-linalg-to-loops`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LinrecFuse : Pass<"linrec-fuse"> {
  let summary = "Fuse element-wise tensor ops around a recurrence into its body";
  let description = [{
    A `linalg.generic` that computes a recurrence input element-wise from `[B, T, H(, D)]`
    tensors (a gate activation, a feature map, a scale) moves into the body, where the kernel
    computes it in its loads; one that consumes a recurrence output element-wise (an output
    gate such as `o * silu(z)`) moves into the body after the read, where the kernel computes
    it before its stores. A consumer may read several outputs of the recurrence (a numerator
    and its denominator); outputs that only it read are dropped. Inputs indexed by the
    iteration space (identity maps), [B, T, H] inputs broadcast over the head dim, and
    per-head [H] or [H, D] tensors (which become params) fuse, with parallel iterators and
    arith/math payloads; everything else is left alone.
  }];
  let dependentDialects = [
    "::linrec::LinrecDialect", "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def LinrecFuseWindows : Pass<"linrec-fuse-windows"> {
  let summary = "Move a window attention that feeds a recurrence into its body";
  let description = [{
    A hybrid layer mixes a recurrence's reads with a window attention (Liger Attention:
    sliding softmax; LoLCATs: sliding or terraced shifted_exp, sharing the denominator); after
    `linrec-fuse` the window's results are inputs of the recurrence. This pass replaces them by
    a `linrec.window_read` of the same shape on the window's q, k and v, so that the chunked
    kernel computes the window term from its own chunk tiles instead of a separate attention
    pass over memory. Only windows of recurrences without `cu_seqlens` move (a window over
    [B, T, H] does not know sequence boundaries), and only into chunkable recurrences whose
    window reaches at most 768 tokens back; the window op is erased once nothing else uses it.
    The reference and the GPU pipeline keep the parts.
  }];
  let dependentDialects = ["::linrec::LinrecDialect"];
}

def LinrecFuseHeadsNorms : Pass<"linrec-fuse-heads-norms"> {
  let summary = "Move a norm over all heads of a recurrence's output into its kernel";
  let description = [{
    A `linrec.heads_rms_norm` of a recurrence's output #0 (TransNormer's SimpleRMSNorm, its
    only use) becomes the recurrence's `heads_norm_eps`: the chunked CPU kernel then keeps every
    head of a batch row in one work item and normalizes each chunk's outputs while they are in
    the cache, instead of two more passes over the output. That leaves B work items, so only
    batches of at least `min-batch` rows move (one row would run on one thread); so do only
    chunkable recurrences with static shapes and without `cu_seqlens`.
  }];
  let options = [
    Option<"minBatch", "min-batch", "int64_t", /*default=*/"2",
           "Batch rows below which the norm stays apart (parallelism over B·H)">
  ];
  let dependentDialects = ["::linrec::LinrecDialect"];
}

def LinrecExpandLayerOps : Pass<"linrec-expand-layer-ops"> {
  let summary = "Write linrec's layer-level tensor ops as linalg";
  let description = [{
    `linrec.heads_rms_norm` becomes two `linalg.generic`s (the sum of squares over the heads and
    the head dim, then the division), for code generators that compile it apart from the
    recurrence: the layer functions' loops on the CPU, the host on the GPU.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"
  ];
}

def LinrecFuseDelays : Pass<"linrec-fuse-delays"> {
  let summary = "Fold token shifts of recurrence inputs into input delays";
  let description = [{
    A recurrence input that is another tensor moved w tokens later with zeros first
    (`tensor.extract_slice` of a `tensor.pad` with w zero rows before T: LoLCATs' keys, which
    enter the state when they leave the window) becomes that tensor read with a delay of w
    (the recurrence's `delays`): the kernel reads the row w tokens back instead of a shifted
    copy. Recurrences with `cu_seqlens` are left alone (a pad of packed sequences crosses their
    boundaries). Both code generators read delayed rows (the per-token loads they share).
  }];
  let dependentDialects = ["::linrec::LinrecDialect"];
}

def LinrecLowerReverse : Pass<"linrec-lower-reverse"> {
  let summary = "Rewrite reverse recurrences as forward ones on token-reversed tensors";
  let description = [{
    A `reverse` recurrence (a backward pass's reverse-time scan) becomes the same recurrence
    running forward, between `linalg.generic` copies that reverse the token dim: each
    `[B, T, H, ...]` input and output is read from the end (index T − 1 − t). With
    `cu_seqlens`, the packed token dim reverses as a whole, which reverses each sequence and
    their order: the offsets become total − cu[N − i], and the initial and final states
    `[N, H, ...]` reverse along N. Delays keep their meaning (they look back in the order
    the tokens run). The portable form of a reverse scan, for a consumer that only runs
    forward recurrences; linrec's own kernels mirror token rows instead (no copies), so the
    pipelines do not run it. Needs static token counts.
  }];
  let dependentDialects = ["::linrec::LinrecDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"];
}

def LinrecTransposeReads : Pass<"linrec-transpose-reads"> {
  let summary = "Turn transposed reads into plain reads of the transposed state";
  let description = [{
    A `linrec.read ... transposed` (S u, the derived backward's reads along the value axis)
    becomes a plain read of Sᵀ. A state read only transposed is then carried transposed: its
    decays with their axes exchanged (key ↔ value; scalar ones stay), its write with key and
    value exchanged, from the transposed initial state, its final state transposed back after
    the recurrence — the same work, and no transpose of the state per chunk. With `mirror`
    (the default), a state also read plainly gets Sᵀ as one more state, from the transposed
    initial state (zeros without one), its final state unused: the GPU schedules read along
    the key axis only, so the GPU pipelines run the pass, and the runtime runs it on a
    function before compiling its recurrences for a GPU target one by one (the copy's
    initial state is then one of their operands). The CPU pipeline runs it with `mirror=0`:
    its kernels read a state both ways themselves. With `mirror`, a state whose chain has a
    delta transition, a masked write or a select has no transposed form: an error naming the
    op; without, such a state keeps its transposed reads. Mirrors need static state shapes
    where a state has an initial one.
  }];
  let options = [
    Option<"mirror", "mirror", "bool", "true",
           "A state read both ways gets a transposed copy; off, it keeps its transposed reads">
  ];
  let dependentDialects = ["::linrec::LinrecDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"];
}

def LinrecBuildBackward : Pass<"linrec-build-backward", "::mlir::ModuleOp"> {
  let summary = "Derive each layer function's backward (@f_backward) from its ops";
  let description = [{
    For every public function @f (or the one `function` names) the pass adds
    `@f<suffix>`: f's arguments, then one cotangent per result (`grad_<result name>`) in;
    one gradient per float argument (`grad_<argument name>`) out, for the loss
    L = Σ ⟨cotangent, result⟩ (conformance README §6). The forward is recomputed inside.

    A `linrec.recurrence` whose states (matrices or normalizers) each take decays (scalar,
    key or value axis), one write and one read gets its adjoint as recurrences: dq from the
    forward state read transposed with the read's cotangent; dk, dv and dβ from the
    reverse-time cotangent state (`reverse`, decays delayed one token), read both ways (with
    `transposed-reads=0`, or value-axis decays, transposed copies of the states instead);
    the initial state's gradient from the first token's transition; every log-decay's
    gradient as a reverse cumulative
    sum of the scaling identity's terms (DESIGN.md §2). A delta rule adds a forward read
    before the write (ε = v − S'ᵀk) and a reverse delta rule (dδ), after which the states are
    plain recurrences again; block-start reads are read at the same blocks (the reverse ones
    from the blocks after). Drivers computed per token in the body (feature maps, norms, gate
    activations) are recomputed in each backward body and differentiated there; outputs
    computed from the reads get their reads' cotangents from one more forward recurrence.
    Around recurrences, `linalg.generic` ops (element-wise maps, contractions such as
    projections, max reductions), `linrec.window_attention` (linalg over the band of keys),
    `linrec.heads_rms_norm` and tensor pads and slices have adjoints. The targets compile the
    result like any function, the recurrences into their kernels. Gradients of log-decays and
    betas, and of arguments marked `linrec.gate` (the layer builder marks the gate-like
    inputs: gate, router and window logits), are marked `linrec.gate` (their f32 error is
    larger: cumulative sums of differences). An op or body it cannot differentiate (products
    of states, masked writes, state selects, …) is an error that names it. Named ops must be
    normalized first (`linrec-normalize`).
  }];
  let options = [
    Option<"function", "function", "std::string", "\"\"",
           "The function to differentiate (default: every public one)">,
    Option<"suffix", "suffix", "std::string", "\"_backward\"",
           "Appended to a function's name to name its backward">,
    Option<"transposedReads", "transposed-reads", "bool", /*default=*/"true",
           "Read the forward and cotangent states along both axes (linrec.read transposed: "
           "dq = S do, dk = R v in the recurrence that gives dv) instead of keeping "
           "transposed copies (the form before transposed reads existed, for comparison)">
  ];
  let dependentDialects = ["::linrec::LinrecDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect", "::mlir::vector::VectorDialect",
                           "::mlir::func::FuncDialect"];
}

def LinrecBuildSequenceParallel : Pass<"linrec-build-sequence-parallel", "::mlir::ModuleOp"> {
  let summary = "Derive each layer function's part summary and resume (sequence parallelism)";
  let description = [{
    Sequence parallelism (LASP-2) splits a layer's tokens into contiguous parts. Every state
    the pass summarizes is affine in its initial state: after a part, S = L(S_start) + c.
    For every public function @f (or the one `function` names) it adds:

    - `@f_summary`: f's arguments, then one identity `[N, H, dk, dk]` per delta rule
      (`r<i>.s<j>.identity`), in; per state j of the i-th recurrence out: `r<i>.s<j>.offset`,
      the final state from f's own initial state (c), and the transition L: the sums of the
      part's log-decays `r<i>.s<j>.scalar_log_decay` `[N, H, 1, 1]`, `.key_log_decay`
      `[N, H, 1, dk]`, `.value_log_decay` `[N, H, 1, dv]` for diagonal decays
      (L(S) = e^{Σγ} diag(e^{Σα}) S diag(e^{Σω}); a state without decays has none: L is the
      identity), or `r<i>.s<j>.transition` `[N, H, dk, dk]` for a delta rule (L(S) = P S: the
      same decays and delta transitions with zero writes, from the identity). The layer's
      outputs are not computed.
    - `@f_resume`: f's arguments, then one carry per state (`r<i>.s<j>.carry`, the final
      state's type), in; f's results out, every recurrence starting from its own initial state
      plus the carry.

    Sizes do not depend on the number of tokens. A part whose layer reaches before its first
    token other than through the states (window attention, delays as zero pads, block-start
    reads: TokenReach) is given with a halo, the tokens before it that it needs: with
    `recurrence-begin` h, every recurrence runs over the tokens from h on (the summary's up
    to `summary-end`), its inputs sliced and, in the resume, its outputs padded with zeros
    over the halo (the caller drops the halo's outputs). Reverse recurrences, state pools,
    window reads inside bodies, `delays` attributes, selects and Hadamard writes (not affine)
    are errors that name the op. Named ops must be normalized first (`linrec-normalize`).
  }];
  let options = [
    Option<"function", "function", "std::string", "\"\"",
           "The function to summarize (default: every public one)">,
    Option<"recurrenceBegin", "recurrence-begin", "int64_t", /*default=*/"0",
           "The part's first token: the tokens before it are its halo, which the layer's "
           "windows and delays read and its recurrences skip">,
    Option<"summaryEnd", "summary-end", "int64_t", /*default=*/"-1",
           "The token after the last one the summary covers (-1: the last token)">
  ];
  let dependentDialects = ["::linrec::LinrecDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect", "::mlir::func::FuncDialect"];
}

def LinrecFuseProjections : Pass<"linrec-fuse-projections"> {
  let summary = "Move per-head projections that feed a recurrence into its body";
  let description = [{
    A `linalg.generic` contraction u[b, t, h, f] = Σ_d x[b, t, h, d] W[h, d, f] from zeros
    (Hedgehog's and LoLCATs' feature-map projections) that computes a recurrence input becomes
    `linrec.project` of x with W in the body: x becomes an input (delayed as u was) and W a
    `[H, D, F]` param, and the kernel computes u per token in its loads instead of a separate
    loop nest writing u to memory; in both code generators (the per-token body cloning they
    share).
  }];
  let dependentDialects = ["::linrec::LinrecDialect"];
}

#endif // LINREC_TRANSFORMS_PASSES_TD
