//===- LinrecAttrs.td - linrec attributes -------------------*- tablegen -*-===//

#ifndef LINREC_ATTRS_TD
#define LINREC_ATTRS_TD

include "LinrecDialect.td"
include "mlir/IR/EnumAttr.td"

def Linrec_DecayAxis : I32EnumAttr<"DecayAxis", "axis a vector log-decay applies along", [
    I32EnumAttrCase<"Key", 0, "key">,     // diag(e^g) S: row i scaled by e^{g_i}
    I32EnumAttrCase<"Value", 1, "value">  // S diag(e^g): column j scaled by e^{g_j}
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_DecayAxisAttr : EnumAttr<Linrec_Dialect, Linrec_DecayAxis, "decay_axis"> {
  let assemblyFormat = "`<` $value `>`";
}

def Linrec_FeatureMapKind : I32EnumAttr<"FeatureMapKind",
    "element-wise or per-vector map applied to a token's features", [
    I32EnumAttrCase<"Identity", 0, "identity">,
    I32EnumAttrCase<"Relu", 1, "relu">,
    I32EnumAttrCase<"Elu", 2, "elu">,
    I32EnumAttrCase<"EluPlusOne", 3, "elu_plus_one">,
    I32EnumAttrCase<"Exp", 4, "exp">,
    I32EnumAttrCase<"Sigmoid", 5, "sigmoid">,
    I32EnumAttrCase<"LogSigmoid", 6, "logsigmoid">,
    I32EnumAttrCase<"Softplus", 7, "softplus">,
    I32EnumAttrCase<"Softmax", 8, "softmax">
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_FeatureMapKindAttr
    : EnumAttr<Linrec_Dialect, Linrec_FeatureMapKind, "feature_map"> {
  let assemblyFormat = "`<` $value `>`";
}

def Linrec_Algorithm : I32EnumAttr<"Algorithm",
    "how a recurrence is evaluated (chosen by linrec-classify)", [
    // Decays, writes and reads only: intra-chunk attention blocks + inter-chunk state passing.
    I32EnumAttrCase<"ChunkedDiagonal", 0, "chunked_diagonal">,
    // A delta transition: the same plus a per-chunk triangular solve (WY / UT transform).
    I32EnumAttrCase<"ChunkedDelta", 1, "chunked_delta">,
    // Anything else the verifier accepts: an exact token-by-token scan.
    I32EnumAttrCase<"Sequential", 2, "sequential">,
    // Reads of products of plain-written states (tensor attention): per chunk, the
    // chunk-start states' product, the cross terms of in-chunk keys with the other state, and
    // the exact in-chunk pairs. Never chosen by the analysis (the scan costs less on the
    // CPU); a recurrence marked so runs it (docs/CPU-codegen.md).
    I32EnumAttrCase<"ChunkedProduct", 3, "chunked_product">
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_AlgorithmAttr : EnumAttr<Linrec_Dialect, Linrec_Algorithm, "algorithm"> {
  let assemblyFormat = "`<` $value `>`";
}

def Linrec_WindowKind : I32EnumAttr<"WindowKind",
    "which keys a query attends to in linrec.window_attention", [
    // The last `size` keys, the query's own included: max(0, i − size + 1) <= j <= i.
    I32EnumAttrCase<"Sliding", 0, "sliding">,
    // The query's own block of `size` tokens (blocks start at token 0): ⌊j/size⌋ = ⌊i/size⌋.
    I32EnumAttrCase<"Block", 1, "block">,
    // Its own block and the previous one: max(0, (⌊i/size⌋ − 1)·size) <= j <= i.
    I32EnumAttrCase<"Terraced", 2, "terraced">
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_WindowKindAttr : EnumAttr<Linrec_Dialect, Linrec_WindowKind, "window"> {
  let assemblyFormat = "`<` $value `>`";
}

def Linrec_WindowWeighting : I32EnumAttr<"WindowWeighting",
    "how linrec.window_attention weighs the scores s_ij = scale · q_iᵀ k_j", [
    // softmax over the window: o_i = Σ_j softmax_j(s_ij) v_j.
    I32EnumAttrCase<"Softmax", 0, "softmax">,
    // o_i = Σ_j relu(s_ij) v_j, no denominator.
    I32EnumAttrCase<"Relu", 1, "relu">,
    // Unnormalized, shifted by the window max m_i: o_i = Σ_j e^{s_ij − m_i} v_j and the
    // denominator Σ_j e^{s_ij − m_i} as a second result (hybrids add their own terms).
    I32EnumAttrCase<"ShiftedExp", 2, "shifted_exp">
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_WindowWeightingAttr
    : EnumAttr<Linrec_Dialect, Linrec_WindowWeighting, "weighting"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // LINREC_ATTRS_TD
