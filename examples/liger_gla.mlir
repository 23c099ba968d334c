// Liger-GLA, written in the generic DSL: a new model is a new body, not a new kernel.
//   q̂ = softmax(q), k̂ = softmax(k) over the head dim,
//   log a_t = logsigmoid(graw_t) / 16      (graw = the pretrained key projection),
//   S_t = diag(a_t) S_{t-1} + k̂_t v_tᵀ,   o_t = S_tᵀ q̂_t   (scale 1, no denominator).
func.func @liger_gla(
    %q: tensor<1x128x4x64xf32> {linrec.name = "q"}, %k: tensor<1x128x4x64xf32> {linrec.name = "k"},
    %v: tensor<1x128x4x64xf32> {linrec.name = "v"}, %graw: tensor<1x128x4x64xf32> {linrec.name = "graw"})
    -> (tensor<1x128x4x64xf32> {linrec.name = "o"}, tensor<1x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.recurrence
      ins(%q, %k, %v, %graw : tensor<1x128x4x64xf32>, tensor<1x128x4x64xf32>,
          tensor<1x128x4x64xf32>, tensor<1x128x4x64xf32>)
      -> (tensor<1x128x4x64xf32>, tensor<1x4x64x64xf32>) {
  ^bb0(%S: !linrec.state<64x64xf32>, %qt: vector<64xf32>, %kt: vector<64xf32>,
       %vt: vector<64xf32>, %gt: vector<64xf32>):
    %qf = linrec.feature_map <softmax> %qt : vector<64xf32>
    %kf = linrec.feature_map <softmax> %kt : vector<64xf32>
    %ls = linrec.feature_map <logsigmoid> %gt : vector<64xf32>
    %inv = arith.constant dense<0.0625> : vector<64xf32>
    %gk = arith.mulf %ls, %inv : vector<64xf32>
    %S1 = linrec.decay %S, %gk along <key> : !linrec.state<64x64xf32>, vector<64xf32>
    %S2 = linrec.write %S1, %kf, %vt : !linrec.state<64x64xf32>, vector<64xf32>, vector<64xf32>
    %ot = linrec.read %S2, %qf : !linrec.state<64x64xf32>, vector<64xf32> -> vector<64xf32>
    linrec.yield states(%S2 : !linrec.state<64x64xf32>) outputs(%ot : vector<64xf32>)
  }
  return %o, %sT : tensor<1x128x4x64xf32>, tensor<1x4x64x64xf32>
}
