// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="value-checks=1 chunk-size=32 heads-per-item=1" | FileCheck %s
// RUN: linrec-opt %s --split-input-file --linrec-select-algorithm="sequential=1" --linrec-lower-cpu="value-checks=1 heads-per-item=1" | FileCheck %s --check-prefix=SCAN
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=1" | FileCheck %s --check-prefix=OFF

// value-checks: the kernel checks the f32 rows it loads (q finite, g a log-decay, the
// initial state finite) and ORs what failed into a status word, which the calling function
// takes as a new trailing argument.
// CHECK-LABEL: func.func @gated
// CHECK-SAME: %[[STATUS:[^:]*]]: memref<1xi32> {linrec.value_status}
// CHECK: call @__linrec_kernel_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[STATUS]], %{{.*}}, %{{.*}})
// CHECK: func.func @__linrec_kernel_0({{.*}}, %[[WORD:.*]]: memref<1xi32>, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: linrec.value_checks = array<i32: 1, 2, 1>
// Accumulators: 16 lanes for q's rows and the state's, one lane (two for a log-decay) for g.
// CHECK-DAG: %[[QACC:.*]] = memref.alloca() : memref<16xf32>
// CHECK-DAG: %[[GMAX:.*]] = memref.alloca() : memref<1xi32>
// The initial state's rows as they load: x · 0 + acc stays 0 unless x is NaN or ±inf.
// CHECK: %[[ROW:.*]] = vector.load %{{.*}} : memref<2x4x32x32xf32>, vector<32xf32>
// CHECK: math.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<16xf32>
// The token's rows: q's two slices, g's bits' signed and unsigned max.
// CHECK: %[[Q:.*]] = vector.load %arg0{{.*}} : memref<2x?x4x32xf32>, vector<32xf32>
// CHECK: vector.extract_strided_slice %[[Q]] {offsets = [16], sizes = [16], strides = [1]}
// CHECK: math.fma
// CHECK: arith.bitcast %{{.*}} : vector<1xf32> to vector<1xi32>
// CHECK: arith.maxsi
// CHECK: arith.maxui
// At the end: one atomic OR of the failed checks' bits, when any failed.
// CHECK: vector.reduction <add>
// CHECK: arith.cmpf uno
// CHECK: vector.reduction <maxsi>
// CHECK: vector.reduction <maxui>
// CHECK: scf.if
// CHECK-NEXT: memref.atomic_rmw ori %{{.*}}, %[[WORD]][%{{.*}}] : (i32, memref<1xi32>) -> i32
// CHECK: return

// The token scan checks the rows it loads in the same way.
// SCAN: func.func @__linrec_kernel_0
// SCAN-SAME: #linrec.algorithm<sequential>
// SCAN-SAME: linrec.value_checks = array<i32: 1, 2, 1>
// SCAN: math.fma
// SCAN: memref.atomic_rmw ori

// Without the option: no status word, no checks.
// OFF: func.func @gated(%{{[^:]*}}: tensor<2x?x4x32xf32>, %{{[^:]*}}: tensor<2x?x4xf32>, %{{[^:]*}}: tensor<2x4x32x32xf32>) ->
// OFF-NOT: linrec.value_checks
// OFF-NOT: memref.atomic_rmw
func.func @gated(%q: tensor<2x?x4x32xf32>, %g: tensor<2x?x4xf32>, %s0: tensor<2x4x32x32xf32>)
    -> (tensor<2x?x4x32xf32>, tensor<2x4x32x32xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x?x4x32xf32>, tensor<2x?x4xf32>)
      init(%s0 : tensor<2x4x32x32xf32>)
      -> (tensor<2x?x4x32xf32>, tensor<2x4x32x32xf32>) {
  ^bb0(%S: !linrec.state<32x32xf32>, %x: vector<32xf32>, %gt: f32):
    %D = linrec.decay %S, %gt : !linrec.state<32x32xf32>, f32
    %W = linrec.write %D, %x, %x : !linrec.state<32x32xf32>, vector<32xf32>, vector<32xf32>
    %r = linrec.read %W, %x : !linrec.state<32x32xf32>, vector<32xf32> -> vector<32xf32>
    linrec.yield states(%W : !linrec.state<32x32xf32>) outputs(%r : vector<32xf32>)
  }
  return %o, %s : tensor<2x?x4x32xf32>, tensor<2x4x32x32xf32>
}
