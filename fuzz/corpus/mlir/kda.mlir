// KDA-style gated delta rule with a key-vector decay,
//   S_t = (I − β_t k_t k_tᵀ) diag(e^{gk_t}) S_{t-1} + β_t k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t).
func.func @kda(
    %q: tensor<2x256x4x64xf32> {linrec.name = "q"}, %k: tensor<2x256x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x256x4x64xf32> {linrec.name = "v"}, %gk: tensor<2x256x4x64xf32> {linrec.name = "gk"},
    %beta: tensor<2x256x4xf32> {linrec.name = "beta"})
    -> (tensor<2x256x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.kda %q, %k, %v gate(%gk) beta(%beta) {scale = 0.125 : f64}
      : (tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>,
         tensor<2x256x4xf32>)
      -> (tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>)
  return %o, %sT : tensor<2x256x4x64xf32>, tensor<2x4x64x64xf32>
}
