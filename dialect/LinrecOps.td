//===- LinrecOps.td - linrec ops ----------------------------*- tablegen -*-===//

#ifndef LINREC_OPS_TD
#define LINREC_OPS_TD

include "LinrecDialect.td"
include "LinrecTypes.td"
include "LinrecAttrs.td"
include "LinrecInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Linrec_I32Vector1D : 1DTensorOf<[I32]>;

def Linrec_RecurrenceOp : Linrec_Op<"recurrence",
    [AttrSizedOperandSegments, IsolatedFromAbove, RecursiveMemoryEffects,
     SingleBlock]> {
  let summary = "a linear-attention recurrence described by its per-token step";
  let description = [{
    The body describes one token step for one (sequence, head). Its block arguments are, in
    order: one `!linrec.state` per state; one value per `ins` operand (a `[B, T, H, D]` tensor
    gives `vector<D x f32>`, a `[B, T, H]` tensor gives `f32`); one value per `params` operand
    (per-head constants: `[H]` gives `f32`, `[H, D]` gives `vector<D x f32>`). The body yields
    the updated states and the token's outputs.

    Results: one `[B, T, H, D]` (or `[B, T, H]`) tensor per yielded output, then one final
    state per state (`[B, H, dk, dv]` or `[B, H, dk]`). `init` gives the initial states of the
    first states in order (a prefix); the others start at zero. With `cu_seqlens` (N+1 int32
    offsets) the inputs are packed `[1, total_T, H, D]`, every sequence restarts from its own
    initial state, and the states are `[N, H, ...]`.

    `state_indices` (N int32, one per sequence: B, or the sequences of `cu_seqlens`) keeps
    the states in a pool, as serving engines do for continuous batching: every state then
    has an init, each init is a pool `[P, H, ...]` of P slots, sequence n starts from slot
    `state_indices[n]` of it, and each final state is its pool with those slots replaced by
    the sequences' final states (the other slots unchanged). The indices must be distinct
    and in [0, P). A pool whose final state is bufferized in place of its init is updated
    in place: a decode step touches only the slots of its sequences.

    `delays` (one per input, >= 0) delays inputs: with delay w, input i's body argument at
    token t is its row at t − w of the same sequence, zeros for the first w tokens (LoLCATs'
    keys enter the state when they leave the window). `linrec-fuse-delays` folds a zero
    `tensor.pad` + `tensor.extract_slice` along T into it.

    `reverse` runs every sequence from its last token to its first: the state after token t
    comes from the state after token t + 1, delays look forward (input i's argument at token
    t is its row at t + w), the initial state is the one before the last token and the final
    state the one after the first. Backward recurrences run this way (the cotangent of a
    state flows from the end of the sequence). The kernels read and write each token's row
    mirrored inside its sequence, so a reverse recurrence costs what a forward one does;
    `linrec-lower-reverse` gives the same as a forward recurrence on token-reversed copies.
    Window reads and block-start reads are defined for the forward direction only.

    `chunk_size` is a schedule hint; `algorithm` records what `linrec-classify` decided
    (`chunked_diagonal`, `chunked_delta` or `sequential`).

    `heads_norm_eps` normalizes output #0 (`[B, T, H, D]`) over all heads of each token, as
    `linrec.heads_rms_norm` with that eps does: `linrec-fuse-heads-norms` sets it, and the
    chunked CPU kernel then holds every head of a batch row in one work item.

    ```mlir
    %o, %sT = linrec.recurrence ins(%q, %k, %v, %g, %beta : ...) init(%s0 : ...)
        -> (tensor<2x64x4x32xf32>, tensor<2x4x16x32xf32>) {
    ^bb0(%S: !linrec.state<16x32xf32>, %qt: vector<16xf32>, %kt: vector<16xf32>,
         %vt: vector<32xf32>, %gt: f32, %bt: f32):
      %S1 = linrec.decay %S, %gt : !linrec.state<16x32xf32>, f32
      %S2 = linrec.delta %S1, %kt, %bt : !linrec.state<16x32xf32>, vector<16xf32>
      %S3 = linrec.write %S2, %kt, %vt scaled %bt : !linrec.state<16x32xf32>, vector<16xf32>, vector<32xf32>
      %ot = linrec.read %S3, %qt : !linrec.state<16x32xf32>, vector<16xf32> -> vector<32xf32>
      linrec.yield states(%S3 : !linrec.state<16x32xf32>) outputs(%ot : vector<32xf32>)
    }
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, Variadic<AnyRankedTensor>:$params,
                       Variadic<AnyRankedTensor>:$inits,
                       Optional<Linrec_I32Vector1D>:$cuSeqlens,
                       Optional<Linrec_I32Vector1D>:$stateIndices,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$chunk_size,
                       OptionalAttr<Linrec_AlgorithmAttr>:$algorithm,
                       OptionalAttr<DenseI64ArrayAttr>:$delays,
                       OptionalAttr<F64Attr>:$heads_norm_eps,
                       UnitAttr:$reverse);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    (`ins` `(` $inputs^ `:` type($inputs) `)`)?
    (`params` `(` $params^ `:` type($params) `)`)?
    (`init` `(` $inits^ `:` type($inits) `)`)?
    (`cu_seqlens` `(` $cuSeqlens^ `:` type($cuSeqlens) `)`)?
    (`state_indices` `(` $stateIndices^ `:` type($stateIndices) `)`)?
    attr-dict `->` `(` type($results) `)` $body
  }];
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes, "::mlir::ValueRange":$inputs,
                   "::mlir::ValueRange":$params, "::mlir::ValueRange":$inits,
                   "::mlir::Value":$cuSeqlens,
                   CArg<"::mlir::Value", "{}">:$stateIndices)>
  ];
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    YieldOp getYield();
    unsigned getNumStates();
    unsigned getNumOutputs();
    /// The per-token output tensors, then the final states.
    ::mlir::ResultRange getOutputs();
    ::mlir::ResultRange getFinalStates();
    /// The body arguments: states, then one per input, then one per param.
    ::mlir::Block::BlockArgListType getStateArgs();
    ::mlir::Block::BlockArgListType getInputArgs();
    ::mlir::Block::BlockArgListType getParamArgs();
    /// How many tokens input #i is delayed by (0 without `delays`).
    int64_t getInputDelay(unsigned i);
    /// The state argument whose next value is `yielded` (a value the body yields as a state).
    ::mlir::BlockArgument getStateArgOf(::mlir::Value yielded);
  }];
}

include "LinrecBodyOps.td"
include "LinrecWindowOps.td"
include "LinrecModelOps.td"
include "LinrecLayerOps.td"

#endif // LINREC_OPS_TD
