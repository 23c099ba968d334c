// Gated DeltaNet (Yang et al. 2024): the delta rule with a scalar decay per head and token,
//   S_t = (I − β_t k_t k_tᵀ) e^{g_t} S_{t-1} + β_t k_t v_tᵀ,  o_t = S_tᵀ(scale·q_t).
// Keys are expected L2-normalized; g is the log-decay (−exp(A)·softplus(x + dt_bias) in the
// paper), β ∈ (0, 1). This is the README's main job:
//
//   linrec-run examples/gated_deltanet.mlir --random           # random inputs, f64 reference
//   linrec-opt examples/gated_deltanet.mlir --linrec-normalize  # the generic form
func.func @gated_deltanet(
    %q: tensor<2x128x4x64xf32> {linrec.name = "q"}, %k: tensor<2x128x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x128x4x64xf32> {linrec.name = "v"}, %g: tensor<2x128x4xf32> {linrec.name = "g"},
    %beta: tensor<2x128x4xf32> {linrec.name = "beta"},
    %s0: tensor<2x4x64x64xf32> {linrec.name = "initial_state"})
    -> (tensor<2x128x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.gated_deltanet %q, %k, %v gate(%g) beta(%beta) init(%s0) {scale = 0.125 : f64}
      : (tensor<2x128x4x64xf32>, tensor<2x128x4x64xf32>, tensor<2x128x4x64xf32>,
         tensor<2x128x4xf32>, tensor<2x128x4xf32>, tensor<2x4x64x64xf32>)
      -> (tensor<2x128x4x64xf32>, tensor<2x4x64x64xf32>)
  return %o, %sT : tensor<2x128x4x64xf32>, tensor<2x4x64x64xf32>
}
