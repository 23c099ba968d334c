//===- LinrecWindowOps.td - local softmax / relu attention --*- tablegen -*-===//
//
// The attention half of hybrid layers (Liger Attention, LoLCATs) and block-local attention
// (TransNormer DiagAttention): every query attends to a window of nearby keys.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_WINDOW_OPS_TD
#define LINREC_WINDOW_OPS_TD

include "LinrecDialect.td"
include "LinrecAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Linrec_WindowAttentionOp : Linrec_Op<"window_attention", [Pure]> {
  let summary = "attention of every query to a window of nearby keys";
  let description = [{
    For every (b, h) and query i, with s_ij = scale · q_iᵀ k_j over the window J(i) that
    `window` and `size` select (sliding: the last `size` keys; block: the query's own block of
    `size` tokens; terraced: its own block and the previous one; always j <= i):

    - `softmax`: o_i = Σ_{J(i)} softmax_j(s_ij) v_j;
    - `relu`: o_i = Σ_{J(i)} relu(s_ij) v_j;
    - `shifted_exp`: o_i = Σ_{J(i)} e^{s_ij − m_i} v_j and the second result
      d_i = Σ_{J(i)} e^{s_ij − m_i}, m_i = max_{J(i)} s_ij (hybrids add their own terms to
      both before dividing).

    q, k: `[B, T, H, dk]`, v and o: `[B, T, H, dv]`, d: `[B, T, H]`.

    ```mlir
    %o = linrec.window_attention %q, %k, %v window <sliding> size 64 weighting <softmax>
        {scale = 0.125 : f64} : (tensor<1x256x4x64xf32>, tensor<1x256x4x64xf32>,
        tensor<1x256x4x64xf32>) -> tensor<1x256x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
                       Linrec_WindowKindAttr:$window, I64Attr:$size,
                       Linrec_WindowWeightingAttr:$weighting,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs AnyRankedTensor:$o, Optional<AnyRankedTensor>:$denominator);
  let assemblyFormat = "$q `,` $k `,` $v `window` $window `size` $size `weighting` $weighting "
      "attr-dict `:` functional-type(operands, results)";
  let extraClassDeclaration = [{
    /// The window's size for this op's tokens: a window of T tokens or more (static T) sees
    /// every key a window of T sees, so kernels and band tensors take T (a window written as
    /// 4096 over 100 tokens allocated 4096-wide bands).
    int64_t getEffectiveSize() {
      int64_t tokens = ::llvm::cast<::mlir::RankedTensorType>(getQ().getType()).getDimSize(1);
      if (::mlir::ShapedType::isDynamic(tokens) || getSize() <= tokens)
        return getSize();
      return tokens > 0 ? tokens : 1;
    }
    /// How many tokens before a query its window reaches (the kernels' history).
    int64_t getReach() { return ::linrec::windowReach(getWindow(), getEffectiveSize()); }
  }];
  let hasVerifier = 1;
}

#endif // LINREC_WINDOW_OPS_TD
