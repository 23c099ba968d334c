// RUN: linrec-opt %s --linrec-transpose-reads --verify-diagnostics

// A delta transition has no transposed form on the state's transpose.
func.func @delta(%u: tensor<1x8x2x3xf32>, %k: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x3xf32>,
                 %b: tensor<1x8x2xf32>) -> tensor<1x8x2x4xf32> {
  %p, %s = linrec.recurrence ins(%u, %k, %v, %b : tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>,
      tensor<1x8x2x3xf32>, tensor<1x8x2xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x3xf32>) {
  ^bb0(%S: !linrec.state<4x3xf32>, %ut: vector<3xf32>, %kt: vector<4xf32>, %vt: vector<3xf32>,
       %bt: f32):
    // expected-error @+1 {{'linrec.delta' op on a state read transposed: only decays and plain writes have a transposed form (linrec-transpose-reads; a derived backward for a GPU target: linrec-build-backward{transposed-reads=0})}}
    %S1 = linrec.delta %S, %kt, %bt : !linrec.state<4x3xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %kt, %vt scaled %bt : !linrec.state<4x3xf32>, vector<4xf32>, vector<3xf32>
    %pt = linrec.read %S2, %ut transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x3xf32>) outputs(%pt : vector<4xf32>)
  }
  return %p : tensor<1x8x2x4xf32>
}
