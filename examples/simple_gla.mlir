// Simple GLA: a data-dependent scalar decay per head and token,
//   S_t = e^{g_t} S_{t-1} + k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t),  g: [B, T, H] log-decay.
func.func @simple_gla(
    %q: tensor<2x256x4x64xf32> {linrec.name = "q"}, %k: tensor<2x256x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x256x4x64xf32> {linrec.name = "v"}, %g: tensor<2x256x4xf32> {linrec.name = "g"})
    -> (tensor<2x256x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.simple_gla %q, %k, %v gate(%g) {scale = 0.125 : f64}
      : (tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4xf32>)
      -> (tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>)
  return %o, %sT : tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>
}
