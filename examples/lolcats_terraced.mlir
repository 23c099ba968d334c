// LoLCATs with a terraced window: a query sees its own 64-block and the previous one by
// softmax; the keys of block m enter the linear state at block m + 2 (an event sequence).
// Generated from the conformance case lolcats_02_terraced by the layer builder:
//   linrec-run --case ../shared/conformance/lolcats_02_terraced --emit-mlir
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d2)>
module {
  func.func @layer(%arg0: tensor<1x257x1x16xf32> {linrec.name = "q"}, %arg1: tensor<1x257x1x16xf32> {linrec.name = "k"}, %arg2: tensor<1x257x1x16xf32> {linrec.name = "v"}, %arg3: tensor<1x16x16xf32> {linrec.name = "Wq"}, %arg4: tensor<1x16x16xf32> {linrec.name = "Wk"}, %arg5: tensor<1xf32> {linrec.name = "window_logit"}) -> (tensor<1x257x1x16xf32> {linrec.name = "o"}) {
    %o, %denominator = linrec.window_attention %arg0, %arg1, %arg2 window <terraced> size 64 weighting <shifted_exp> {scale = 2.500000e-01 : f64} : (tensor<1x257x1x16xf32>, tensor<1x257x1x16xf32>, tensor<1x257x1x16xf32>) -> (tensor<1x257x1x16xf32>, tensor<1x257x1xf32>)
    %0 = tensor.empty() : tensor<1x257x1x16xf32>
    %cst = arith.constant 0.000000e+00 : f32
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<1x257x1x16xf32>) -> tensor<1x257x1x16xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg3 : tensor<1x257x1x16xf32>, tensor<1x16x16xf32>) outs(%1 : tensor<1x257x1x16xf32>) {
    ^bb0(%in: f32, %in_47: f32, %out: f32):
      %9 = arith.mulf %in, %in_47 : f32
      %10 = arith.addf %out, %9 : f32
      linalg.yield %10 : f32
    } -> tensor<1x257x1x16xf32>
    %3 = tensor.empty() : tensor<1x257x1x16xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %4 = linalg.fill ins(%cst_0 : f32) outs(%3 : tensor<1x257x1x16xf32>) -> tensor<1x257x1x16xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg1, %arg4 : tensor<1x257x1x16xf32>, tensor<1x16x16xf32>) outs(%4 : tensor<1x257x1x16xf32>) {
    ^bb0(%in: f32, %in_47: f32, %out: f32):
      %9 = arith.mulf %in, %in_47 : f32
      %10 = arith.addf %out, %9 : f32
      linalg.yield %10 : f32
    } -> tensor<1x257x1x16xf32>
    %cst_1 = arith.constant dense<0.000000e+00> : tensor<1x449x1x16xf32>
    %cst_2 = arith.constant dense<0.000000e+00> : tensor<1x449x1x16xf32>
    %cst_3 = arith.constant dense<0.000000e+00> : tensor<1x449x1x16xf32>
    %extracted_slice = tensor.extract_slice %2[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice = tensor.insert_slice %extracted_slice into %cst_1[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_4 = tensor.extract_slice %2[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_5 = tensor.insert_slice %extracted_slice_4 into %inserted_slice[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_6 = tensor.extract_slice %5[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_7 = tensor.insert_slice %extracted_slice_6 into %cst_2[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_8 = tensor.extract_slice %arg2[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_9 = tensor.insert_slice %extracted_slice_8 into %cst_3[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_10 = tensor.extract_slice %2[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_11 = tensor.insert_slice %extracted_slice_10 into %inserted_slice_5[0, 192, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_12 = tensor.extract_slice %5[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_13 = tensor.insert_slice %extracted_slice_12 into %inserted_slice_7[0, 256, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_14 = tensor.extract_slice %arg2[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_15 = tensor.insert_slice %extracted_slice_14 into %inserted_slice_9[0, 256, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_16 = tensor.extract_slice %2[0, 192, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_17 = tensor.insert_slice %extracted_slice_16 into %inserted_slice_11[0, 320, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_18 = tensor.extract_slice %5[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_19 = tensor.insert_slice %extracted_slice_18 into %inserted_slice_13[0, 384, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_20 = tensor.extract_slice %arg2[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_21 = tensor.insert_slice %extracted_slice_20 into %inserted_slice_15[0, 384, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x449x1x16xf32>
    %extracted_slice_22 = tensor.extract_slice %2[0, 256, 0, 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x257x1x16xf32> to tensor<1x1x1x16xf32>
    %inserted_slice_23 = tensor.insert_slice %extracted_slice_22 into %inserted_slice_17[0, 448, 0, 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x1x1x16xf32> into tensor<1x449x1x16xf32>
    %cst_24 = arith.constant dense<"0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F00000000"> : tensor<1x449x1xf32>
    %6:4 = linrec.recurrence ins(%inserted_slice_23, %inserted_slice_19, %inserted_slice_21, %cst_24 : tensor<1x449x1x16xf32>, tensor<1x449x1x16xf32>, tensor<1x449x1x16xf32>, tensor<1x449x1xf32>) -> (tensor<1x449x1x16xf32>, tensor<1x449x1xf32>, tensor<1x1x32x16xf32>, tensor<1x1x32xf32>) {
    ^bb0(%arg6: !linrec.state<32x16xf32>, %arg7: !linrec.state<32xf32>, %arg8: vector<16xf32>, %arg9: vector<16xf32>, %arg10: vector<16xf32>, %arg11: f32):
      %9 = linrec.hedgehog_map <softmax> %arg8 : vector<16xf32> -> vector<32xf32>
      %10 = linrec.hedgehog_map <softmax> %arg9 : vector<16xf32> -> vector<32xf32>
      %11 = linrec.write %arg6, %10, %arg10 scaled %arg11 : <32x16xf32>, vector<32xf32>, vector<16xf32>
      %12 = linrec.write %arg7, %10 scaled %arg11 : <32xf32>, vector<32xf32>
      %13 = linrec.read %11, %9 : <32x16xf32>, vector<32xf32> -> vector<16xf32>
      %14 = linrec.read %12, %9 : <32xf32>, vector<32xf32> -> f32
      linrec.yield states(%11, %12 : !linrec.state<32x16xf32>, !linrec.state<32xf32>) outputs(%13, %14 : vector<16xf32>, f32)
    }
    %cst_25 = arith.constant dense<0.000000e+00> : tensor<1x257x1x16xf32>
    %cst_26 = arith.constant dense<0.000000e+00> : tensor<1x257x1xf32>
    %extracted_slice_27 = tensor.extract_slice %6#0[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x449x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_28 = tensor.insert_slice %extracted_slice_27 into %cst_25[0, 0, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x257x1x16xf32>
    %extracted_slice_29 = tensor.extract_slice %6#1[0, 0, 0] [1, 64, 1] [1, 1, 1] : tensor<1x449x1xf32> to tensor<1x64x1xf32>
    %inserted_slice_30 = tensor.insert_slice %extracted_slice_29 into %cst_26[0, 0, 0] [1, 64, 1] [1, 1, 1] : tensor<1x64x1xf32> into tensor<1x257x1xf32>
    %extracted_slice_31 = tensor.extract_slice %6#0[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x449x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_32 = tensor.insert_slice %extracted_slice_31 into %inserted_slice_28[0, 64, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x257x1x16xf32>
    %extracted_slice_33 = tensor.extract_slice %6#1[0, 64, 0] [1, 64, 1] [1, 1, 1] : tensor<1x449x1xf32> to tensor<1x64x1xf32>
    %inserted_slice_34 = tensor.insert_slice %extracted_slice_33 into %inserted_slice_30[0, 64, 0] [1, 64, 1] [1, 1, 1] : tensor<1x64x1xf32> into tensor<1x257x1xf32>
    %extracted_slice_35 = tensor.extract_slice %6#0[0, 192, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x449x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_36 = tensor.insert_slice %extracted_slice_35 into %inserted_slice_32[0, 128, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x257x1x16xf32>
    %extracted_slice_37 = tensor.extract_slice %6#1[0, 192, 0] [1, 64, 1] [1, 1, 1] : tensor<1x449x1xf32> to tensor<1x64x1xf32>
    %inserted_slice_38 = tensor.insert_slice %extracted_slice_37 into %inserted_slice_34[0, 128, 0] [1, 64, 1] [1, 1, 1] : tensor<1x64x1xf32> into tensor<1x257x1xf32>
    %extracted_slice_39 = tensor.extract_slice %6#0[0, 320, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x449x1x16xf32> to tensor<1x64x1x16xf32>
    %inserted_slice_40 = tensor.insert_slice %extracted_slice_39 into %inserted_slice_36[0, 192, 0, 0] [1, 64, 1, 16] [1, 1, 1, 1] : tensor<1x64x1x16xf32> into tensor<1x257x1x16xf32>
    %extracted_slice_41 = tensor.extract_slice %6#1[0, 320, 0] [1, 64, 1] [1, 1, 1] : tensor<1x449x1xf32> to tensor<1x64x1xf32>
    %inserted_slice_42 = tensor.insert_slice %extracted_slice_41 into %inserted_slice_38[0, 192, 0] [1, 64, 1] [1, 1, 1] : tensor<1x64x1xf32> into tensor<1x257x1xf32>
    %extracted_slice_43 = tensor.extract_slice %6#0[0, 448, 0, 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x449x1x16xf32> to tensor<1x1x1x16xf32>
    %inserted_slice_44 = tensor.insert_slice %extracted_slice_43 into %inserted_slice_40[0, 256, 0, 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x1x1x16xf32> into tensor<1x257x1x16xf32>
    %extracted_slice_45 = tensor.extract_slice %6#1[0, 448, 0] [1, 1, 1] [1, 1, 1] : tensor<1x449x1xf32> to tensor<1x1x1xf32>
    %inserted_slice_46 = tensor.insert_slice %extracted_slice_45 into %inserted_slice_42[0, 256, 0] [1, 1, 1] [1, 1, 1] : tensor<1x1x1xf32> into tensor<1x257x1xf32>
    %7 = tensor.empty() : tensor<1x257x1x16xf32>
    %8 = linalg.generic {indexing_maps = [#map3, #map4, #map3, #map4, #map5, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o, %denominator, %inserted_slice_44, %inserted_slice_46, %arg5 : tensor<1x257x1x16xf32>, tensor<1x257x1xf32>, tensor<1x257x1x16xf32>, tensor<1x257x1xf32>, tensor<1xf32>) outs(%7 : tensor<1x257x1x16xf32>) {
    ^bb0(%in: f32, %in_47: f32, %in_48: f32, %in_49: f32, %in_50: f32, %out: f32):
      %cst_51 = arith.constant 1.000000e+00 : f32
      %9 = arith.negf %in_50 : f32
      %10 = math.exp %9 : f32
      %11 = arith.addf %cst_51, %10 : f32
      %12 = arith.divf %cst_51, %11 : f32
      %cst_52 = arith.constant 1.000000e+00 : f32
      %13 = arith.mulf %12, %in : f32
      %14 = arith.mulf %cst_52, %in_48 : f32
      %15 = arith.addf %13, %14 : f32
      %16 = arith.mulf %12, %in_47 : f32
      %17 = arith.mulf %cst_52, %in_49 : f32
      %18 = arith.addf %16, %17 : f32
      %19 = arith.divf %15, %18 : f32
      linalg.yield %19 : f32
    } -> tensor<1x257x1x16xf32>
    return %8 : tensor<1x257x1x16xf32>
  }
}
