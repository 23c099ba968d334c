// Normalized linear attention (Katharopoulos et al. 2020) with the 1+elu feature map:
//   S_t = S_{t-1} + φ(k_t) v_tᵀ,  z_t = z_{t-1} + φ(k_t),
//   o_t = S_tᵀ(scale·φ(q_t)) / ((scale·φ(q_t))ᵀ z_t + eps).
// Without `normalize` it is plain linear attention and returns (o, final_state).
func.func @linear_attention(
    %q: tensor<1x256x4x32xf32> {linrec.name = "q"}, %k: tensor<1x256x4x32xf32> {linrec.name = "k"},
    %v: tensor<1x256x4x64xf32> {linrec.name = "v"})
    -> (tensor<1x256x4x64xf32> {linrec.name = "o"}, tensor<1x4x32x64xf32> {linrec.name = "final_state"},
        tensor<1x4x32xf32> {linrec.name = "final_z"}) {
  %o, %sT, %zT = linrec.linear_attention %q, %k, %v
      {feature_map = #linrec.feature_map<elu_plus_one>, normalize, eps = 1.0e-6 : f32, scale = 1.0 : f64}
      : (tensor<1x256x4x32xf32>, tensor<1x256x4x32xf32>, tensor<1x256x4x64xf32>)
      -> (tensor<1x256x4x64xf32>, tensor<1x4x32x64xf32>, tensor<1x4x32xf32>)
  return %o, %sT, %zT : tensor<1x256x4x64xf32>, tensor<1x4x32x64xf32>, tensor<1x4x32xf32>
}
