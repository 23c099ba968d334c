// TransNormer NormAttention: linear attention with elu feature maps, no denominator,
// then SimpleRMSNorm over all heads of a token (two linalg.generic ops).
// Generated from the conformance case transnormer_norm_02_elu by the layer builder:
//   linrec-run --case ../shared/conformance/transnormer_norm_02_elu --emit-mlir
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
module {
  func.func @layer(%arg0: tensor<1x64x4x16xf32> {linrec.name = "q"}, %arg1: tensor<1x64x4x16xf32> {linrec.name = "k"}, %arg2: tensor<1x64x4x16xf32> {linrec.name = "v"}) -> (tensor<1x64x4x16xf32> {linrec.name = "o"}, tensor<1x4x16x16xf32> {linrec.name = "final_state"}) {
    %o, %finalState = linrec.linear_attention %arg0, %arg1, %arg2 {feature_map = #linrec.feature_map<elu>} : (tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>) -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>)
    %0 = tensor.empty() : tensor<1x64xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x64xf32>) -> tensor<1x64xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%o : tensor<1x64x4x16xf32>) outs(%1 : tensor<1x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %5 = arith.mulf %in, %in : f32
      %6 = arith.addf %out, %5 : f32
      linalg.yield %6 : f32
    } -> tensor<1x64xf32>
    %3 = tensor.empty() : tensor<1x64x4x16xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o, %2 : tensor<1x64x4x16xf32>, tensor<1x64xf32>) outs(%3 : tensor<1x64x4x16xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %cst_1 = arith.constant 6.400000e+01 : f32
      %5 = arith.divf %in_0, %cst_1 : f32
      %6 = math.sqrt %5 : f32
      %cst_2 = arith.constant 9.99999993E-9 : f32
      %7 = arith.addf %6, %cst_2 : f32
      %8 = arith.divf %in, %7 : f32
      linalg.yield %8 : f32
    } -> tensor<1x64x4x16xf32>
    return %4, %finalState : tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>
  }
}
