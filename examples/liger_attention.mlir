// Liger Attention: 0.5 · Liger-GLA + 0.5 · sliding-window softmax attention (window 64) over
// the same values; the mix is element-wise and linrec-fuse moves it into the kernel's stores,
// then on the CPU linrec-fuse-windows moves the window into the recurrence as a
// linrec.window_read: one chunked kernel computes both terms from the same chunk tiles.
// Generated from the conformance case liger_attention_03_short by the layer builder:
//   linrec-run --case ../shared/conformance/liger_attention_03_short --emit-mlir
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
module {
  func.func @layer(%arg0: tensor<1x7x1x64xf32> {linrec.name = "q"}, %arg1: tensor<1x7x1x64xf32> {linrec.name = "k"}, %arg2: tensor<1x7x1x16xf32> {linrec.name = "v"}, %arg3: tensor<1x7x1x64xf32> {linrec.name = "graw"}, %arg4: tensor<1x7x1x64xf32> {linrec.name = "q_attn"}, %arg5: tensor<1x7x1x64xf32> {linrec.name = "k_attn"}) -> (tensor<1x7x1x16xf32> {linrec.name = "o"}, tensor<1x1x64x16xf32> {linrec.name = "final_state"}) {
    %o = linrec.window_attention %arg4, %arg5, %arg2 window <sliding> size 64 weighting <softmax> {scale = 1.250000e-01 : f64} : (tensor<1x7x1x64xf32>, tensor<1x7x1x64xf32>, tensor<1x7x1x16xf32>) -> tensor<1x7x1x16xf32>
    %o_0, %finalState = linrec.liger_gla %arg0, %arg1, %arg2 gate_raw(%arg3) : (tensor<1x7x1x64xf32>, tensor<1x7x1x64xf32>, tensor<1x7x1x16xf32>, tensor<1x7x1x64xf32>) -> (tensor<1x7x1x16xf32>, tensor<1x1x64x16xf32>)
    %0 = tensor.empty() : tensor<1x7x1x16xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o_0, %o : tensor<1x7x1x16xf32>, tensor<1x7x1x16xf32>) outs(%0 : tensor<1x7x1x16xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %cst = arith.constant 5.000000e-01 : f32
      %2 = arith.mulf %in, %cst : f32
      %cst_2 = arith.constant 5.000000e-01 : f32
      %3 = arith.mulf %in_1, %cst_2 : f32
      %4 = arith.addf %2, %3 : f32
      linalg.yield %4 : f32
    } -> tensor<1x7x1x16xf32>
    return %1, %finalState : tensor<1x7x1x16xf32>, tensor<1x1x64x16xf32>
  }
}
