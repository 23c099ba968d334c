// Gated Linear Attention (Yang et al. 2023): a key-vector decay,
//   S_t = diag(e^{gk_t}) S_{t-1} + k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t),  gk: [B, T, H, dk].
// `value_gate(%gv)` would decay the value dim as well (S diag(e^{gv_t})).
func.func @gla(
    %q: tensor<2x256x4x64xf32> {linrec.name = "q"}, %k: tensor<2x256x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x256x4x128xf32> {linrec.name = "v"}, %gk: tensor<2x256x4x64xf32> {linrec.name = "gk"})
    -> (tensor<2x256x4x128xf32> {linrec.name = "o"}, tensor<2x4x64x128xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.gla %q, %k, %v gate(%gk) {scale = 0.125 : f64}
      : (tensor<2x256x4x64xf32>, tensor<2x256x4x64xf32>, tensor<2x256x4x128xf32>, tensor<2x256x4x64xf32>)
      -> (tensor<2x256x4x128xf32>, tensor<2x4x64x128xf32>)
  return %o, %sT : tensor<2x256x4x128xf32>, tensor<2x4x64x128xf32>
}
