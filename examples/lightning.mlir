// Lightning Attention-2 / TNL / RetNet: a constant decay per head,
//   S_t = λ_h S_{t-1} + k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t),  log λ_h = decay[h] <= 0.
// Here the TNL rule for layer 0 of 24 with H = 4: log λ_h = −2^{−8h/H}·(1 + 1e−5).
func.func @lightning(
    %q: tensor<2x512x4x64xf32> {linrec.name = "q"}, %k: tensor<2x512x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x512x4x64xf32> {linrec.name = "v"})
    -> (tensor<2x512x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %decay = arith.constant dense<[-0.2500025, -0.0625006, -0.0156252, -0.0039063]> : tensor<4xf64>
  %o, %sT = linrec.lightning %q, %k, %v decay(%decay) {scale = 0.125 : f64}
      : (tensor<2x512x4x64xf32>, tensor<2x512x4x64xf32>, tensor<2x512x4x64xf32>, tensor<4xf64>)
      -> (tensor<2x512x4x64xf32>, tensor<2x4x64x64xf32>)
  return %o, %sT : tensor<2x512x4x64xf32>, tensor<2x4x64x64xf32>
}
