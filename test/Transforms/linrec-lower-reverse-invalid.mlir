// RUN: linrec-opt %s --linrec-lower-reverse --verify-diagnostics

// Blocks count from each sequence's start: on token-reversed copies they would not line up.
func.func @reverse_block_start(%q: tensor<1x10x1x4xf32>) -> tensor<1x10x1x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x10x1x4xf32>) {reverse}
      -> (tensor<1x10x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%R: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %R1 = linrec.write %R, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{a block-start read of a reverse recurrence does not run as a forward one}}
    %o = linrec.read %R1, %qt block_start 4 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%R1 : !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o : tensor<1x10x1x4xf32>
}
