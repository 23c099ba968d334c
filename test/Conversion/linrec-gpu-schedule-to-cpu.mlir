// RUN: linrec-opt %s --linrec-gpu-schedule-to-cpu | FileCheck %s

// The schedule runs on the CPU as plain loops: the block's workgroup tiles become stack
// buffers allocated once per call (hoisted out of the block loop, no memory space), and the
// loops lose their processor mapping; nothing else changes.
// CHECK-LABEL: func.func @reverse_rows
// CHECK-NEXT: %[[TILE:.*]] = memref.alloca() : memref<64xf32>
// CHECK-NOT: #gpu.address_space
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: memref.store %{{.*}}, %[[TILE]][%{{.*}}] : memref<64xf32>
// CHECK-NOT: mapping
// CHECK: memref.load %[[TILE]][%{{.*}}] : memref<64xf32>
// CHECK-NOT: mapping
func.func @reverse_rows(%out: memref<?x64xf32>, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c63 = arith.constant 63 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%w) = (%begin) to (%end) step (%c1) {
    %tile = memref.alloca() : memref<64xf32, #gpu.address_space<workgroup>>
    scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
      %x = arith.index_cast %i : index to i32
      %f = arith.sitofp %x : i32 to f32
      memref.store %f, %tile[%i] : memref<64xf32, #gpu.address_space<workgroup>>
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.parallel (%j) = (%c0) to (%c64) step (%c1) {
      %r = arith.subi %c63, %j : index
      %v = memref.load %tile[%r] : memref<64xf32, #gpu.address_space<workgroup>>
      memref.store %v, %out[%w, %j] : memref<?x64xf32>
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
