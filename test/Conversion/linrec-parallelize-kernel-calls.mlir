// RUN: linrec-opt %s --linrec-parallelize-kernel-calls | FileCheck %s

// A layer function's kernel call over the work items [0, %work) becomes one call per work item
// in an scf.parallel (convert-scf-to-openmp spreads them over threads). The kernel itself, and
// calls of other functions, are left alone.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:.*]]: memref<4x8xf32>, %[[WORK:.*]]: index)
// CHECK: arith.constant 0 : index
// CHECK: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT: scf.parallel (%[[W:.*]]) = (%[[ZERO]]) to (%[[WORK]]) step (%[[C1]])
// CHECK-NEXT: %[[END:.*]] = arith.addi %[[W]], %[[C1]] : index
// CHECK-NEXT: func.call @__linrec_kernel_0(%[[X]], %[[W]], %[[END]])
// CHECK: call @helper(%[[X]])
// CHECK-LABEL: func.func @__linrec_kernel_0
// CHECK-NOT: scf.parallel
// CHECK: call @helper
func.func @layer(%x: memref<4x8xf32>, %work: index) {
  %c0 = arith.constant 0 : index
  func.call @__linrec_kernel_0(%x, %c0, %work) : (memref<4x8xf32>, index, index) -> ()
  func.call @helper(%x) : (memref<4x8xf32>) -> ()
  return
}

func.func @__linrec_kernel_0(%x: memref<4x8xf32>, %begin: index, %end: index) {
  func.call @helper(%x) : (memref<4x8xf32>) -> ()
  return
}

func.func private @helper(memref<4x8xf32>)
