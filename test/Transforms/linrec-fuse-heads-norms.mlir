// RUN: linrec-opt %s --split-input-file --linrec-fuse-heads-norms | FileCheck %s

// TransNormer: the norm over heads of the recurrence's output #0 (its only use) becomes
// heads_norm_eps; with two batch rows there are enough work items.
// CHECK-LABEL: func.func @fused
// CHECK: linrec.recurrence
// CHECK-SAME: heads_norm_eps = 1.000000e-08 : f64
// CHECK-NOT: linrec.heads_rms_norm
func.func @fused(%q: tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  %n = linrec.heads_rms_norm %o {eps = 1.0e-08 : f64} : tensor<2x16x4x8xf32>
  return %n : tensor<2x16x4x8xf32>
}

// -----

// Left apart: one batch row (one work item would hold every head: one thread), a recurrence
// marked sequential, and an output read by something else too.
// CHECK-LABEL: func.func @apart
// CHECK-COUNT-3: linrec.heads_rms_norm
// CHECK-NOT: heads_norm_eps
func.func @apart(%q1: tensor<1x16x4x8xf32>, %q2: tensor<2x16x4x8xf32>)
    -> (tensor<1x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>) {
  %o1, %s1 = linrec.recurrence ins(%q1 : tensor<1x16x4x8xf32>) -> (tensor<1x16x4x8xf32>, tensor<1x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  %n1 = linrec.heads_rms_norm %o1 {eps = 1.0e-08 : f64} : tensor<1x16x4x8xf32>
  %o2, %s2 = linrec.recurrence ins(%q2 : tensor<2x16x4x8xf32>) {algorithm = #linrec.algorithm<sequential>}
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  %n2 = linrec.heads_rms_norm %o2 {eps = 1.0e-08 : f64} : tensor<2x16x4x8xf32>
  %o3, %s3 = linrec.recurrence ins(%q2 : tensor<2x16x4x8xf32>) -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  %n3 = linrec.heads_rms_norm %o3 {eps = 1.0e-08 : f64} : tensor<2x16x4x8xf32>
  return %n1, %n2, %n3, %o3 : tensor<1x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>
}
