//===- LinrecModelOps.td - named members of the family ------*- tablegen -*-===//
//
// Sugar for the common recurrences. Each op states its model in the terms its users know
// (fla's argument names) and spells itself as a generic linrec.recurrence through
// ModelOpInterface; `linrec-normalize` performs that rewrite.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_MODEL_OPS_TD
#define LINREC_MODEL_OPS_TD

include "LinrecDialect.td"
include "LinrecAttrs.td"
include "LinrecInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// q, k, v, then the model's own operands (`modelArgs`, printed by `modelFormat`), then the
// optional initial state, cu_seqlens and state indices (the states in pools: see
// linrec.recurrence) and the scale, then `trailingArgs`.
class Linrec_ModelOp<string mnemonic, dag modelArgs, string modelFormat,
                     dag trailingArgs = (ins), string trailingFormat = "",
                     dag extraResults = (outs)>
    : Linrec_Op<mnemonic, [Pure, AttrSizedOperandSegments,
                           DeclareOpInterfaceMethods<Linrec_ModelOpInterface>]> {
  let arguments = !con(
      (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v),
      modelArgs,
      (ins Optional<AnyRankedTensor>:$initialState,
           Optional<Linrec_I32Vector1D>:$cuSeqlens,
           Optional<Linrec_I32Vector1D>:$stateIndices,
           DefaultValuedAttr<F64Attr, "1.0">:$scale),
      trailingArgs);
  let results = !con((outs AnyRankedTensor:$o, AnyRankedTensor:$finalState), extraResults);
  let assemblyFormat = "$q `,` $k `,` $v " # modelFormat #
      " (`init` `(` $initialState^ `)`)? (`cu_seqlens` `(` $cuSeqlens^ `)`)? " #
      " (`state_indices` `(` $stateIndices^ `)`)? " #
      trailingFormat # " attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Linrec_LinearAttentionOp : Linrec_ModelOp<"linear_attention", (ins), "",
    (ins Optional<AnyRankedTensor>:$initialZ,
         DefaultValuedAttr<Linrec_FeatureMapKindAttr,
                           "::linrec::FeatureMapKind::Identity">:$feature_map,
         UnitAttr:$normalize, DefaultValuedAttr<F32Attr, "1.0e-6f">:$eps),
    "(`init_z` `(` $initialZ^ `)`)?", (outs Optional<AnyRankedTensor>:$finalZ)> {
  let summary = "linear attention: S_t = S_{t-1} + φ(k_t) v_tᵀ, optionally normalized";
  let description = [{
    o_t = S_tᵀ(scale·φ(q_t)). With `normalize`, a normalizer z_t = z_{t-1} + φ(k_t) divides
    the read: o_t = S_tᵀ(scale·φ(q_t)) / ((scale·φ(q_t))ᵀ z_t + eps), and the op also returns
    the final z (`[B, H, dk]`).

    ```mlir
    %o, %sT = linrec.linear_attention %q, %k, %v {feature_map = #linrec.feature_map<elu>, scale = 0.25 : f64}
        : (tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x32xf32>)
        -> (tensor<1x64x2x32xf32>, tensor<1x2x16x32xf32>)
    ```
  }];
}

def Linrec_LightningOp : Linrec_ModelOp<"lightning",
    (ins AnyRankedTensor:$logDecay), "`decay` `(` $logDecay `)`"> {
  let summary = "constant decay per head (Lightning Attention-2, TNL, RetNet)";
  let description = [{
    S_t = e^{log_decay[h]} S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ(scale·q_t); `log_decay` is `[H]`.
  }];
}

def Linrec_SimpleGLAOp : Linrec_ModelOp<"simple_gla",
    (ins AnyRankedTensor:$g), "`gate` `(` $g `)`"> {
  let summary = "scalar data-dependent decay: S_t = e^{g_t} S_{t-1} + k_t v_tᵀ";
  let description = [{ `g` is the `[B, T, H]` log-decay. }];
}

def Linrec_GLAOp : Linrec_ModelOp<"gla",
    (ins AnyRankedTensor:$gk, Optional<AnyRankedTensor>:$gv),
    "`gate` `(` $gk `)` (`value_gate` `(` $gv^ `)`)?"> {
  let summary = "key-vector decay: S_t = diag(e^{gk_t}) S_{t-1} diag(e^{gv_t}) + k_t v_tᵀ";
  let description = [{
    `gk` is the `[B, T, H, dk]` log-decay; the optional `gv` (`[B, T, H, dv]`) decays the
    value dim as well.
  }];
}

def Linrec_DeltaNetOp : Linrec_ModelOp<"deltanet",
    (ins AnyRankedTensor:$beta), "`beta` `(` $beta `)`"> {
  let summary = "DeltaNet: S_t = (I - β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ";
  let description = [{
    `beta` is `[B, T, H]`. Keys are used as given (normalize them before, or with
    `linrec.l2norm` in a generic body).
  }];
}

def Linrec_GatedDeltaNetOp : Linrec_ModelOp<"gated_deltanet",
    (ins AnyRankedTensor:$g, AnyRankedTensor:$beta),
    "`gate` `(` $g `)` `beta` `(` $beta `)`"> {
  let summary = "Gated DeltaNet: S_t = (I - β_t k_t k_tᵀ) e^{g_t} S_{t-1} + β_t k_t v_tᵀ";
}

def Linrec_KDAOp : Linrec_ModelOp<"kda",
    (ins AnyRankedTensor:$gk, AnyRankedTensor:$beta),
    "`gate` `(` $gk `)` `beta` `(` $beta `)`"> {
  let summary = "key-vector gated delta rule: S_t = (I - β_t k_t k_tᵀ) diag(e^{gk_t}) S_{t-1} + β_t k_t v_tᵀ";
}

def Linrec_LigerGLAOp : Linrec_ModelOp<"liger_gla",
    (ins AnyRankedTensor:$graw), "`gate_raw` `(` $graw `)`",
    (ins DefaultValuedAttr<F64Attr, "16.0">:$gate_normalizer)> {
  let summary = "Liger-GLA: GLA with softmax feature maps and a gate from the key projection";
  let description = [{
    Liger linearizes a pretrained transformer into GLA without new parameters: q̂ = softmax(q)
    and k̂ = softmax(k) over the head dim, and the key-vector log-decay is built from the raw
    key projection `graw` (`[B, T, H, dk]`): α_t = logsigmoid(graw_t) / gate_normalizer.
    S_t = diag(e^{α_t}) S_{t-1} + k̂_t v_tᵀ, o_t = S_tᵀ(scale·q̂_t); no denominator. Liger
    uses scale 1 and gate_normalizer 16.

    ```mlir
    %o, %sT = linrec.liger_gla %q, %k, %v gate_raw(%k) {gate_normalizer = 16.0 : f64}
        : (tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x32xf32>,
           tensor<1x64x2x16xf32>) -> (tensor<1x64x2x32xf32>, tensor<1x2x16x32xf32>)
    ```
  }];
}

def Linrec_LigerHGRN2Op : Linrec_Op<"liger_hgrn2", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Linrec_ModelOpInterface>]> {
  let summary = "Liger-HGRN2: the key is one minus the forget gate";
  let description = [{
    q̂ = softmax(q) over the head dim, α_t = logsigmoid(graw_t), and the written key is
    k̂_t = 1 − e^{α_t} = σ(−graw_t): S_t = diag(e^{α_t}) S_{t-1} + k̂_t v_tᵀ,
    o_t = S_tᵀ(scale·q̂_t). There is no key input.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$v, AnyRankedTensor:$graw,
                       Optional<AnyRankedTensor>:$initialState,
                       Optional<Linrec_I32Vector1D>:$cuSeqlens,
                       Optional<Linrec_I32Vector1D>:$stateIndices,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs AnyRankedTensor:$o, AnyRankedTensor:$finalState);
  let assemblyFormat = "$q `,` $v `gate_raw` `(` $graw `)` (`init` `(` $initialState^ `)`)? "
      "(`cu_seqlens` `(` $cuSeqlens^ `)`)? (`state_indices` `(` $stateIndices^ `)`)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // LINREC_MODEL_OPS_TD
