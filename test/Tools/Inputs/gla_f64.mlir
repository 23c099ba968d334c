// A small GLA layer on f64 tensors, so that outputs written by linrec-run (f64) can be fed
// back as inputs.
func.func @gla_f64(%q: tensor<1x4x2x8xf64> {linrec.name = "q"}, %k: tensor<1x4x2x8xf64> {linrec.name = "k"},
                   %v: tensor<1x4x2x8xf64> {linrec.name = "v"}, %gk: tensor<1x4x2x8xf64> {linrec.name = "gk"})
    -> (tensor<1x4x2x8xf32> {linrec.name = "o"}, tensor<1x2x8x8xf32> {linrec.name = "final_state"}) {
  %o, %s = linrec.gla %q, %k, %v gate(%gk)
      : (tensor<1x4x2x8xf64>, tensor<1x4x2x8xf64>, tensor<1x4x2x8xf64>, tensor<1x4x2x8xf64>)
      -> (tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>)
  return %o, %s : tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>
}
