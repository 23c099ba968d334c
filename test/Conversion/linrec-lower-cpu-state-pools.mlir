// RUN: linrec-opt %s --linrec-select-algorithm="sequential=true" --linrec-lower-cpu | FileCheck %s
// RUN: linrec-opt %s --linrec-classify --linrec-lower-cpu="chunk-size=16" | FileCheck %s --check-prefix=CHUNKED

// State pools: each sequence's state is read from, and written to, the slot its index names.
// The caller's final-state buffer is as large as the pool and starts as a copy of it (a
// runtime that passes the pool itself as the final state skips the copy: in place).
// CHECK-LABEL: func.func @decode_step
// CHECK-SAME: (%{{.*}}: tensor<?x1x2x16xf32>, %{{.*}}: tensor<?x1x2xf32>, %[[POOL:.*]]: tensor<?x2x16x16xf32>, %[[SLOTS:.*]]: tensor<?xi32>)
// CHECK-DAG: %[[POOLB:.*]] = bufferization.to_buffer %[[POOL]] read_only
// CHECK-DAG: %[[P:.*]] = tensor.dim %[[POOL]], %c0
// CHECK: %[[FINAL:.*]] = memref.alloc(%[[P]]) : memref<?x2x16x16xf32>
// CHECK: memref.copy %[[POOLB]], %[[FINAL]]
// CHECK: call @__linrec_kernel_0({{.*}}, %[[FINAL]], %{{.*}}, %{{.*}})
//
// CHECK: func.func @__linrec_kernel_0(%{{.*}}: memref<?x1x2x16xf32>, %{{.*}}: memref<?x1x2xf32>, %[[INIT:.*]]: memref<?x2x16x16xf32>, %[[INDICES:.*]]: memref<?xi32>, %{{.*}}: memref<?x1x2x16xf32>, %[[OUT:.*]]: memref<?x2x16x16xf32>, %{{.*}}: index, %{{.*}}: index)
// CHECK: %[[SEQ:.*]] = arith.divui
// CHECK: %[[RAW:.*]] = memref.load %[[INDICES]][%[[SEQ]]] : memref<?xi32>
// CHECK: %[[SLOT:.*]] = arith.index_cast %[[RAW]] : i32 to index
// The scan updates each state where it lies, in the final-state pool (which holds the
// initial states when the kernel starts): no copies in and out, one pass over its rows.
// CHECK-NOT: %[[INIT]]
// CHECK: %[[STATE:.*]] = memref.subview %[[OUT]][%[[SLOT]], %{{.*}}, 0, 0] [1, 1, 16, 16] [1, 1, 1, 1] : memref<?x2x16x16xf32> to memref<16x16xf32, strided<[16, 1], offset: ?>>
// CHECK: scf.for %[[R:[a-z0-9_]+]] =
// CHECK: vector.load %[[STATE]][%[[R]], %{{.*}}]
// CHECK: vector.store %{{.*}}, %[[STATE]][%[[R]], %{{.*}}]
// CHECK-NOT: %[[INIT]]
// CHECK: return

// The chunked kernel loads each state from its slot and stores it back there.
// CHUNKED-LABEL: func.func @__linrec_kernel_0
// CHUNKED: %[[RAW:.*]] = memref.load %arg3[%{{.*}}] : memref<?xi32>
// CHUNKED: %[[SLOT:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHUNKED: vector.load %arg2[%[[SLOT]], {{.*}}] : memref<?x2x16x16xf32>, vector<16xf32>
// CHUNKED: vector.store %{{.*}}, %arg5[%[[SLOT]], {{.*}}] : memref<?x2x16x16xf32>, vector<16xf32>
func.func @decode_step(%q: tensor<?x1x2x16xf32>, %g: tensor<?x1x2xf32>,
                       %pool: tensor<?x2x16x16xf32>, %slots: tensor<?xi32>)
    -> (tensor<?x1x2x16xf32>, tensor<?x2x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<?x1x2x16xf32>, tensor<?x1x2xf32>)
      init(%pool : tensor<?x2x16x16xf32>) state_indices(%slots : tensor<?xi32>)
      -> (tensor<?x1x2x16xf32>, tensor<?x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S2, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x16xf32>) outputs(%ot : vector<16xf32>)
  }
  return %o, %s : tensor<?x1x2x16xf32>, tensor<?x2x16x16xf32>
}
