// TransNormer DiagAttention: causal attention inside blocks of 64 tokens, relu weights,
// then SimpleRMSNorm over all heads (linrec.window_attention <block>, linrec.heads_rms_norm).
// Generated from the conformance case transnormer_diag_03_short by the layer builder:
//   linrec-run --case ../shared/conformance/transnormer_diag_03_short --emit-mlir
module {
  func.func @layer(%arg0: tensor<1x7x3x16xf32> {linrec.name = "q"}, %arg1: tensor<1x7x3x16xf32> {linrec.name = "k"}, %arg2: tensor<1x7x3x32xf32> {linrec.name = "v"}) -> (tensor<1x7x3x32xf32> {linrec.name = "o"}) {
    %o = linrec.window_attention %arg0, %arg1, %arg2 window <block> size 64 weighting <relu> {scale = 2.500000e-01 : f64} : (tensor<1x7x3x16xf32>, tensor<1x7x3x16xf32>, tensor<1x7x3x32xf32>) -> tensor<1x7x3x32xf32>
    %0 = linrec.heads_rms_norm %o {eps = 9.9999999392252903E-9 : f64} : tensor<1x7x3x32xf32>
    return %0 : tensor<1x7x3x32xf32>
  }
}
