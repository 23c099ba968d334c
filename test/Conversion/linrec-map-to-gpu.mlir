// RUN: linrec-opt %s --split-input-file --linrec-map-to-gpu="block-size=64" --verify-diagnostics | FileCheck %s

// The block loop becomes a launch with one block per iteration; the workgroup tiles become
// 128-byte aligned views into the dynamic shared memory (256 + 12 bytes, plus 128 to align
// the start); each thread loop becomes a loop strided by the block size from the thread id,
// closed by a barrier.
// CHECK-LABEL: func.func @reverse_rows
// CHECK-SAME: (%[[OUT:.*]]: memref<?x64xf32>, %[[BEGIN:.*]]: index, %[[END:.*]]: index)
// CHECK: %[[SPAN:.*]] = arith.subi %[[END]], %[[BEGIN]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %[[SPAN]]
// CHECK: %[[THREADS:.*]] = arith.constant 64 : index
// CHECK: %[[BYTES:.*]] = arith.constant 396 : i32
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}}, %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[THREADS]], %{{.*}}, %{{.*}}) dynamic_shared_memory_size %[[BYTES]]
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[ADDRESS:.*]] = memref.extract_aligned_pointer_as_index %[[SMEM]]
// CHECK: %[[MISALIGNED:.*]] = arith.remui %[[ADDRESS]], %[[C128:.*]] : index
// CHECK: %[[GAP:.*]] = arith.subi %[[C128]], %[[MISALIGNED]]
// CHECK: %[[START:.*]] = arith.remui %[[GAP]], %[[C128]]
// CHECK: %[[FIRST:.*]] = arith.addi %[[START]], %{{.*}} : index
// CHECK: %[[TILE:.*]] = memref.view %[[SMEM]][%[[FIRST]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: %[[OFFSET:.*]] = arith.constant 256 : index
// CHECK: %[[SECOND:.*]] = arith.addi %[[START]], %[[OFFSET]]
// CHECK: memref.view %[[SMEM]][%[[SECOND]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<3xf32, #gpu.address_space<workgroup>>
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

// -----

// A matmul of the block: f16 tiles with multiple-of-16 dims go to the tensor cores. The 2 x 2
// tiles of 16 x 16 are dealt to the 2 warps (tile t to warp t mod 2, a warp-uniform branch);
// each is two 16 x 8 halves of m16n8k16 MMAs over K = 64 with fragments loaded by ldmatrix (B
// transposed); a barrier follows.
// CHECK-LABEL: func.func @tile_matmul
// CHECK: gpu.launch
// CHECK: %[[WARP:.*]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK: %[[MINE:.*]] = arith.cmpi eq, %[[WARP]], %{{.*}} : index
// CHECK: scf.if %[[MINE]] {
// CHECK: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false} : memref<32x64xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// CHECK: nvgpu.ldmatrix %{{.*}} {numTiles = 2 : i32, transpose = true} : memref<64x32xf16, #gpu.address_space<workgroup>> -> vector<2x2xf16>
// CHECK: nvgpu.mma.sync(%{{.*}}, %{{.*}}, %{{.*}}) {mmaShape = [16, 8, 16]}
// CHECK-COUNT-7: nvgpu.mma.sync
// CHECK: gpu.barrier
// CHECK-NOT: linalg.matmul
func.func @tile_matmul(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    %a = memref.alloca() : memref<32x64xf16, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<64x32xf16, #gpu.address_space<workgroup>>
    %c = memref.alloca() : memref<32x32xf32, #gpu.address_space<workgroup>>
    linalg.matmul ins(%a, %b : memref<32x64xf16, #gpu.address_space<workgroup>>, memref<64x32xf16, #gpu.address_space<workgroup>>)
                  outs(%c : memref<32x32xf32, #gpu.address_space<workgroup>>)
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

// Other matmuls: a thread per element of C.
// CHECK-LABEL: func.func @odd_matmul
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: memref.store
// CHECK: gpu.barrier
// CHECK-NOT: gpu.subgroup_mma
func.func @odd_matmul(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    %a = memref.alloca() : memref<8x24xf16, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<24x8xf16, #gpu.address_space<workgroup>>
    %c = memref.alloca() : memref<8x8xf32, #gpu.address_space<workgroup>>
    linalg.matmul ins(%a, %b : memref<8x24xf16, #gpu.address_space<workgroup>>, memref<24x8xf16, #gpu.address_space<workgroup>>)
                  outs(%c : memref<8x8xf32, #gpu.address_space<workgroup>>)
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
