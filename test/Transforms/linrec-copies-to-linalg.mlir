// RUN: linrec-opt %s --linrec-copies-to-linalg | FileCheck %s

// A strided copy (a slice of an event sequence) becomes linalg.copy, which lowers to loops.
// CHECK-LABEL: func.func @slice_copy
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%{{.*}} : memref<1x4x2x8xf32, strided<[128, 16, 8, 1], offset: 32>>) outs(%{{.*}} : memref<1x4x2x8xf32>)
func.func @slice_copy(%src: memref<1x8x2x8xf32>, %dst: memref<1x4x2x8xf32>) {
  %s = memref.subview %src[0, 2, 0, 0] [1, 4, 2, 8] [1, 1, 1, 1]
      : memref<1x8x2x8xf32> to memref<1x4x2x8xf32, strided<[128, 16, 8, 1], offset: 32>>
  memref.copy %s, %dst : memref<1x4x2x8xf32, strided<[128, 16, 8, 1], offset: 32>> to memref<1x4x2x8xf32>
  return
}
