// RUN: linrec-opt %s --linrec-cpu-fusion="threads=1" | FileCheck %s
// RUN: linrec-opt %s --linrec-cpu-fusion="threads=1 sequential=1" | FileCheck %s --check-prefix=SEQ
// RUN: linrec-opt %s --linrec-cpu-fusion="threads=2" | FileCheck %s --check-prefix=FEW

// TransNormer: the named op becomes a generic recurrence and the norm over all heads moves
// into it (a batch row per thread: B = 1 >= 1 thread).
// CHECK-LABEL: func.func @layer
// CHECK: linrec.recurrence
// CHECK-SAME: heads_norm_eps
// CHECK-NOT: linrec.heads_rms_norm
// The scan cannot normalize over heads: marked sequential (linrec-select-algorithm), the norm
// stays a layer op.
// SEQ-LABEL: func.func @layer
// SEQ: linrec.recurrence
// SEQ-SAME: algorithm = #linrec.algorithm<sequential>
// SEQ-NOT: heads_norm_eps
// SEQ: linrec.heads_rms_norm
// Fewer batch rows than threads: the norm stays apart (it would serialize the heads).
// FEW-LABEL: func.func @layer
// FEW-NOT: heads_norm_eps
// FEW: linrec.heads_rms_norm
func.func @layer(%q: tensor<1x64x4x16xf32>, %k: tensor<1x64x4x16xf32>, %v: tensor<1x64x4x16xf32>)
    -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>) {
  %o, %s = linrec.linear_attention %q, %k, %v {feature_map = #linrec.feature_map<elu>}
      : (tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>)
      -> (tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>)
  %n = linrec.heads_rms_norm %o {eps = 1.0e-8 : f64} : tensor<1x64x4x16xf32>
  return %n, %s : tensor<1x64x4x16xf32>, tensor<1x4x16x16xf32>
}
