// DeltaNet (Schlag et al. 2021; Yang et al. 2024): the delta rule,
//   S_t = (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t).
// Keys are used as given: pass L2-normalized keys (or use linrec.l2norm in a generic body).
func.func @deltanet(
    %q: tensor<2x256x4x64xf32> {linrec.name = "q"}, %k: tensor<2x256x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x256x4x64xf32> {linrec.name = "v"}, %beta: tensor<2x256x4xf32> {linrec.name = "beta"})
    -> (tensor<2x256x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.deltanet %q, %k, %v beta(%beta) {scale = 0.125 : f64}
      : (tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4xf32>)
      -> (tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>)
  return %o, %sT : tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>
}
