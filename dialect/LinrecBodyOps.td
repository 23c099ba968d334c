//===- LinrecBodyOps.td - ops inside a recurrence body ------*- tablegen -*-===//
//
// One token step over the state: decay, delta transition, write, read, select, and the
// per-token feature maps that prepare q, k and gates.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_BODY_OPS_TD
#define LINREC_BODY_OPS_TD

include "LinrecDialect.td"
include "LinrecTypes.td"
include "LinrecAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

def Linrec_F32Vector : VectorOfRankAndType<[1], [F32]>;
def Linrec_F32OrVector : AnyTypeOf<[F32, Linrec_F32Vector]>;

def Linrec_DecayOp : Linrec_Op<"decay", [Pure, AllTypesMatch<["state", "result"]>]> {
  let summary = "multiplies the state by e^{log_decay}";
  let description = [{
    A scalar `f32` log-decay scales the whole state. A vector log-decay needs an axis:
    `along <key>` scales row i by e^{g_i} (diag(e^g) S, size dk), `along <value>` scales
    column j by e^{g_j} (S diag(e^g), size dv; matrix states only). Log-decays are <= 0.

    ```mlir
    %S1 = linrec.decay %S, %g : !linrec.state<64x64xf32>, f32
    %S2 = linrec.decay %S1, %gk along <key> : !linrec.state<64x64xf32>, vector<64xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$state, Linrec_F32OrVector:$logDecay,
                       OptionalAttr<Linrec_DecayAxisAttr>:$axis);
  let results = (outs Linrec_StateType:$result);
  let assemblyFormat = [{
    $state `,` $logDecay (`along` $axis^)? attr-dict `:` type($state) `,` type($logDecay)
  }];
  let hasVerifier = 1;
}

def Linrec_DeltaOp : Linrec_Op<"delta", [Pure, AllTypesMatch<["state", "result"]>]> {
  let summary = "the delta-rule transition (I - beta k kᵀ) S";
  let description = [{
    ```mlir
    %S2 = linrec.delta %S1, %k, %beta : !linrec.state<64x64xf32>, vector<64xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$state, Linrec_F32Vector:$key, F32:$beta);
  let results = (outs Linrec_StateType:$result);
  let assemblyFormat = [{
    $state `,` $key `,` $beta attr-dict `:` type($state) `,` type($key)
  }];
  let hasVerifier = 1;
}

def Linrec_WriteOp : Linrec_Op<"write",
    [Pure, AttrSizedOperandSegments, AllTypesMatch<["state", "result"]>]> {
  let summary = "adds beta · k vᵀ to a matrix state, or beta · k to a normalizer";
  let description = [{
    `scaled %beta` multiplies the write (the delta rule's β k vᵀ); without it beta is 1.
    `if %mask` makes the write conditional: a token whose mask is false writes nothing.

    ```mlir
    %S3 = linrec.write %S2, %k, %v scaled %beta : !linrec.state<64x32xf32>, vector<64xf32>, vector<32xf32>
    %z1 = linrec.write %z, %k : !linrec.state<64xf32>, vector<64xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$state, Linrec_F32Vector:$key,
                       Optional<Linrec_F32Vector>:$value, Optional<F32>:$beta,
                       Optional<I1>:$mask);
  let results = (outs Linrec_StateType:$result);
  let assemblyFormat = [{
    $state `,` $key (`,` $value^)? (`scaled` $beta^)? (`if` $mask^)? attr-dict
    `:` type($state) `,` type($key) (`,` type($value)^)?
  }];
  let hasVerifier = 1;
}

def Linrec_WriteHadamardOp : Linrec_Op<"write_hadamard",
    [Pure, AllTypesMatch<["state", "result"]>]> {
  let summary = "adds (k vᵀ) ⊙ X to a matrix state, or k ⊙ x to a normalizer";
  let description = [{
    The adjoint of `linrec.read_product`: a read (A ⊙ B)ᵀq with cotangent r gives A the
    cotangent (q rᵀ) ⊙ B. The factor X must be a state argument of the body (another state as
    the previous step left it; in a `reverse` recurrence, as the later tokens left it) of the
    same shape; its float type may differ (an f64 X is rounded to the state's type once). The
    token scan runs it; no chunked form takes it.

    ```mlir
    %G1 = linrec.write_hadamard %G, %q, %r times %B : !linrec.state<21x4xf32>, vector<21xf32>, vector<4xf32> times !linrec.state<21x4xf64>
    %g1 = linrec.write_hadamard %g, %q times %b : !linrec.state<21xf32>, vector<21xf32> times !linrec.state<21xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$state, Linrec_F32Vector:$key,
                       Optional<Linrec_F32Vector>:$value, Linrec_StateType:$factor);
  let results = (outs Linrec_StateType:$result);
  let assemblyFormat = [{
    $state `,` $key (`,` $value^)? `times` $factor attr-dict
    `:` type($state) `,` type($key) (`,` type($value)^)? `times` type($factor)
  }];
  let hasVerifier = 1;
}

def Linrec_ReadOp : Linrec_Op<"read", [Pure]> {
  let summary = "reads the state with a query: Sᵀ(scale·q) (a dv vector), or (scale·q)ᵀz";
  let description = [{
    A read sees the state after this token's update: its state operand is the value the
    body yields for that state. It may instead see S'_t, the state after this token's decays
    and before its delta transition and write (the operand those take): DeltaNet's
    correction β(v − S'ᵀk) is such a read, and so is the delta rule's backward. The chunked
    kernels give it the strict causal mask (the token's own key is not in it yet). The
    optional `scale` multiplies the query; it is an f64 so that the float64 reference sees
    the exact value (1/√dk is not an f32).

    `block_start w` reads the state as it was at the start of the token's w-block instead:
    with the token at position t of its sequence, the state after the tokens before position
    ⌊t/w⌋·w (the initial state in the first block). Every query of a block sees the same
    state. Terraced LoLCATs reads its linear term this way (keys delayed by w enter the
    state; a query of block n sees the keys before block n − 1). The chunked kernels compute
    it from the chunk-start state with a block mask instead of the causal one, in chunks of
    a multiple of w; a state with decays is read at block starts by the token scan only.
    In a `reverse` recurrence the blocks are the same positions (counted from the sequence's
    start) and a block's start is its first token in running order, its last in the
    sequence: the read sees the state after the later blocks' tokens (the backward of a
    block-start read; the token scan runs it).

    `transposed` reads along the other axis: S(scale·u) for a dv-vector u, a dk-vector (a
    matrix state only; no block starts). The derived backward reads its cotangent state both
    ways in one recurrence (dv = Rᵀk and dk = Rv) and the forward state with the output's
    cotangent (dq = S do) instead of keeping a transposed copy of the state, whose key decays
    would be value-axis decays there. The CPU's chunked kernel computes it from the same
    chunk buffers; `linrec-transpose-reads` turns it into a plain read of such a copy for the
    other kernels.

    ```mlir
    %o = linrec.read %S3, %q : !linrec.state<64x32xf32>, vector<64xf32> -> vector<32xf32>
    %d = linrec.read %z1, %q : !linrec.state<64xf32>, vector<64xf32> -> f32
    %b = linrec.read %S3, %q block_start 64 : !linrec.state<64x32xf32>, vector<64xf32> -> vector<32xf32>
    %p = linrec.read %S3, %u transposed : !linrec.state<64x32xf32>, vector<32xf32> -> vector<64xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$state, Linrec_F32Vector:$query,
                       OptionalAttr<F64Attr>:$scale, OptionalAttr<I64Attr>:$blockStart,
                       UnitAttr:$transposed);
  let results = (outs Linrec_F32OrVector:$result);
  let assemblyFormat = [{
    $state `,` $query (`scale` $scale^)? (`block_start` $blockStart^)? (`transposed` $transposed^)?
    attr-dict `:` type($state) `,` type($query) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// Whether the read sees S'_t (after the token's decays, before its delta transition
    /// and write) rather than S_t: its state is not a yielded one (the recurrence verifier
    /// allows no other).
    bool seesStateBeforeWrite();
    /// The checks of a transposed read (query dv, result dk).
    ::mlir::LogicalResult verifyTransposed();
  }];
  let hasVerifier = 1;
}

def Linrec_ReadProductOp : Linrec_Op<"read_product",
    [Pure, AllTypesMatch<["first", "second"]>]> {
  let summary = "reads the element-wise product of two states: (S1 ⊙ S2)ᵀ q, or qᵀ(z1 ⊙ z2)";
  let description = [{
    Tensor attention linearized with polynomial features keeps one state per key stream and
    combines them at read time by a Hadamard product. Like `linrec.read`, both states must be
    the values the body yields for them (S_t, after this token's update).

    ```mlir
    %o = linrec.read_product %S1, %S2, %phi : !linrec.state<273x16xf32>, vector<273xf32> -> vector<16xf32>
    ```
  }];
  let arguments = (ins Linrec_StateType:$first, Linrec_StateType:$second,
                       Linrec_F32Vector:$query);
  let results = (outs Linrec_F32OrVector:$result);
  let assemblyFormat = [{
    $first `,` $second `,` $query attr-dict `:` type($first) `,` type($query) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Linrec_PolynomialMapOp : Linrec_Op<"polynomial_map", [Pure]> {
  let summary = "Taylor features of e^{qᵀk}: [1, x, x⊗x, …] scaled by (p!)^{-1/3}";
  let description = [{
    φ(x) = concat over p = 0 … degree of (p!)^{-1/3} · x^{⊗p} (x^{⊗0} = [1], x^{⊗p} the p-fold
    outer product flattened with the last factor fastest): Σ_a φ(q)_a φ(k1)_a φ(k2)_a is the
    degree-g Taylor polynomial of e^{z} at the trilinear score z = Σ_l q_l k1_l k2_l. A
    d-vector has Σ_p d^p features.

    ```mlir
    %phi = linrec.polynomial_map %x degree 2 : vector<16xf32> -> vector<273xf32>
    ```
  }];
  let arguments = (ins Linrec_F32Vector:$input, I64Attr:$degree);
  let results = (outs Linrec_F32Vector:$result);
  let assemblyFormat = "$input `degree` $degree attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Linrec_SelectOp : Linrec_Op<"select",
    [Pure, AllTypesMatch<["trueState", "falseState", "result"]>]> {
  let summary = "picks one of two states of the same chain (routing, masked updates)";
  let description = [{
    Mixture-of-Memories: a memory that the router does not pick for a token neither decays
    nor writes.

    ```mlir
    %S4 = linrec.select %routed, %S3, %S : !linrec.state<64x64xf32>
    ```
  }];
  let arguments = (ins I1:$condition, Linrec_StateType:$trueState,
                       Linrec_StateType:$falseState);
  let results = (outs Linrec_StateType:$result);
  let assemblyFormat = [{
    $condition `,` $trueState `,` $falseState attr-dict `:` type($result)
  }];
}

def Linrec_FeatureMapOp : Linrec_Op<"feature_map",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "a feature map or gate activation on a token's features";
  let description = [{
    Element-wise maps (`identity`, `relu`, `elu`, `elu_plus_one`, `exp`, `sigmoid`,
    `logsigmoid`, `softplus`) take an f32 or a vector; `softmax` (over the head dim) takes a
    vector.

    ```mlir
    %qf = linrec.feature_map <softmax> %q : vector<64xf32>
    %lg = linrec.feature_map <logsigmoid> %graw : vector<64xf32>
    ```
  }];
  let arguments = (ins Linrec_FeatureMapKindAttr:$kind, Linrec_F32OrVector:$input);
  let results = (outs Linrec_F32OrVector:$result);
  let assemblyFormat = "$kind $input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Linrec_HedgehogMapOp : Linrec_Op<"hedgehog_map", [Pure]> {
  let summary = "Hedgehog feature map: [f(u), f(−u)] with f = softmax or exp";
  let description = [{
    The feature map of Hedgehog (Zhang et al. 2024) and LoLCATs on a projected token
    u = xᵀW + b ∈ ℝ^F: `softmax` gives [softmax(u), softmax(−u)] (each half normalized on its
    own), `exp` gives [exp(u), exp(−u)]; the result has 2F features, index f < F from u and F + f
    from −u. The projection is done before the recurrence.

    ```mlir
    %phi = linrec.hedgehog_map <softmax> %u : vector<16xf32> -> vector<32xf32>
    ```
  }];
  let arguments = (ins Linrec_FeatureMapKindAttr:$kind, Linrec_F32Vector:$input);
  let results = (outs Linrec_F32Vector:$result);
  let assemblyFormat = "$kind $input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Linrec_L2NormOp : Linrec_Op<"l2norm", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "x / sqrt(sum x² + eps) over the head dim";
  let arguments = (ins Linrec_F32Vector:$input, DefaultValuedAttr<F32Attr, "1.0e-6f">:$eps);
  let results = (outs Linrec_F32Vector:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Linrec_WindowReadOp : Linrec_Op<"window_read",
    [Pure, AllTypesMatch<["query", "key"]>, AllTypesMatch<["value", "result"]>]> {
  let summary = "attention of the token's query over a window of recent tokens";
  let description = [{
    The window term of a hybrid layer, inside the token step: with this token at position t
    of its sequence, J(t) = [a(t), t] with a(t) as `window` says (`linrec.window_attention`'s
    shapes: sliding, the default: max(0, t − size + 1); terraced: max(0, (⌊t/size⌋ − 1)·size);
    block: ⌊t/size⌋·size), and s_j = scale · query_tᵀ key_j, weighted as
    `linrec.window_attention` does:

    - `softmax` (default): o_t = Σ_{j ∈ J(t)} softmax_j(s_j) value_j (Liger Attention);
    - `relu`: o_t = Σ_{j ∈ J(t)} relu(s_j) value_j;
    - `shifted_exp`: o_t = Σ_{j ∈ J(t)} e^{s_j − m} value_j and the second result
      d_t = Σ_{j ∈ J(t)} e^{s_j − m}, m = max_{j ∈ J(t)} s_j (LoLCATs adds its linear terms to
      both before dividing).

    key_j and value_j are this op's `key` and `value` operands at token j of the same sequence
    and head. It is `linrec.window_attention` written per token: the chunked kernels compute
    it from the chunk's tiles (the windows of a chunk's queries lie in that chunk and the
    `size − 1` tokens before it, `2·size − 1` for a terraced window), and
    `linrec-fuse-windows` moves a window attention that feeds a recurrence into its body as
    this op. Chunked kernels need its operands independent of the states' reads.

    ```mlir
    %w = linrec.window_read %qa, %ka, %v size 64 scale 0.125 : vector<64xf32>, vector<64xf32>
    %n, %d = linrec.window_read %q, %k, %v size 64 scale 0.125 weighting <shifted_exp>
        : vector<64xf32>, vector<64xf32>, f32
    %t, %e = linrec.window_read %q, %k, %v window <terraced> size 64 scale 0.125
        weighting <shifted_exp> : vector<64xf32>, vector<64xf32>, f32
    ```
  }];
  let arguments = (ins Linrec_F32Vector:$query, Linrec_F32Vector:$key, Linrec_F32Vector:$value,
                       DefaultValuedAttr<Linrec_WindowKindAttr, "WindowKind::Sliding">:$window,
                       I64Attr:$size, DefaultValuedAttr<F64Attr, "1.0">:$scale,
                       DefaultValuedAttr<Linrec_WindowWeightingAttr,
                                         "WindowWeighting::Softmax">:$weighting);
  let results = (outs Linrec_F32Vector:$result, Optional<F32>:$denominator);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`window` $window^)? `size` $size `scale` $scale
    (`weighting` $weighting^)? attr-dict `:` type($query) `,` type($value) (`,` type($denominator)^)?
  }];
  let extraClassDeclaration = [{
    /// How many tokens before a query its window reaches (the kernels' history).
    int64_t getReach() { return ::linrec::windowReach(getWindow(), getSize()); }
  }];
  let hasVerifier = 1;
}

def Linrec_ProjectOp : Linrec_Op<"project", [Pure]> {
  let summary = "a per-head linear map of a token's features: u = xᵀ W";
  let description = [{
    `weight` is the body argument of a per-head `[H, D, F]` param (a `vector<D x F>`); the
    result is u_f = Σ_d x_d W[d, f]. Hedgehog's and LoLCATs' feature maps project q and k with
    learned per-head matrices before the map; `linrec-fuse-projections` moves such a projection
    into the recurrence, and the CPU kernels compute it in their loads (the weight rows stay in
    the cache). A `[H, D, F]` param can only be a projection's weight.

    ```mlir
    %u = linrec.project %qt, %Wq : vector<64xf32>, vector<64x32xf32> -> vector<32xf32>
    ```
  }];
  let arguments = (ins Linrec_F32Vector:$input, VectorOfRankAndType<[2], [F32]>:$weight);
  let results = (outs Linrec_F32Vector:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Linrec_YieldOp : Linrec_Op<"yield",
    [Pure, Terminator, ReturnLike, AttrSizedOperandSegments, HasParent<"RecurrenceOp">]> {
  let summary = "ends a token step: the updated states and the token's outputs";
  let arguments = (ins Variadic<Linrec_StateType>:$states,
                       Variadic<Linrec_F32OrVector>:$outputs);
  let assemblyFormat = [{
    (`states` `(` $states^ `:` type($states) `)`)?
    (`outputs` `(` $outputs^ `:` type($outputs) `)`)? attr-dict
  }];
}

#endif // LINREC_BODY_OPS_TD
