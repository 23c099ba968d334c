// RUN: linrec-opt %s --split-input-file --linrec-map-to-gpu="shared-memory-limit=1024" --verify-diagnostics

// Shared memory over the target's limit is a diagnostic, not a launch failure on the device.
func.func @too_much_shared_memory(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{needs 1168 bytes of shared memory per block, over the limit of 1024 (use a smaller chunk size or value tile)}}
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    %a = memref.alloca() : memref<255xf32, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<4xf32, #gpu.address_space<workgroup>>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

// A kernel with window reads (linrec-lower-gpu marks it) names the other way out.
func.func @too_much_shared_memory_with_windows(%n: index) attributes {linrec.window_reads} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{needs 1168 bytes of shared memory per block, over the limit of 1024 (use a smaller chunk size or value tile, or keep the window attention as its own kernel: fuse-windows=0)}}
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    %a = memref.alloca() : memref<255xf32, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<4xf32, #gpu.address_space<workgroup>>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

func.func @dynamic_tile(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    // expected-error @+1 {{workgroup tiles must have a static shape and identity layout}}
    %a = memref.alloca(%n) : memref<?xf32, #gpu.address_space<workgroup>>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

func.func @two_dim_phase(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%w) = (%c0) to (%n) step (%c1) {
    // expected-error @+1 {{in a GPU program must be a 1-D loop mapped to thread_x}}
    scf.parallel (%i, %j) = (%c0, %c0) to (%n, %n) step (%c1, %c1) {
      scf.reduce
    }
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
