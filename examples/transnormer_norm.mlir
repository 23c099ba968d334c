// TransNormer NormAttention: linear attention with elu feature maps, no denominator,
// then SimpleRMSNorm over all heads of a token (linrec.heads_rms_norm; with two or more batch
// rows the CPU computes it inside the chunked kernel).
// Generated from the conformance case transnormer_norm_02_elu by the layer builder:
//   linrec-run --case ../shared/conformance/transnormer_norm_02_elu --emit-mlir
module {
  func.func @layer(%arg0: tensor<1x64x4x16xf32> {linrec.name = "q"}, %arg1: tensor<1x64x4x16xf32> {linrec.name = "k"}, %arg2: tensor<1x64x4x16xf32> {linrec.name = "v"}) -> (tensor<1x64x4x16xf32> {linrec.name = "o"}, tensor<1x4x16x16xf32> {linrec.name = "final_state"}) {
    %o, %finalState = linrec.linear_attention %arg0, %arg1, %arg2 {feature_map = #linrec.feature_map<elu>} : (tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>) -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>)
    %0 = linrec.heads_rms_norm %o {eps = 9.9999999392252903E-9 : f64} : tensor<1x64x4x16xf32>
    return %0, %finalState : tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>
  }
}
