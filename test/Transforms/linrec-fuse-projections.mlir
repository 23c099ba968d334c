// RUN: linrec-opt %s --split-input-file --linrec-fuse-projections | FileCheck %s

#x = affine_map<(b, t, h, d, f) -> (b, t, h, d)>
#w = affine_map<(b, t, h, d, f) -> (h, d, f)>
#u = affine_map<(b, t, h, d, f) -> (b, t, h, f)>

// Hedgehog's projections u = xᵀW[h] from zeros become linrec.project in the body: q is an
// input and Wq a [H, D, F] param; the delayed key projection keeps its delay on k.
// CHECK-LABEL: func.func @projected_features
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[WQ:.*]]: tensor<2x16x4xf32>, %[[WK:.*]]: tensor<2x16x4xf32>)
// CHECK-NOT: linalg.generic
// CHECK: linrec.recurrence ins(%[[Q]], %[[Q]] : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) params(%[[WQ]], %[[WK]] : tensor<2x16x4xf32>, tensor<2x16x4xf32>) {delays = array<i64: 0, 3>}
// CHECK: ^bb0(%{{.*}}: !linrec.state<4x4xf32>, %[[QT:.*]]: vector<16xf32>, %[[KT:.*]]: vector<16xf32>, %[[WQT:.*]]: vector<16x4xf32>, %[[WKT:.*]]: vector<16x4xf32>):
// CHECK-DAG: linrec.project %[[QT]], %[[WQT]] : vector<16xf32>, vector<16x4xf32> -> vector<4xf32>
// CHECK-DAG: linrec.project %[[KT]], %[[WKT]] : vector<16xf32>, vector<16x4xf32> -> vector<4xf32>
func.func @projected_features(%q: tensor<1x8x2x16xf32>, %wq: tensor<2x16x4xf32>, %wk: tensor<2x16x4xf32>)
    -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x2x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32>
  %uq = linalg.generic {indexing_maps = [#x, #w, #u], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
      ins(%q, %wq : tensor<1x8x2x16xf32>, tensor<2x16x4xf32>) outs(%init : tensor<1x8x2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x8x2x4xf32>
  %uk = linalg.generic {indexing_maps = [#x, #w, #u], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
      ins(%q, %wk : tensor<1x8x2x16xf32>, tensor<2x16x4xf32>) outs(%init : tensor<1x8x2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<1x8x2x4xf32>
  %o, %s = linrec.recurrence ins(%uq, %uk : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>) {delays = array<i64: 0, 3>}
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>):
    %S1 = linrec.write %S, %kt, %kt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o, %s : tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

#x = affine_map<(b, t, h, d, f) -> (b, t, h, d)>
#w = affine_map<(b, t, h, d, f) -> (h, d, f)>
#u = affine_map<(b, t, h, d, f) -> (b, t, h, f)>

// Not a projection from zeros (an accumulation into an input) stays.
// CHECK-LABEL: func.func @accumulates
// CHECK: linalg.generic
// CHECK-NOT: linrec.project
func.func @accumulates(%q: tensor<1x8x2x16xf32>, %wq: tensor<2x16x4xf32>, %acc0: tensor<1x8x2x4xf32>)
    -> tensor<1x2x4x4xf32> {
  %uq = linalg.generic {indexing_maps = [#x, #w, #u], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
      ins(%q, %wq : tensor<1x8x2x16xf32>, tensor<2x16x4xf32>) outs(%acc0 : tensor<1x8x2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x8x2x4xf32>
  %s = linrec.recurrence ins(%uq : tensor<1x8x2x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %kt: vector<4xf32>):
    %S1 = linrec.write %S, %kt, %kt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}
