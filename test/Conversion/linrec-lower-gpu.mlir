// RUN: linrec-opt %s --split-input-file --linrec-lower-gpu="chunk-size=8 value-tile=8" | FileCheck %s
// RUN: linrec-opt %s --split-input-file --linrec-lower-gpu="chunk-size=8 value-tile=5" | FileCheck %s --check-prefix=ROWS
// RUN: linrec-opt %s --split-input-file --linrec-lower-gpu="chunk-size=8 value-tile=8 two-phase=1" | FileCheck %s --check-prefix=TWO
// RUN: linrec-opt %s --split-input-file --linrec-lower-gpu="chunk-size=16 value-tile=16 tensor-cores=1" | FileCheck %s --check-prefix=TC

// A gated delta rule as a GPU schedule: the kernel keeps the CPU kernel's signature and is
// called the same way; its body is one block-mapped loop over (sequence, head, value tile)
// whose chunk phases are thread-mapped loops over workgroup tiles.
// CHECK-LABEL: func.func @gated_delta
// CHECK: call @__linrec_kernel_0(
// CHECK: func.func @__linrec_kernel_0(%{{.*}}: memref<2x?x4x16xf32>, %{{.*}}: memref<2x?x4xf32>, %{{.*}}: memref<2x?x4x16xf32>, %{{.*}}: memref<2x4x16x16xf32>, %[[BEGIN:.*]]: index, %[[END:.*]]: index)
// CHECK-SAME: linrec.gpu_schedule
// CHECK-SAME: linrec.value_tiles = 2
// CHECK: scf.parallel (%{{.*}}) = (%[[BEGIN]]) to (%[[END]])
// The state tile (dk x value tile) and the chunk's tiles live in workgroup memory.
// CHECK-DAG: memref.alloca() : memref<16x8xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<8x16xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<8x8xf32, #gpu.address_space<workgroup>>
// The initial state phase, then the chunk loop: the body's per-token ops (l2norm) in the
// prologue, one thread per token; the cumulative decay scan; attention blocks with the decay
// exponentials computed only below the diagonal.
// CHECK: scf.parallel
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: scf.for
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: linrec.l2norm
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK: math.exp
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x
// CHECK-NOT: linrec.recurrence
// The two-phase schedule: a workspace of chunk-start states (work items x chunks), a state
// pass over the work items that saves them, an output pass over (work item, chunk) that
// restores its state in the chunks that exist (uniform per block) and reads.
// With tensor cores the products are block-level matmuls of f16 tiles into f32 ones: the
// state (16 x 16) in f16, G and A as K Kᵀ / Q Kᵀ, the products with the state, A U, and the
// state update (K ⊙ e^{b_last − b})ᵀ U.
// TC-LABEL: func.func @__linrec_kernel_0
// TC-DAG: memref.alloca() : memref<16x16xf16, #gpu.address_space<workgroup>>
// TC: scf.for
// TC: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<16x16xf16, #gpu.address_space<workgroup>>, memref<16x16xf16, #gpu.address_space<workgroup>>) outs(%{{.*}} : memref<16x16xf32, #gpu.address_space<workgroup>>)
// TC-COUNT-4: linalg.matmul
// TC: mapping = [#gpu.loop_dim_map<processor = block_x
// TWO-LABEL: func.func @__linrec_kernel_0
// TWO: %[[CHUNKS:.*]] = arith.maxui
// TWO: %[[PROGRAMS:.*]] = arith.muli %{{.*}}, %[[CHUNKS]]
// TWO: %[[SAVED:.*]] = memref.alloc(%[[PROGRAMS]]) : memref<?x16x8xf32>
// TWO: scf.parallel
// TWO: memref.store %{{.*}}, %[[SAVED]]
// TWO: mapping = [#gpu.loop_dim_map<processor = block_x
// TWO: scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[PROGRAMS]])
// TWO: scf.if
// TWO: memref.load %[[SAVED]]
// TWO: mapping = [#gpu.loop_dim_map<processor = block_x
// TWO: memref.dealloc %[[SAVED]]
func.func @gated_delta(%q: tensor<2x?x4x16xf32>, %g: tensor<2x?x4xf32>)
    -> (tensor<2x?x4x16xf32>, tensor<2x4x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x?x4x16xf32>, tensor<2x?x4xf32>)
      -> (tensor<2x?x4x16xf32>, tensor<2x4x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>, %gt: f32):
    %k = linrec.l2norm %x : vector<16xf32>
    %b = linrec.feature_map <sigmoid> %gt : f32
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.delta %S1, %k, %b : !linrec.state<16x16xf32>, vector<16xf32>
    %S3 = linrec.write %S2, %k, %x scaled %b : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %o = linrec.read %S3, %x scale 0.25 : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S3 : !linrec.state<16x16xf32>) outputs(%o : vector<16xf32>)
  }
  return %o, %s : tensor<2x?x4x16xf32>, tensor<2x4x16x16xf32>
}

// -----

// A normalizer state and an output computed from two reads: whole value rows per program
// (the epilogue needs every column), whatever the value tile.
// CHECK-LABEL: func.func @normalized
// CHECK: func.func @__linrec_kernel_0
// CHECK-SAME: linrec.value_tiles = 1
// CHECK-DAG: memref.alloca() : memref<8x1xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<8x16xf32, #gpu.address_space<workgroup>>
// CHECK: arith.divf
// ROWS-LABEL: func.func @normalized
// ROWS: linrec.value_tiles = 1
func.func @normalized(%q: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x16xf32>) -> tensor<1x?x2x16xf32> {
  %o, %s, %zs = linrec.recurrence ins(%q, %v : tensor<1x?x2x8xf32>, tensor<1x?x2x16xf32>)
      -> (tensor<1x?x2x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  ^bb0(%S: !linrec.state<8x16xf32>, %z: !linrec.state<8xf32>, %x: vector<8xf32>, %vt: vector<16xf32>):
    %S1 = linrec.write %S, %x, %vt : !linrec.state<8x16xf32>, vector<8xf32>, vector<16xf32>
    %z1 = linrec.write %z, %x : !linrec.state<8xf32>, vector<8xf32>
    %num = linrec.read %S1, %x : !linrec.state<8x16xf32>, vector<8xf32> -> vector<16xf32>
    %den = linrec.read %z1, %x : !linrec.state<8xf32>, vector<8xf32> -> f32
    %d = vector.broadcast %den : f32 to vector<16xf32>
    %o = arith.divf %num, %d : vector<16xf32>
    linrec.yield states(%S1, %z1 : !linrec.state<8x16xf32>, !linrec.state<8xf32>) outputs(%o : vector<16xf32>)
  }
  return %o : tensor<1x?x2x16xf32>
}

// -----

// A value tile that does not divide dv: whole rows.
// ROWS-LABEL: func.func @plain
// ROWS: linrec.value_tiles = 1
// CHECK-LABEL: func.func @plain
// CHECK: linrec.value_tiles = 2
func.func @plain(%q: tensor<1x?x2x16xf32>) -> tensor<1x?x2x16xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x?x2x16xf32>) -> (tensor<1x?x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %o = linrec.read %S1, %x : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%o : vector<16xf32>)
  }
  return %o : tensor<1x?x2x16xf32>
}

// -----

// LoLCATs' linear term: projected features, keys and values delayed by 16 tokens, and reads
// of the state at the start of 16-token blocks, so chunks of 16 (8 were asked). The delayed
// rows are loaded a block back, with zeros before the sequence start; a thread projects its
// row in registers (an FMA per weight row, no scratch buffer shared by the threads).
// CHECK-LABEL: func.func @delayed_projected_block_reads
// CHECK: func.func @__linrec_kernel_0
// CHECK-NOT: memref.alloc(
// CHECK: memref.alloca() : memref<16x8xf32, #gpu.address_space<workgroup>>
// CHECK: arith.cmpi uge
// CHECK: arith.select
// CHECK: vector.extract %{{.*}}[15] : f32 from vector<16xf32>
// CHECK: vector.fma
// CHECK-NOT: linrec.read
// CHECK-NOT: linrec.project
func.func @delayed_projected_block_reads(%q: tensor<1x100x2x16xf32>, %w: tensor<2x16x8xf32>) -> tensor<1x100x2x16xf32> {
  %o, %s = linrec.recurrence ins(%q, %q : tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>) params(%w : tensor<2x16x8xf32>)
      {delays = array<i64: 0, 16>} -> (tensor<1x100x2x16xf32>, tensor<1x2x8x16xf32>) {
  ^bb0(%S: !linrec.state<8x16xf32>, %x: vector<16xf32>, %old: vector<16xf32>, %wt: vector<16x8xf32>):
    %k = linrec.project %old, %wt : vector<16xf32>, vector<16x8xf32> -> vector<8xf32>
    %u = linrec.project %x, %wt : vector<16xf32>, vector<16x8xf32> -> vector<8xf32>
    %S1 = linrec.write %S, %k, %old : !linrec.state<8x16xf32>, vector<8xf32>, vector<16xf32>
    %r = linrec.read %S1, %u block_start 16 : !linrec.state<8x16xf32>, vector<8xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<8x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o : tensor<1x100x2x16xf32>
}

// -----

// A sliding-window attention: one program per (batch row, head, block of 8 queries);
// the span's keys (8 queries + a reach of 15) and values in workgroup tiles, masked scores,
// row softmax (max, exponentials, sum), outputs.
// The work items are (batch row, head, query block): B · H · ⌈T / 8⌉ of them.
// CHECK-LABEL: func.func @sliding_window
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui
// CHECK: %[[WORK:.*]] = arith.muli %{{.*}}, %[[BLOCKS]]
// CHECK: call @__linrec_kernel_0({{.*}}, %[[WORK]])
// CHECK: func.func @__linrec_kernel_0
// CHECK-SAME: linrec.gpu_schedule
// CHECK-SAME: linrec.token_block = 8
// CHECK: scf.parallel
// CHECK-DAG: memref.alloca() : memref<8x16xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<16x23xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<23x16xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<8x23xf32, #gpu.address_space<workgroup>>
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x
func.func @sliding_window(%q: tensor<1x40x2x16xf32>) -> tensor<1x40x2x16xf32> {
  %o = linrec.window_attention %q, %q, %q window <sliding> size 16 weighting <softmax>
      {scale = 0.25 : f64}
      : (tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>) -> tensor<1x40x2x16xf32>
  return %o : tensor<1x40x2x16xf32>
}

// -----

// A masked write has no chunked form: the exact scan, one program per (sequence, head), the
// state in a workgroup tile; per token the mask on one thread (as 0 or 1), then the write as a
// phase over the state's elements, the read by columns, the outputs.
// CHECK-LABEL: func.func @masked_write
// CHECK: func.func @__linrec_kernel_0
// CHECK-SAME: linrec.value_tiles = 1
// CHECK: scf.parallel
// CHECK: memref.alloca() : memref<4x4xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: arith.cmpf olt
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: arith.cmpf ogt
// CHECK: arith.select
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x
func.func @masked_write(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>)
    -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %x, %x if %m : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %o = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o, %s : tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>
}
