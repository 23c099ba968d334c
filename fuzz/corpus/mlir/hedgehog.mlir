// Hedgehog (Zhang et al. 2024): normalized linear attention over learned feature maps
// φ(x) = [softmax(xᵀW + b), softmax(−(xᵀW + b))] per head; the projections are linalg.generic
// contractions, the feature map linrec.hedgehog_map, the normalizer a second state.
// Generated from the conformance case hedgehog_03_short by the layer builder:
//   linrec-run --case ../shared/conformance/hedgehog_03_short --emit-mlir
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
module {
  func.func @layer(%arg0: tensor<1x7x4x16xf32> {linrec.name = "q"}, %arg1: tensor<1x7x4x16xf32> {linrec.name = "k"}, %arg2: tensor<1x7x4x32xf32> {linrec.name = "v"}, %arg3: tensor<4x16x8xf32> {linrec.name = "Wq"}, %arg4: tensor<4x16x8xf32> {linrec.name = "Wk"}, %arg5: tensor<1x4x16x32xf32> {linrec.name = "initial_state"}, %arg6: tensor<1x4x16xf32> {linrec.name = "initial_z"}) -> (tensor<1x7x4x32xf32> {linrec.name = "o"}, tensor<1x4x16x32xf32> {linrec.name = "final_state"}, tensor<1x4x16xf32> {linrec.name = "final_z"}) {
    %0 = tensor.empty() : tensor<1x7x4x8xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x7x4x8xf32>) -> tensor<1x7x4x8xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg3 : tensor<1x7x4x16xf32>, tensor<4x16x8xf32>) outs(%1 : tensor<1x7x4x8xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %7 = arith.mulf %in, %in_1 : f32
      %8 = arith.addf %out, %7 : f32
      linalg.yield %8 : f32
    } -> tensor<1x7x4x8xf32>
    %3 = tensor.empty() : tensor<1x7x4x8xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %4 = linalg.fill ins(%cst_0 : f32) outs(%3 : tensor<1x7x4x8xf32>) -> tensor<1x7x4x8xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg1, %arg4 : tensor<1x7x4x16xf32>, tensor<4x16x8xf32>) outs(%4 : tensor<1x7x4x8xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %7 = arith.mulf %in, %in_1 : f32
      %8 = arith.addf %out, %7 : f32
      linalg.yield %8 : f32
    } -> tensor<1x7x4x8xf32>
    %6:3 = linrec.recurrence ins(%2, %5, %arg2 : tensor<1x7x4x8xf32>, tensor<1x7x4x8xf32>, tensor<1x7x4x32xf32>) init(%arg5, %arg6 : tensor<1x4x16x32xf32>, tensor<1x4x16xf32>) -> (tensor<1x7x4x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16xf32>) {
    ^bb0(%arg7: !linrec.state<16x32xf32>, %arg8: !linrec.state<16xf32>, %arg9: vector<8xf32>, %arg10: vector<8xf32>, %arg11: vector<32xf32>):
      %7 = linrec.hedgehog_map <softmax> %arg9 : vector<8xf32> -> vector<16xf32>
      %8 = linrec.hedgehog_map <softmax> %arg10 : vector<8xf32> -> vector<16xf32>
      %9 = linrec.write %arg7, %8, %arg11 : <16x32xf32>, vector<16xf32>, vector<32xf32>
      %10 = linrec.write %arg8, %8 : <16xf32>, vector<16xf32>
      %11 = linrec.read %9, %7 : <16x32xf32>, vector<16xf32> -> vector<32xf32>
      %12 = linrec.read %10, %7 : <16xf32>, vector<16xf32> -> f32
      %cst_1 = arith.constant 9.99999996E-13 : f32
      %13 = arith.addf %12, %cst_1 : f32
      %14 = vector.broadcast %13 : f32 to vector<32xf32>
      %15 = arith.divf %11, %14 : vector<32xf32>
      linrec.yield states(%9, %10 : !linrec.state<16x32xf32>, !linrec.state<16xf32>) outputs(%15 : vector<32xf32>)
    }
    return %6#0, %6#1, %6#2 : tensor<1x7x4x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16xf32>
  }
}
