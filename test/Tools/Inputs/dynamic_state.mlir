// The initial state has a fully dynamic type: only the run-time check guards its shape.
func.func @f(%q: tensor<1x4x2x8xf64>, %s0: tensor<?x?x?x?xf64>) -> tensor<1x4x2x8xf32> {
  %o, %s = linrec.linear_attention %q, %q, %q init(%s0)
      : (tensor<1x4x2x8xf64>, tensor<1x4x2x8xf64>, tensor<1x4x2x8xf64>, tensor<?x?x?x?xf64>)
      -> (tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>)
  return %o : tensor<1x4x2x8xf32>
}
