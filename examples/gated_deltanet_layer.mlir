// A whole Gated DeltaNet token mixer (as fla's GatedDeltaNet layer computes it after its
// projections), written in the generic DSL so that every per-token op is fused into the kernel:
//   q̂, k̂ = L2-normalized q, k                       β = σ(b)
//   g = −exp(A_log[h]) · softplus(a + dt_bias[h])     (log-decay, always <= 0)
//   S_t = (I − β k̂ k̂ᵀ) e^{g} S_{t−1} + β k̂ vᵀ,        o = S_tᵀ q̂ / √dk
//   y = RMSNorm(o) ⊙ w[h] ⊙ silu(z)                   (the gated output norm, per head)
// The CPU kernel computes the gates and norms in its chunk prologue and the RMSNorm and gate
// in its epilogue: no extra pass over memory.
func.func @gated_deltanet_layer(
    %q: tensor<2x128x4x64xf32> {linrec.name = "q"}, %k: tensor<2x128x4x64xf32> {linrec.name = "k"},
    %v: tensor<2x128x4x64xf32> {linrec.name = "v"}, %a: tensor<2x128x4xf32> {linrec.name = "a"},
    %b: tensor<2x128x4xf32> {linrec.name = "b"}, %z: tensor<2x128x4x64xf32> {linrec.name = "z"},
    %A_log: tensor<4xf32> {linrec.name = "A_log"}, %dt_bias: tensor<4xf32> {linrec.name = "dt_bias"},
    %w: tensor<4x64xf32> {linrec.name = "norm_weight"})
    -> (tensor<2x128x4x64xf32> {linrec.name = "o"}, tensor<2x4x64x64xf32> {linrec.name = "final_state"}) {
  %y, %sT = linrec.recurrence
      ins(%q, %k, %v, %a, %b, %z : tensor<2x128x4x64xf32>, tensor<2x128x4x64xf32>,
          tensor<2x128x4x64xf32>, tensor<2x128x4xf32>, tensor<2x128x4xf32>, tensor<2x128x4x64xf32>)
      params(%A_log, %dt_bias, %w : tensor<4xf32>, tensor<4xf32>, tensor<4x64xf32>)
      -> (tensor<2x128x4x64xf32>, tensor<2x4x64x64xf32>) {
  ^bb0(%S: !linrec.state<64x64xf32>, %qt: vector<64xf32>, %kt: vector<64xf32>, %vt: vector<64xf32>,
       %at: f32, %bt: f32, %zt: vector<64xf32>, %alog: f32, %dtb: f32, %wt: vector<64xf32>):
    %qn = linrec.l2norm %qt : vector<64xf32>
    %kn = linrec.l2norm %kt : vector<64xf32>
    %beta = linrec.feature_map <sigmoid> %bt : f32
    %x = arith.addf %at, %dtb : f32
    %sp = linrec.feature_map <softplus> %x : f32
    %ea = math.exp %alog : f32
    %prod = arith.mulf %ea, %sp : f32
    %g = arith.negf %prod : f32
    %S1 = linrec.decay %S, %g : !linrec.state<64x64xf32>, f32
    %S2 = linrec.delta %S1, %kn, %beta : !linrec.state<64x64xf32>, vector<64xf32>
    %S3 = linrec.write %S2, %kn, %vt scaled %beta : !linrec.state<64x64xf32>, vector<64xf32>, vector<64xf32>
    %o = linrec.read %S3, %qn scale 0.125 : !linrec.state<64x64xf32>, vector<64xf32> -> vector<64xf32>
    // RMSNorm over the head dim, with a per-head weight.
    %sq = arith.mulf %o, %o : vector<64xf32>
    %sum = vector.reduction <add>, %sq : vector<64xf32> into f32
    %inv_d = arith.constant 0.015625 : f32
    %mean = arith.mulf %sum, %inv_d : f32
    %eps = arith.constant 1.0e-5 : f32
    %var = arith.addf %mean, %eps : f32
    %r = math.rsqrt %var : f32
    %rb = vector.broadcast %r : f32 to vector<64xf32>
    %on = arith.mulf %o, %rb : vector<64xf32>
    %ow = arith.mulf %on, %wt : vector<64xf32>
    // Output gate: silu(z) = z · σ(z).
    %sz = linrec.feature_map <sigmoid> %zt : vector<64xf32>
    %silu = arith.mulf %zt, %sz : vector<64xf32>
    %y_t = arith.mulf %ow, %silu : vector<64xf32>
    linrec.yield states(%S3 : !linrec.state<64x64xf32>) outputs(%y_t : vector<64xf32>)
  }
  return %y, %sT : tensor<2x128x4x64xf32>, tensor<2x4x64x64xf32>
}
