// Liger-HGRN2 (Lan et al. 2025): HGRN2 rebuilt from a pretrained transformer's projections.
//   q̂ = softmax(q) over the head dim,  α_t = logsigmoid(graw_t)  (graw: the key projection),
//   the written key is 1 − e^{α_t} = σ(−graw_t):  S_t = diag(e^{α_t}) S_{t-1} + k̂_t v_tᵀ,
//   o_t = S_tᵀ q̂_t.  There is no separate key input.
func.func @liger_hgrn2(
    %q: tensor<1x192x4x64xf32> {linrec.name = "q"}, %v: tensor<1x192x4x64xf32> {linrec.name = "v"},
    %graw: tensor<1x192x4x64xf32> {linrec.name = "graw"})
    -> (tensor<1x192x4x64xf32> {linrec.name = "o"}, tensor<1x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.liger_hgrn2 %q, %v gate_raw(%graw)
      : (tensor<1x192x4x64xf32>, tensor<1x192x4x64xf32>, tensor<1x192x4x64xf32>)
      -> (tensor<1x192x4x64xf32>, tensor<1x4x64x64xf32>)
  return %o, %sT : tensor<1x192x4x64xf32>, tensor<1x4x64x64xf32>
}
