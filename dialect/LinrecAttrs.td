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
    I32EnumAttrCase<"Sequential", 2, "sequential">
  ]> {
  let cppNamespace = "::linrec";
  let genSpecializedAttr = 0;
}
def Linrec_AlgorithmAttr : EnumAttr<Linrec_Dialect, Linrec_Algorithm, "algorithm"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // LINREC_ATTRS_TD
