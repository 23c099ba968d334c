// RUN: linrec-opt %s --linrec-deallocate-layer-buffers | FileCheck %s

// The layer function's intermediate buffer is freed (ownership-based deallocation); the
// kernel, which frees its own scratch, is not touched (a second dealloc would be a double
// free).
// CHECK-LABEL: func.func @layer
// CHECK: %[[TMP:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: call @__linrec_kernel_0(%{{.*}}, %[[TMP]]
// CHECK: memref.copy %[[TMP]], %{{.*}}
// CHECK: memref.dealloc %[[TMP]]
// CHECK-LABEL: func.func @__linrec_kernel_0
// CHECK: %[[SCRATCH:.*]] = memref.alloc() : memref<16xf32>
// CHECK-NEXT: memref.dealloc %[[SCRATCH]]
// CHECK-NEXT: return
func.func @layer(%x: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %tmp = memref.alloc() : memref<4x8xf32>
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  func.call @__linrec_kernel_0(%x, %tmp, %c0, %c4) : (memref<4x8xf32>, memref<4x8xf32>, index, index) -> ()
  memref.copy %tmp, %out : memref<4x8xf32> to memref<4x8xf32>
  return
}

func.func @__linrec_kernel_0(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %begin: index, %end: index) {
  %scratch = memref.alloc() : memref<16xf32>
  memref.dealloc %scratch : memref<16xf32>
  return
}
