// GLA over variable-length sequences packed as [1, total_T, H, D]: cu_seqlens holds the N+1
// offsets, every sequence starts from its own initial state and ends in its own final state.
func.func @gla_varlen(
    %q: tensor<1x300x4x64xf32> {linrec.name = "q"}, %k: tensor<1x300x4x64xf32> {linrec.name = "k"},
    %v: tensor<1x300x4x64xf32> {linrec.name = "v"}, %gk: tensor<1x300x4x64xf32> {linrec.name = "gk"},
    %s0: tensor<3x4x64x64xf32> {linrec.name = "initial_state"},
    %cu: tensor<4xi32> {linrec.name = "cu_seqlens"})
    -> (tensor<1x300x4x64xf32> {linrec.name = "o"}, tensor<3x4x64x64xf32> {linrec.name = "final_state"}) {
  %o, %sT = linrec.gla %q, %k, %v gate(%gk) init(%s0) cu_seqlens(%cu) {scale = 0.125 : f64}
      : (tensor<1x300x4x64xf32>, tensor<1x300x4x64xf32>, tensor<1x300x4x64xf32>, tensor<1x300x4x64xf32>,
         tensor<3x4x64x64xf32>, tensor<4xi32>)
      -> (tensor<1x300x4x64xf32>, tensor<3x4x64x64xf32>)
  return %o, %sT : tensor<1x300x4x64xf32>, tensor<3x4x64x64xf32>
}
