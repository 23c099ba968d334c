// RUN: linrec-opt %s --linrec-check-slices | FileCheck %s

// Positive and dynamic strides pass unchanged.
// CHECK-LABEL: func.func @strides
// CHECK: tensor.extract_slice %{{.*}}[0] [4] [2]
// CHECK: tensor.extract_slice %{{.*}}[0] [2] [%{{.*}}]
func.func @strides(%x: tensor<8xf32>, %s: index) -> (tensor<4xf32>, tensor<2xf32>) {
  %a = tensor.extract_slice %x[0] [4] [2] : tensor<8xf32> to tensor<4xf32>
  %b = tensor.extract_slice %x[0] [2] [%s] : tensor<8xf32> to tensor<2xf32>
  return %a, %b : tensor<4xf32>, tensor<2xf32>
}
