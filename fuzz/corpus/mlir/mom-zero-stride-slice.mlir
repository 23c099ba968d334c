// Mixture-of-Memories: router softmax over 4 memories, top-1, renormalized (linalg ops), then
// one recurrence holding every gated-delta memory; an unrouted memory neither decays nor writes
// (its k, v, g and beta are selected to zero: the chunked delta rule, not a scan).
// Generated from the conformance case mom_02_top1 by the layer builder:
//   linrec-run --case ../shared/conformance/mom_02_top1 --emit-mlir
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d2)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d3)>
#map6 = affine_map<(d0, d1) -> (d0, d1, 0)>
#map7 = affine_map<(d0, d1) -> (d0, d1)>
#map8 = affine_map<(d0, d1) -> (d0, d1, 1)>
#map9 = affine_map<(d0, d1) -> (d0, d1, 2)>
#map10 = affine_map<(d0, d1) -> (d0, d1, 3)>
module {
  func.func @layer(%arg0: tensor<2x64x1x16xf32> {linrec.name = "q"}, %arg1: tensor<4x2x64x1x16xf32> {linrec.name = "k"}, %arg2: tensor<4x2x64x1x16xf32> {linrec.name = "v"}, %arg3: tensor<4x2x64x1xf32> {linrec.name = "g"}, %arg4: tensor<4x2x64x1xf32> {linrec.name = "beta"}, %arg5: tensor<2x64x4xf32> {linrec.name = "router_logits"}) -> (tensor<2x64x1x16xf32> {linrec.name = "o"}, tensor<4x2x1x16x16xf32> {linrec.name = "final_state"}) {
    %0 = tensor.empty() : tensor<2x64xf32>
    %cst = arith.constant 0xFF800000 : f32
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg5 : tensor<2x64x4xf32>) outs(%1 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.maximumf %in, %out : f32
      linalg.yield %50 : f32
    } -> tensor<2x64xf32>
    %3 = tensor.empty() : tensor<2x64x4xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %4 = linalg.fill ins(%cst_0 : f32) outs(%3 : tensor<2x64x4xf32>) -> tensor<2x64x4xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg5, %2 : tensor<2x64x4xf32>, tensor<2x64xf32>) outs(%4 : tensor<2x64x4xf32>) {
    ^bb0(%in: f32, %in_34: f32, %out: f32):
      %50 = arith.subf %in, %in_34 : f32
      %51 = math.exp %50 : f32
      linalg.yield %51 : f32
    } -> tensor<2x64x4xf32>
    %6 = tensor.empty() : tensor<2x64xf32>
    %cst_1 = arith.constant 0.000000e+00 : f32
    %7 = linalg.fill ins(%cst_1 : f32) outs(%6 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %8 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%5 : tensor<2x64x4xf32>) outs(%7 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.addf %out, %in : f32
      linalg.yield %50 : f32
    } -> tensor<2x64xf32>
    %9 = tensor.empty() : tensor<2x64x4xf32>
    %cst_2 = arith.constant 0.000000e+00 : f32
    %10 = linalg.fill ins(%cst_2 : f32) outs(%9 : tensor<2x64x4xf32>) -> tensor<2x64x4xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%5, %8 : tensor<2x64x4xf32>, tensor<2x64xf32>) outs(%10 : tensor<2x64x4xf32>) {
    ^bb0(%in: f32, %in_34: f32, %out: f32):
      %50 = arith.divf %in, %in_34 : f32
      linalg.yield %50 : f32
    } -> tensor<2x64x4xf32>
    %cst_3 = arith.constant dense<[0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<4xf32>
    %12 = tensor.empty() : tensor<2x64x4xf32>
    %cst_4 = arith.constant 0.000000e+00 : f32
    %13 = linalg.fill ins(%cst_4 : f32) outs(%12 : tensor<2x64x4xf32>) -> tensor<2x64x4xf32>
    %14 = linalg.generic {indexing_maps = [#map2, #map3, #map4, #map5, #map2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%11, %11, %cst_3, %cst_3 : tensor<2x64x4xf32>, tensor<2x64x4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%13 : tensor<2x64x4xf32>) {
    ^bb0(%in: f32, %in_34: f32, %in_35: f32, %in_36: f32, %out: f32):
      %cst_37 = arith.constant 1.000000e+00 : f32
      %cst_38 = arith.constant 0.000000e+00 : f32
      %50 = arith.cmpf ogt, %in_34, %in : f32
      %51 = arith.cmpf oeq, %in_34, %in : f32
      %52 = arith.cmpf olt, %in_36, %in_35 : f32
      %53 = arith.select %52, %cst_37, %cst_38 : f32
      %54 = arith.select %51, %53, %cst_38 : f32
      %55 = arith.select %50, %cst_37, %54 : f32
      %56 = arith.addf %out, %55 : f32
      linalg.yield %56 : f32
    } -> tensor<2x64x4xf32>
    %15 = tensor.empty() : tensor<2x64x4xf32>
    %cst_5 = arith.constant 0.000000e+00 : f32
    %16 = linalg.fill ins(%cst_5 : f32) outs(%15 : tensor<2x64x4xf32>) -> tensor<2x64x4xf32>
    %17 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%11, %14 : tensor<2x64x4xf32>, tensor<2x64x4xf32>) outs(%16 : tensor<2x64x4xf32>) {
    ^bb0(%in: f32, %in_34: f32, %out: f32):
      %cst_35 = arith.constant 1.000000e+00 : f32
      %50 = arith.cmpf olt, %in_34, %cst_35 : f32
      %cst_36 = arith.constant 0.000000e+00 : f32
      %51 = arith.select %50, %in, %cst_36 : f32
      linalg.yield %51 : f32
    } -> tensor<2x64x4xf32>
    %18 = tensor.empty() : tensor<2x64xf32>
    %cst_6 = arith.constant 0.000000e+00 : f32
    %19 = linalg.fill ins(%cst_6 : f32) outs(%18 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %20 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%17 : tensor<2x64x4xf32>) outs(%19 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.addf %out, %in : f32
      linalg.yield %50 : f32
    } -> tensor<2x64xf32>
    %21 = tensor.empty() : tensor<2x64x4xf32>
    %cst_7 = arith.constant 0.000000e+00 : f32
    %22 = linalg.fill ins(%cst_7 : f32) outs(%14 : tensor<2x64x4xf32>) -> tensor<2x64x4xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%17, %20 : tensor<2x64x4xf32>, tensor<2x64xf32>) outs(%22 : tensor<2x64x4xf32>) {
    ^bb0(%in: f32, %in_34: f32, %out: f32):
      %50 = arith.divf %in, %in_34 : f32
      linalg.yield %50 : f32
    } -> tensor<2x64x4xf32>
    %extracted_slice = tensor.extract_slice %arg1[0, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_8 = tensor.extract_slice %arg2[0, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_9 = tensor.extract_slice %arg3[0, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %extracted_slice_10 = tensor.extract_slice %arg3[0, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %24 = tensor.empty() : tensor<2x64xf32>
    %cst_11 = arith.constant 0.000000e+00 : f32
    %25 = linalg.fill ins(%cst_11 : f32) outs(%24 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %26 = linalg.generic {indexing_maps = [#map6, #map7], iterator_types = ["parallel", "parallel"]} ins(%23 : tensor<2x64x4xf32>) outs(%25 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64xf32>
    %27 = tensor.empty() : tensor<2x64x1xf32>
    %cst_12 = arith.constant 0.000000e+00 : f32
    %28 = linalg.fill ins(%cst_12 : f32) outs(%27 : tensor<2x64x1xf32>) -> tensor<2x64x1xf32>
    %29 = linalg.generic {indexing_maps = [#map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%26 : tensor<2x64xf32>) outs(%28 : tensor<2x64x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64x1xf32>
    %extracted_slice_13 = tensor.extract_slice %arg1[1, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 0] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_14 = tensor.extract_slice %arg2[1, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_15 = tensor.extract_slice %arg3[1, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %extracted_slice_16 = tensor.extract_slice %arg4[1, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %30 = tensor.empty() : tensor<2x64xf32>
    %cst_17 = arith.constant 0.000000e+00 : f32
    %31 = linalg.fill ins(%cst_17 : f32) outs(%30 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %32 = linalg.generic {indexing_maps = [#map8, #map7], iterator_types = ["parallel", "parallel"]} ins(%23 : tensor<2x64x4xf32>) outs(%31 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64xf32>
    %33 = tensor.empty() : tensor<2x64x1xf32>
    %cst_18 = arith.constant 0.000000e+00 : f32
    %34 = linalg.fill ins(%cst_18 : f32) outs(%33 : tensor<2x64x1xf32>) -> tensor<2x64x1xf32>
    %35 = linalg.generic {indexing_maps = [#map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%32 : tensor<2x64xf32>) outs(%34 : tensor<2x64x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64x1xf32>
    %extracted_slice_19 = tensor.extract_slice %arg1[2, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_20 = tensor.extract_slice %arg2[2, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_21 = tensor.extract_slice %arg3[2, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %extracted_slice_22 = tensor.extract_slice %arg4[2, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %36 = tensor.empty() : tensor<2x64xf32>
    %cst_23 = arith.constant 0.000000e+00 : f32
    %37 = linalg.fill ins(%cst_23 : f32) outs(%36 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %38 = linalg.generic {indexing_maps = [#map9, #map7], iterator_types = ["parallel", "parallel"]} ins(%23 : tensor<2x64x4xf32>) outs(%37 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64xf32>
    %39 = tensor.empty() : tensor<2x64x1xf32>
    %cst_24 = arith.constant 0.000000e+00 : f32
    %40 = linalg.fill ins(%cst_24 : f32) outs(%39 : tensor<2x64x1xf32>) -> tensor<2x64x1xf32>
    %41 = linalg.generic {indexing_maps = [#map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%38 : tensor<2x64xf32>) outs(%40 : tensor<2x64x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64x1xf32>
    %extracted_slice_25 = tensor.extract_slice %arg1[3, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_26 = tensor.extract_slice %arg2[3, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 1] : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
    %extracted_slice_27 = tensor.extract_slice %arg3[3, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %extracted_slice_28 = tensor.extract_slice %arg4[3, 0, 0, 0] [1, 2, 64, 1] [1, 1, 1, 1] : tensor<4x2x64x1xf32> to tensor<2x64x1xf32>
    %42 = tensor.empty() : tensor<2x64xf32>
    %cst_29 = arith.constant 0.000000e+00 : f32
    %43 = linalg.fill ins(%cst_29 : f32) outs(%42 : tensor<2x64xf32>) -> tensor<2x64xf32>
    %44 = linalg.generic {indexing_maps = [#map10, #map7], iterator_types = ["parallel", "parallel"]} ins(%23 : tensor<2x64x4xf32>) outs(%43 : tensor<2x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64xf32>
    %45 = tensor.empty() : tensor<2x64x1xf32>
    %cst_30 = arith.constant 0.000000e+00 : f32
    %46 = linalg.fill ins(%cst_30 : f32) outs(%45 : tensor<2x64x1xf32>) -> tensor<2x64x1xf32>
    %47 = linalg.generic {indexing_maps = [#map1, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%44 : tensor<2x64xf32>) outs(%46 : tensor<2x64x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      linalg.yield %in : f32
    } -> tensor<2x64x1xf32>
    %48:5 = linrec.recurrence ins(%arg0, %extracted_slice, %extracted_slice_8, %extracted_slice_9, %extracted_slice_10, %29, %extracted_slice_13, %extracted_slice_14, %extracted_slice_15, %extracted_slice_16, %35, %extracted_slice_19, %extracted_slice_20, %extracted_slice_21, %extracted_slice_22, %41, %extracted_slice_25, %extracted_slice_26, %extracted_slice_27, %extracted_slice_28, %47 : tensor<2x64x1x16xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1x16xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>, tensor<2x64x1xf32>) -> (tensor<2x64x1x16xf32>, tensor<2x1x16x16xf32>, tensor<2x1x16x16xf32>, tensor<2x1x16x16xf32>, tensor<2x1x16x16xf32>) {
    ^bb0(%arg6: !linrec.state<16x16xf32>, %arg7: !linrec.state<16x16xf32>, %arg8: !linrec.state<16x16xf32>, %arg9: !linrec.state<16x16xf32>, %arg10: vector<16xf32>, %arg11: vector<16xf32>, %arg12: vector<16xf32>, %arg13: f32, %arg14: f32, %arg15: f32, %arg16: vector<16xf32>, %arg17: vector<16xf32>, %arg18: f32, %arg19: f32, %arg20: f32, %arg21: vector<16xf32>, %arg22: vector<16xf32>, %arg23: f32, %arg24: f32, %arg25: f32, %arg26: vector<16xf32>, %arg27: vector<16xf32>, %arg28: f32, %arg29: f32, %arg30: f32):
      %cst_34 = arith.constant 0.000000e+00 : f32
      %cst_35 = arith.constant dense<0.000000e+00> : vector<16xf32>
      %cst_36 = arith.constant dense<0.000000e+00> : vector<16xf32>
      %50 = arith.cmpf ogt, %arg15, %cst_34 : f32
      %51 = arith.select %50, %arg11, %cst_35 : vector<16xf32>
      %52 = arith.select %50, %arg13, %cst_34 : f32
      %53 = arith.select %50, %arg14, %cst_34 : f32
      %54 = arith.select %50, %arg12, %cst_36 : vector<16xf32>
      %55 = linrec.decay %arg6, %52 : <16x16xf32>, f32
      %56 = linrec.delta %55, %51, %53 : <16x16xf32>, vector<16xf32>
      %57 = linrec.write %56, %51, %54 scaled %53 : <16x16xf32>, vector<16xf32>, vector<16xf32>
      %58 = linrec.read %57, %arg10 scale 2.500000e-01 : <16x16xf32>, vector<16xf32> -> vector<16xf32>
      %59 = vector.broadcast %arg15 : f32 to vector<16xf32>
      %60 = arith.mulf %58, %59 : vector<16xf32>
      %61 = arith.cmpf ogt, %arg20, %cst_34 : f32
      %62 = arith.select %61, %arg16, %cst_35 : vector<16xf32>
      %63 = arith.select %61, %arg18, %cst_34 : f32
      %64 = arith.select %61, %arg19, %cst_34 : f32
      %65 = arith.select %61, %arg17, %cst_36 : vector<16xf32>
      %66 = linrec.decay %arg7, %63 : <16x16xf32>, f32
      %67 = linrec.delta %66, %62, %64 : <16x16xf32>, vector<16xf32>
      %68 = linrec.write %67, %62, %65 scaled %64 : <16x16xf32>, vector<16xf32>, vector<16xf32>
      %69 = linrec.read %68, %arg10 scale 2.500000e-01 : <16x16xf32>, vector<16xf32> -> vector<16xf32>
      %70 = vector.broadcast %arg20 : f32 to vector<16xf32>
      %71 = arith.mulf %69, %70 : vector<16xf32>
      %72 = arith.addf %60, %71 : vector<16xf32>
      %73 = arith.cmpf ogt, %arg25, %cst_34 : f32
      %74 = arith.select %73, %arg21, %cst_35 : vector<16xf32>
      %75 = arith.select %73, %arg23, %cst_34 : f32
      %76 = arith.select %73, %arg24, %cst_34 : f32
      %77 = arith.select %73, %arg22, %cst_36 : vector<16xf32>
      %78 = linrec.decay %arg8, %75 : <16x16xf32>, f32
      %79 = linrec.delta %78, %74, %76 : <16x16xf32>, vector<16xf32>
      %80 = linrec.write %79, %74, %77 scaled %76 : <16x16xf32>, vector<16xf32>, vector<16xf32>
      %81 = linrec.read %80, %arg10 scale 2.500000e-01 : <16x16xf32>, vector<16xf32> -> vector<16xf32>
      %82 = vector.broadcast %arg25 : f32 to vector<16xf32>
      %83 = arith.mulf %81, %82 : vector<16xf32>
      %84 = arith.addf %72, %83 : vector<16xf32>
      %85 = arith.cmpf ogt, %arg30, %cst_34 : f32
      %86 = arith.select %85, %arg26, %cst_35 : vector<16xf32>
      %87 = arith.select %85, %arg28, %cst_34 : f32
      %88 = arith.select %85, %arg29, %cst_34 : f32
      %89 = arith.select %85, %arg27, %cst_36 : vector<16xf32>
      %90 = linrec.decay %arg9, %87 : <16x16xf32>, f32
      %91 = linrec.delta %90, %86, %88 : <16x16xf32>, vector<16xf32>
      %92 = linrec.write %91, %86, %89 scaled %88 : <16x16xf32>, vector<16xf32>, vector<16xf32>
      %93 = linrec.read %92, %arg10 scale 2.500000e-01 : <16x16xf32>, vector<16xf32> -> vector<16xf32>
      %94 = vector.broadcast %arg30 : f32 to vector<16xf32>
      %95 = arith.mulf %93, %94 : vector<16xf32>
      %96 = arith.addf %84, %95 : vector<16xf32>
      linrec.yield states(%57, %68, %80, %92 : !linrec.state<16x16xf32>, !linrec.state<16x16xf32>, !linrec.state<16x16xf32>, !linrec.state<16x16xf32>) outputs(%96 : vector<16xf32>)
    }
    %49 = tensor.empty() : tensor<4x2x1x16x16xf32>
    %inserted_slice = tensor.insert_slice %48#1 into %49[0, 0, 0, 0, 0] [1, 2, 1, 16, 16] [1, 1, 1, 1, 1] : tensor<2x1x16x16xf32> into tensor<4x2x1x16x16xf32>
    %inserted_slice_31 = tensor.insert_slice %48#2 into %inserted_slice[1, 0, 0, 0, 0] [1, 2, 1, 16, 16] [1, 1, 1, 1, 1] : tensor<2x1x16x16xf32> into tensor<4x2x1x16x16xf32>
    %inserted_slice_32 = tensor.insert_slice %48#3 into %inserted_slice_31[2, 0, 0, 0, 0] [1, 2, 1, 16, 16] [1, 1, 1, 1, 1] : tensor<2x1x16x16xf32> into tensor<4x2x1x16x16xf32>
    %inserted_slice_33 = tensor.insert_slice %48#4 into %inserted_slice_32[3, 0, 0, 0, 0] [1, 2, 1, 16, 16] [1, 1, 1, 1, 1] : tensor<2x1x16x16xf32> into tensor<4x2x1x16x16xf32>
    return %48#0, %inserted_slice_33 : tensor<2x64x1x16xf32>, tensor<4x2x1x16x16xf32>
  }
}
