// RUN: linrec-opt %s --linrec-expand-layer-ops | FileCheck %s

// The norm over heads as linalg: the sum of squares over (H, D) per token, then
// x / (sqrt(sum / (H·D)) + eps).
// CHECK-LABEL: func.func @norm
// CHECK: linalg.fill
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: arith.constant 3.200000e+01 : f32
// CHECK: math.sqrt
// CHECK: arith.constant 9.99999993E-9 : f32
// CHECK: arith.divf
// CHECK-NOT: linrec.heads_rms_norm
func.func @norm(%x: tensor<2x?x4x8xf32>) -> tensor<2x?x4x8xf32> {
  %n = linrec.heads_rms_norm %x {eps = 1.0e-08 : f64} : tensor<2x?x4x8xf32>
  return %n : tensor<2x?x4x8xf32>
}
