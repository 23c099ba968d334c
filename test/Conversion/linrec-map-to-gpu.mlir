// RUN: linrec-opt %s --split-input-file --linrec-map-to-gpu="block-size=64" --verify-diagnostics | FileCheck %s

// The block loop becomes a launch with one block per iteration; the workgroup tiles become
// 16-byte aligned views into the dynamic shared memory (256 + 12 bytes); each thread loop
// becomes a loop strided by the block size from the thread id, closed by a barrier.
// CHECK-LABEL: func.func @reverse_rows
// CHECK-SAME: (%[[OUT:.*]]: memref<?x64xf32>, %[[BEGIN:.*]]: index, %[[END:.*]]: index)
// CHECK: %[[SPAN:.*]] = arith.subi %[[END]], %[[BEGIN]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %[[SPAN]]
// CHECK: %[[THREADS:.*]] = arith.constant 64 : index
// CHECK: %[[BYTES:.*]] = arith.constant 268 : i32
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}}, %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[THREADS]], %{{.*}}, %{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[TILE:.*]] = memref.view %[[SMEM]][%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: %[[OFFSET:.*]] = arith.constant 256 : index
// CHECK: memref.view %[[SMEM]][%[[OFFSET]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<3xf32, #gpu.address_space<workgroup>>
// CHECK: %[[BLOCK:.*]] = arith.muli %[[BX]]
// CHECK: %[[ROW:.*]] = arith.addi %[[BEGIN]], %[[BLOCK]]
// CHECK: arith.muli %[[TX]]
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: memref.store %{{.*}}, %[[TILE]][%[[I]]]
// CHECK: }
// CHECK-NEXT: gpu.barrier
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: memref.load %[[TILE]]
// CHECK: memref.store %{{.*}}, %[[OUT]][%[[ROW]], %[[J]]]
// CHECK: }
// CHECK-NEXT: gpu.barrier
// CHECK: gpu.terminator
// CHECK-NOT: scf.parallel
func.func @reverse_rows(%out: memref<?x64xf32>, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c63 = arith.constant 63 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%w) = (%begin) to (%end) step (%c1) {
    %tile = memref.alloca() : memref<64xf32, #gpu.address_space<workgroup>>
    %unused = memref.alloca() : memref<3xf32, #gpu.address_space<workgroup>>
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

// -----

func.func @nested_threads(%out: memref<?x64xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
      // expected-error @+1 {{thread loops cannot nest}}
      scf.parallel (%j) = (%c0) to (%c8) step (%c1) {
        %f = arith.constant 1.0 : f32
        memref.store %f, %out[%w, %j] : memref<?x64xf32>
        scf.reduce
      } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

// A host allocation that a kernel uses (a schedule's workspace) becomes a device allocation,
// on a stream of its own that is waited for.
// CHECK-LABEL: func.func @workspace
// CHECK: %[[STREAM:.*]] = gpu.wait async
// CHECK: %[[BUFFER:.*]], %[[DONE:.*]] = gpu.alloc async [%[[STREAM]]] (%{{.*}}) : memref<?xf32>
// CHECK: gpu.wait [%[[DONE]]]
// CHECK: gpu.launch
// CHECK: memref.store %{{.*}}, %[[BUFFER]]
// CHECK: %[[FREE:.*]] = gpu.wait async
// CHECK: %[[FREED:.*]] = gpu.dealloc async [%[[FREE]]] %[[BUFFER]] : memref<?xf32>
// CHECK: gpu.wait [%[[FREED]]]
// CHECK-NOT: memref.alloc
func.func @workspace(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %buffer = memref.alloc(%n) : memref<?xf32>
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    scf.parallel (%i) = (%c0) to (%c1) step (%c1) {
      %f = arith.constant 1.0 : f32
      memref.store %f, %buffer[%w] : memref<?xf32>
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  memref.dealloc %buffer : memref<?xf32>
  return
}
