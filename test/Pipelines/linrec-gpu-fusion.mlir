// RUN: linrec-opt %s --linrec-gpu-fusion | FileCheck %s

// The GPU schedules have no norm over heads inside: the named op is normalized, the norm
// stays a layer op.
// CHECK-LABEL: func.func @layer
// CHECK: linrec.recurrence
// CHECK-NOT: heads_norm_eps
// CHECK: linrec.heads_rms_norm
func.func @layer(%q: tensor<1x64x4x16xf32>, %k: tensor<1x64x4x16xf32>, %v: tensor<1x64x4x16xf32>)
    -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>) {
  %o, %s = linrec.linear_attention %q, %k, %v {feature_map = #linrec.feature_map<elu>}
      : (tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>)
      -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>)
  %n = linrec.heads_rms_norm %o {eps = 1.0e-8 : f64} : tensor<1x64x4x16xf32>
  return %n, %s : tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>
}
