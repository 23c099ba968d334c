// LoLCATs with a sliding window: softmax over the last 64 keys (shifted by the window max)
// plus Hedgehog linear attention over the keys that left it (k, v delayed by 64 tokens),
// sharing one denominator.
// Generated from the conformance case lolcats_04_sliding_short by the layer builder:
//   linrec-run --case ../shared/conformance/lolcats_04_sliding_short --emit-mlir
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d2)>
module {
  func.func @layer(%arg0: tensor<1x100x2x16xf32> {linrec.name = "q"}, %arg1: tensor<1x100x2x16xf32> {linrec.name = "k"}, %arg2: tensor<1x100x2x16xf32> {linrec.name = "v"}, %arg3: tensor<2x16x8xf32> {linrec.name = "Wq"}, %arg4: tensor<2x16x8xf32> {linrec.name = "Wk"}, %arg5: tensor<2xf32> {linrec.name = "window_logit"}) -> (tensor<1x100x2x16xf32> {linrec.name = "o"}) {
    %o, %denominator = linrec.window_attention %arg0, %arg1, %arg2 window <sliding> size 64 weighting <shifted_exp> {scale = 2.500000e-01 : f64} : (tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x100x2xf32>)
    %0 = tensor.empty() : tensor<1x100x2x8xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x100x2x8xf32>) -> tensor<1x100x2x8xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg3 : tensor<1x100x2x16xf32>, tensor<2x16x8xf32>) outs(%1 : tensor<1x100x2x8xf32>) {
    ^bb0(%in: f32, %in_6: f32, %out: f32):
      %9 = arith.mulf %in, %in_6 : f32
      %10 = arith.addf %out, %9 : f32
      linalg.yield %10 : f32
    } -> tensor<1x100x2x8xf32>
    %3 = tensor.empty() : tensor<1x100x2x8xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %4 = linalg.fill ins(%cst_0 : f32) outs(%3 : tensor<1x100x2x8xf32>) -> tensor<1x100x2x8xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg1, %arg4 : tensor<1x100x2x16xf32>, tensor<2x16x8xf32>) outs(%4 : tensor<1x100x2x8xf32>) {
    ^bb0(%in: f32, %in_6: f32, %out: f32):
      %9 = arith.mulf %in, %in_6 : f32
      %10 = arith.addf %out, %9 : f32
      linalg.yield %10 : f32
    } -> tensor<1x100x2x8xf32>
    %cst_1 = arith.constant dense<"0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"> : tensor<1x100x2xf32>
    %cst_2 = arith.constant 0.000000e+00 : f32
    %padded = tensor.pad %5 low[0, 64, 0, 0] high[0, 0, 0, 0] {
    ^bb0(%arg6: index, %arg7: index, %arg8: index, %arg9: index):
      tensor.yield %cst_2 : f32
    } : tensor<1x100x2x8xf32> to tensor<1x164x2x8xf32>
    %extracted_slice = tensor.extract_slice %padded[0, 0, 0, 0] [1, 100, 2, 8] [1, 1, 1, 1] : tensor<1x164x2x8xf32> to tensor<1x100x2x8xf32>
    %cst_3 = arith.constant 0.000000e+00 : f32
    %padded_4 = tensor.pad %arg2 low[0, 64, 0, 0] high[0, 0, 0, 0] {
    ^bb0(%arg6: index, %arg7: index, %arg8: index, %arg9: index):
      tensor.yield %cst_3 : f32
    } : tensor<1x100x2x16xf32> to tensor<1x164x2x16xf32>
    %extracted_slice_5 = tensor.extract_slice %padded_4[0, 0, 0, 0] [1, 100, 2, 16] [1, 1, 1, 1] : tensor<1x164x2x16xf32> to tensor<1x100x2x16xf32>
    %6:4 = linrec.recurrence ins(%2, %extracted_slice, %extracted_slice_5, %cst_1 : tensor<1x100x2x8xf32>, tensor<1x100x2x8xf32>, tensor<1x100x2x16xf32>, tensor<1x100x2xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x100x2xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16xf32>) {
    ^bb0(%arg6: !linrec.state<16x16xf32>, %arg7: !linrec.state<16xf32>, %arg8: vector<8xf32>, %arg9: vector<8xf32>, %arg10: vector<16xf32>, %arg11: f32):
      %9 = linrec.hedgehog_map <softmax> %arg8 : vector<8xf32> -> vector<16xf32>
      %10 = linrec.hedgehog_map <softmax> %arg9 : vector<8xf32> -> vector<16xf32>
      %11 = linrec.write %arg6, %10, %arg10 scaled %arg11 : <16x16xf32>, vector<16xf32>, vector<16xf32>
      %12 = linrec.write %arg7, %10 scaled %arg11 : <16xf32>, vector<16xf32>
      %13 = linrec.read %11, %9 : <16x16xf32>, vector<16xf32> -> vector<16xf32>
      %14 = linrec.read %12, %9 : <16xf32>, vector<16xf32> -> f32
      linrec.yield states(%11, %12 : !linrec.state<16x16xf32>, !linrec.state<16xf32>) outputs(%13, %14 : vector<16xf32>, f32)
    }
    %7 = tensor.empty() : tensor<1x100x2x16xf32>
    %8 = linalg.generic {indexing_maps = [#map3, #map4, #map3, #map4, #map5, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o, %denominator, %6#0, %6#1, %arg5 : tensor<1x100x2x16xf32>, tensor<1x100x2xf32>, tensor<1x100x2x16xf32>, tensor<1x100x2xf32>, tensor<2xf32>) outs(%7 : tensor<1x100x2x16xf32>) {
    ^bb0(%in: f32, %in_6: f32, %in_7: f32, %in_8: f32, %in_9: f32, %out: f32):
      %cst_10 = arith.constant 1.000000e+00 : f32
      %9 = arith.negf %in_9 : f32
      %10 = math.exp %9 : f32
      %11 = arith.addf %cst_10, %10 : f32
      %12 = arith.divf %cst_10, %11 : f32
      %cst_11 = arith.constant 1.000000e+00 : f32
      %13 = arith.mulf %12, %in : f32
      %14 = arith.mulf %cst_11, %in_7 : f32
      %15 = arith.addf %13, %14 : f32
      %16 = arith.mulf %12, %in_6 : f32
      %17 = arith.mulf %cst_11, %in_8 : f32
      %18 = arith.addf %16, %17 : f32
      %19 = arith.divf %15, %18 : f32
      linalg.yield %19 : f32
    } -> tensor<1x100x2x16xf32>
    return %8 : tensor<1x100x2x16xf32>
  }
}
