// GLA whose gates are written as ordinary element-wise tensor ops around the recurrence, the way
// a front end emits them: the key decay logsigmoid(graw)/16 (Liger-GLA) before it, an output
// gate o · sigmoid(z) after it. linrec-fuse moves both into the recurrence body, so the CPU
// kernel computes them in its loads and stores; the reference evaluates them unfused.
#token = affine_map<(b, t, h, d) -> (b, t, h, d)>
func.func @gla_tensor_gates(
    %q: tensor<1x96x2x32xf32> {linrec.name = "q"}, %k: tensor<1x96x2x32xf32> {linrec.name = "k"},
    %v: tensor<1x96x2x32xf32> {linrec.name = "v"}, %graw: tensor<1x96x2x32xf32> {linrec.name = "graw"},
    %z: tensor<1x96x2x32xf32> {linrec.name = "z"})
    -> (tensor<1x96x2x32xf32> {linrec.name = "o"}, tensor<1x2x32x32xf32> {linrec.name = "final_state"}) {
  %e0 = tensor.empty() : tensor<1x96x2x32xf32>
  %gk = linalg.generic {indexing_maps = [#token, #token],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%graw : tensor<1x96x2x32xf32>) outs(%e0 : tensor<1x96x2x32xf32>) {
  ^bb0(%x: f32, %out: f32):
    // logsigmoid(x) / 16 = (min(x, 0) − log1p(e^{−|x|})) / 16
    %zero = arith.constant 0.0 : f32
    %inv16 = arith.constant 0.0625 : f32
    %a = math.absf %x : f32
    %na = arith.negf %a : f32
    %e = math.exp %na : f32
    %l = math.log1p %e : f32
    %m = arith.minimumf %x, %zero : f32
    %ls = arith.subf %m, %l : f32
    %g = arith.mulf %ls, %inv16 : f32
    linalg.yield %g : f32
  } -> tensor<1x96x2x32xf32>
  %o, %sT = linrec.gla %q, %k, %v gate(%gk) {scale = 0.1767766952966369 : f64}
      : (tensor<1x96x2x32xf32>, tensor<1x96x2x32xf32>, tensor<1x96x2x32xf32>, tensor<1x96x2x32xf32>)
      -> (tensor<1x96x2x32xf32>, tensor<1x2x32x32xf32>)
  %e1 = tensor.empty() : tensor<1x96x2x32xf32>
  %y = linalg.generic {indexing_maps = [#token, #token, #token],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%o, %z : tensor<1x96x2x32xf32>, tensor<1x96x2x32xf32>) outs(%e1 : tensor<1x96x2x32xf32>) {
  ^bb0(%ot: f32, %zt: f32, %out: f32):
    // o · σ(z), σ(z) = 1 / (1 + e^{−z})
    %one = arith.constant 1.0 : f32
    %nz = arith.negf %zt : f32
    %ez = math.exp %nz : f32
    %d = arith.addf %one, %ez : f32
    %s = arith.divf %one, %d : f32
    %r = arith.mulf %ot, %s : f32
    linalg.yield %r : f32
  } -> tensor<1x96x2x32xf32>
  return %y, %sT : tensor<1x96x2x32xf32>, tensor<1x2x32x32xf32>
}
