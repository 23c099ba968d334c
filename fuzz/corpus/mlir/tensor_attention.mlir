// Tensor attention linearized with degree-1 Taylor features: two states S1, S2 over k1/v1
// and k2/v2, read through their Hadamard product (linrec.read_product).
// Generated from the conformance case tensor_attention_03_g1 by the layer builder:
//   linrec-run --case ../shared/conformance/tensor_attention_03_g1 --emit-mlir
module {
  func.func @layer(%arg0: tensor<2x7x2x16xf32> {linrec.name = "q"}, %arg1: tensor<2x7x2x16xf32> {linrec.name = "k1"}, %arg2: tensor<2x7x2x32xf32> {linrec.name = "v1"}, %arg3: tensor<2x7x2x16xf32> {linrec.name = "k2"}, %arg4: tensor<2x7x2x32xf32> {linrec.name = "v2"}) -> (tensor<2x7x2x32xf32> {linrec.name = "o"}) {
    %0:5 = linrec.recurrence ins(%arg0, %arg1, %arg2, %arg3, %arg4 : tensor<2x7x2x16xf32>, tensor<2x7x2x16xf32>, tensor<2x7x2x32xf32>, tensor<2x7x2x16xf32>, tensor<2x7x2x32xf32>) -> (tensor<2x7x2x32xf32>, tensor<2x2x17x32xf32>, tensor<2x2x17xf32>, tensor<2x2x17x32xf32>, tensor<2x2x17xf32>) {
    ^bb0(%arg5: !linrec.state<17x32xf32>, %arg6: !linrec.state<17xf32>, %arg7: !linrec.state<17x32xf32>, %arg8: !linrec.state<17xf32>, %arg9: vector<16xf32>, %arg10: vector<16xf32>, %arg11: vector<32xf32>, %arg12: vector<16xf32>, %arg13: vector<32xf32>):
      %1 = linrec.polynomial_map %arg9 degree 1 : vector<16xf32> -> vector<17xf32>
      %2 = linrec.polynomial_map %arg10 degree 1 : vector<16xf32> -> vector<17xf32>
      %3 = linrec.polynomial_map %arg12 degree 1 : vector<16xf32> -> vector<17xf32>
      %4 = linrec.write %arg5, %2, %arg11 : <17x32xf32>, vector<17xf32>, vector<32xf32>
      %5 = linrec.write %arg6, %2 : <17xf32>, vector<17xf32>
      %6 = linrec.write %arg7, %3, %arg13 : <17x32xf32>, vector<17xf32>, vector<32xf32>
      %7 = linrec.write %arg8, %3 : <17xf32>, vector<17xf32>
      %8 = linrec.read_product %4, %6, %1 : <17x32xf32>, vector<17xf32> -> vector<32xf32>
      %9 = linrec.read_product %5, %7, %1 : <17xf32>, vector<17xf32> -> f32
      %10 = vector.broadcast %9 : f32 to vector<32xf32>
      %11 = arith.divf %8, %10 : vector<32xf32>
      linrec.yield states(%4, %5, %6, %7 : !linrec.state<17x32xf32>, !linrec.state<17xf32>, !linrec.state<17x32xf32>, !linrec.state<17xf32>) outputs(%11 : vector<32xf32>)
    }
    return %0#0 : tensor<2x7x2x32xf32>
  }
}
