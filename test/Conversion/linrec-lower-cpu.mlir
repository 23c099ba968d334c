// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=1" | FileCheck %s
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=1 value-tiles=2" | FileCheck %s --check-prefix=VTILE
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=2" | FileCheck %s --check-prefix=HEADS
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=1 matmul-rows=2 matmul-columns=8" | FileCheck %s --check-prefix=TILE
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=0 threads=2" | FileCheck %s --check-prefix=AUTO2
// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu="chunk-size=32 heads-per-item=0 threads=1" | FileCheck %s --check-prefix=AUTO1

// The matmul register tile is a schedule parameter: 2 rows x 8 columns here.
// TILE-LABEL: func.func @__linrec_kernel_0
// TILE: %[[A:.*]] = vector.fma %{{.*}}, %[[B:.*]], %{{.*}} : vector<8xf32>
// TILE: %[[C:.*]] = vector.fma %{{.*}}, %[[B]], %{{.*}} : vector<8xf32>
// TILE-NEXT: scf.yield %[[A]], %[[C]] : vector<8xf32>, vector<8xf32>

// A gated delta rule: the chunked kernel, called on buffers of the operands.
// CHECK-LABEL: func.func @gated_delta
// CHECK-SAME: (%[[Q:.*]]: tensor<2x?x4x16xf32>, %[[G:.*]]: tensor<2x?x4xf32>)
// CHECK-DAG: %[[QB:.*]] = bufferization.to_buffer %[[Q]] read_only : tensor<2x?x4x16xf32> to memref<2x?x4x16xf32>
// CHECK-DAG: %[[GB:.*]] = bufferization.to_buffer %[[G]] read_only
// CHECK-DAG: %[[T:.*]] = tensor.dim %[[Q]], %c1
// CHECK-DAG: %[[WORK:.*]] = arith.muli
// CHECK: %[[O:.*]] = memref.alloc(%[[T]]) : memref<2x?x4x16xf32>
// CHECK: %[[S:.*]] = memref.alloc() : memref<2x4x16x16xf32>
// CHECK: call @__linrec_kernel_0(%[[QB]], %[[GB]], %[[O]], %[[S]], %{{.*}}, %[[WORK]])
// CHECK: bufferization.to_tensor %[[O]] restrict writable
// CHECK: bufferization.to_tensor %[[S]] restrict writable
//
// CHECK: func.func @__linrec_kernel_0(%{{.*}}: memref<2x?x4x16xf32>, %{{.*}}: memref<2x?x4xf32>, %{{.*}}: memref<2x?x4x16xf32>, %{{.*}}: memref<2x4x16x16xf32>, %{{.*}}: index, %{{.*}}: index) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 1 : i64, linrec.value_tiles = 1 : i64, llvm.emit_c_interface}
// Chunk buffers of 32 tokens, allocated once per call.
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<32x16xf32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<32x32xf32>
// The work items, the chunks, and inside: the body's l2norm cloned into the token loop,
// exponentials of decay differences, the triangular solve and vectorized products.
// The prologue prefetches the input rows of the token 4 ahead into L1 (locality 3) while it
// loads this one's; the chunk's matmuls prefetch the next chunk's rows, outputs for writing.
// CHECK: scf.for
// CHECK: arith.ceildivui
// CHECK: scf.for
// CHECK: %[[AHEAD:.*]] = arith.addi %{{.*}}, %c4{{.*}} : index
// CHECK: memref.prefetch %arg0[%{{.*}}, %[[AHEAD]], %{{.*}}, %{{.*}}], read, locality<3>, data
// CHECK-NEXT: memref.prefetch %arg1[%{{.*}}, %[[AHEAD]], %{{.*}}], read, locality<3>, data
// CHECK: linrec.l2norm
// CHECK: math.exp
// CHECK: memref.prefetch %arg2[{{.*}}], write, locality<3>, data
// CHECK: vector.fma
// CHECK-NOT: linrec.recurrence
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

// Varlen: the work items are sequences x heads, the token range comes from cu_seqlens.
// CHECK-LABEL: func.func @varlen
// CHECK: %[[N:.*]] = arith.subi
// CHECK: %[[WORK:.*]] = arith.muli %[[N]]
// CHECK: call @__linrec_kernel_0({{.*}}, %[[WORK]])
// CHECK: func.func @__linrec_kernel_0
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: arith.index_cast
func.func @varlen(%q: tensor<1x?x2x8xf32>, %cu: tensor<?xi32>) -> tensor<?x2x8x8xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x?x2x8xf32>) cu_seqlens(%cu : tensor<?xi32>)
      -> (tensor<?x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>)
  }
  return %s : tensor<?x2x8x8xf32>
}

// -----

// A masked write has no chunked form: the kernel is a token-by-token scan (no chunk loop).
// CHECK-LABEL: func.func @masked
// CHECK: func.func @__linrec_kernel_0
// CHECK-NOT: arith.ceildivui
// CHECK: arith.cmpf olt
// CHECK: arith.select
func.func @masked(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %x, %x if %m : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// Value tiles: two work items per (batch row, head), each on 16 of the 32 value columns.
// VTILE-LABEL: func.func @value_tiles
// VTILE: %[[BH:.*]] = arith.muli
// VTILE: %[[WORK:.*]] = arith.muli %[[BH]], %c2
// VTILE: call @__linrec_kernel_0({{.*}}, %[[WORK]])
// VTILE: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 1 : i64, linrec.value_tiles = 2 : i64, llvm.emit_c_interface}
// VTILE: memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
// VTILE: arith.remui %{{.*}}, %c2
// VTILE: memref.subview %{{.*}}[0, %{{.*}}] [32, 16] [1, 1]
func.func @value_tiles(%q: tensor<1x?x2x16xf32>, %v: tensor<1x?x2x32xf32>, %g: tensor<1x?x2xf32>)
    -> tensor<1x?x2x32xf32> attributes {} {
  %o, %s = linrec.recurrence ins(%q, %v, %g : tensor<1x?x2x16xf32>, tensor<1x?x2x32xf32>, tensor<1x?x2xf32>)
      -> (tensor<1x?x2x32xf32>, tensor<1x2x16x32xf32>) {
  ^bb0(%S: !linrec.state<16x32xf32>, %qt: vector<16xf32>, %vt: vector<32xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x32xf32>, f32
    %S2 = linrec.write %S1, %qt, %vt : !linrec.state<16x32xf32>, vector<16xf32>, vector<32xf32>
    %o = linrec.read %S2, %qt : !linrec.state<16x32xf32>, vector<16xf32> -> vector<32xf32>
    linrec.yield states(%S2 : !linrec.state<16x32xf32>) outputs(%o : vector<32xf32>)
  }
  return %o : tensor<1x?x2x32xf32>
}

// -----

// Head groups: work items are (batch row, group of 2 adjacent heads); the heads of a group
// advance chunk by chunk together, each with its own state.
// HEADS-LABEL: func.func @head_groups
// HEADS: %[[H:.*]] = tensor.dim %{{.*}}, %c2
// HEADS: %[[G:.*]] = arith.ceildivui %[[H]], %c2
// HEADS: %[[WORK:.*]] = arith.muli %{{.*}}, %[[G]]
// HEADS: call @__linrec_kernel_0({{.*}}, %[[WORK]])
// HEADS: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 2 : i64
// HEADS: memref.alloc() {alignment = 64 : i64} : memref<32x16xf32>
// HEADS: scf.for %{{.*}} = %c0{{.*}} to %{{.*}} step
// HEADS: memref.subview %{{.*}}[%{{.*}}, 0] [16, 16] [1, 1]
func.func @head_groups(%q: tensor<1x?x?x16xf32>, %g: tensor<1x?x?xf32>) -> tensor<1x?x16x16xf32> {
  %s = linrec.recurrence ins(%q, %g : tensor<1x?x?x16xf32>, tensor<1x?x?xf32>) -> (tensor<1x?x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.write %S1, %x, %x : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x16xf32>)
  }
  return %s : tensor<1x?x16x16xf32>
}

// -----

// A window attention becomes a kernel over B · H work items: the block's scores are a
// register-tiled matmul of queries and the span of keys, masked per row to the window, and the
// outputs a second matmul with the values. Sums over a vector may reassociate (a tree of
// shuffles, not a chain of scalar adds).
// CHECK-LABEL: func.func @window
// CHECK: %[[WORK:.*]] = arith.muli
// CHECK: call @__linrec_kernel_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[WORK]])
// CHECK: func.func @__linrec_kernel_0(%{{.*}}: memref<1x?x2x16xf32>, %{{.*}}: memref<1x?x2x16xf32>, %{{.*}}: memref<1x?x2x8xf32>, %{{.*}}: memref<1x?x2x8xf32>, %{{.*}}: memref<1x?x2xf32>, %{{.*}}: index, %{{.*}}: index)
// CHECK: vector.fma
// CHECK: arith.cmpf oge
// CHECK: vector.reduction <maximumf>
// CHECK: math.exp
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc>
func.func @window(%q: tensor<1x?x2x16xf32>, %v: tensor<1x?x2x8xf32>) -> (tensor<1x?x2x8xf32>, tensor<1x?x2xf32>) {
  %n, %d = linrec.window_attention %q, %q, %v window <terraced> size 32 weighting <shifted_exp>
      : (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x8xf32>) -> (tensor<1x?x2x8xf32>, tensor<1x?x2xf32>)
  return %n, %d : tensor<1x?x2x8xf32>, tensor<1x?x2xf32>
}

// -----

// A window read: per chunk, a span of 16 history rows (the window's 3 earlier tokens, rounded
// up) and the chunk's 32 rows of keys and values; per block of 16 queries, scores against the
// band of 32 span rows their windows reach, masked softmax rows.
// CHECK-LABEL: func.func @window_read
// CHECK: call @__linrec_kernel_0
// CHECK: func.func @__linrec_kernel_0
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<48x4xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<4x48xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<32x48xf32>
// CHECK: vector.reduction <maximumf>, %{{.*}} : vector<32xf32> into f32
// CHECK: math.exp %{{.*}} : vector<32xf32>
// CHECK-NOT: linrec.window_read
func.func @window_read(%q: tensor<1x100x2x4xf32>) -> (tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<1x100x2x4xf32>) -> (tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %w = linrec.window_read %x, %x, %x size 4 scale 0.5 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o, %s : tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// Block-start reads of 64-token blocks need whole blocks per chunk: chunks of 64 although 32
// were asked. A terraced window of 16 reaches 31 tokens back: a span of 32 history rows (31
// rounded up) and the chunk's 64.
// CHECK-LABEL: func.func @terraced_block_reads
// CHECK: func.func @__linrec_kernel_0
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<64x4xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<96x4xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<64x96xf32>
// CHECK-NOT: linrec.read
func.func @terraced_block_reads(%q: tensor<1x100x2x4xf32>) -> (tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<1x100x2x4xf32>) -> (tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %w = linrec.window_read %x, %x, %x window <terraced> size 16 scale 0.5 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x block_start 64 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o, %s : tensor<1x100x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// A norm over heads: every head of a batch row in one work item (heads_per_item = 4: B work
// items), whole value rows, the chunk's output rows normalized after the heads' epilogues.
// CHECK-LABEL: func.func @heads_norm
// CHECK: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 4 : i64, linrec.value_tiles = 1 : i64
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc>
// CHECK: math.sqrt
func.func @heads_norm(%q: tensor<2x100x4x8xf32>) -> (tensor<2x100x4x8xf32>, tensor<2x4x8x8xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<2x100x4x8xf32>) {heads_norm_eps = 1.0e-08 : f64}
      -> (tensor<2x100x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  return %o, %s : tensor<2x100x4x8xf32>, tensor<2x4x8x8xf32>
}

// -----

// heads-per-item=0 chooses the grouping from the static B and H: the most heads (up to 8,
// dividing H) that leave each of the threads an equal share of work items. B = 1, H = 8: two
// items of 4 heads on 2 threads, one of 8 on 1. Dynamic heads are not grouped.
// AUTO2-LABEL: func.func @auto_groups
// AUTO2: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 4 : i64
// AUTO2: func.func @__linrec_kernel_1({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 1 : i64
// AUTO1-LABEL: func.func @auto_groups
// AUTO1: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 8 : i64
// AUTO1: func.func @__linrec_kernel_1({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 1 : i64
func.func @auto_groups(%q: tensor<1x64x8x16xf32>, %qd: tensor<1x64x?x16xf32>)
    -> (tensor<1x8x16x16xf32>, tensor<1x?x16x16xf32>) {
  %s = linrec.recurrence ins(%q : tensor<1x64x8x16xf32>) -> (tensor<1x8x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>)
  }
  %sd = linrec.recurrence ins(%qd : tensor<1x64x?x16xf32>) -> (tensor<1x?x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>)
  }
  return %s, %sd : tensor<1x8x16x16xf32>, tensor<1x?x16x16xf32>
}

// -----

// Marked chunked_product: the chunked product form (ChunkedProductKernel.cpp) in chunks of at
// most 16 tokens (32 asked): per query, the pair weights of the in-chunk keys (16 x 16, masked
// to keys up to the query) and pair rows q ⊙ a_j (16 x 4).
// CHECK-LABEL: func.func @chunked_product
// CHECK: func.func @__linrec_kernel_0({{.*}}) attributes {linrec.algorithm = #linrec.algorithm<{{[a-z_]+}}>, linrec.heads_per_item = 1 : i64, linrec.value_tiles = 1 : i64
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<16x4xf32>
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<4x16xf32>
// CHECK: arith.ceildivui %{{.*}}, %c16
// CHECK: arith.cmpf ole, %{{.*}}, %{{.*}} : vector<16xf32>
func.func @chunked_product(%q: tensor<1x?x2x4xf32>, %v: tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q, %v : tensor<1x?x2x4xf32>, tensor<1x?x2x8xf32>)
      {algorithm = #linrec.algorithm<chunked_product>}
      -> (tensor<1x?x2x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  ^bb0(%S1: !linrec.state<4x8xf32>, %S2: !linrec.state<4x8xf32>, %x: vector<4xf32>, %y: vector<8xf32>):
    %A = linrec.write %S1, %x, %y : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %B = linrec.write %S2, %x, %y : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x8xf32>, vector<4xf32> -> vector<8xf32>
    linrec.yield states(%A, %B : !linrec.state<4x8xf32>, !linrec.state<4x8xf32>) outputs(%p : vector<8xf32>)
  }
  return %o : tensor<1x?x2x8xf32>
}

// -----

// The scan (here forced): per token, the decay, delta transition, write and read of a state
// are one loop over its rows, stored straight into the state buffer, after one loop that sums
// Sᵀk from recomputed decayed rows; no pass per op, no copy back.
// CHECK-LABEL: func.func @scan_in_row_passes
// CHECK: func.func @__linrec_kernel_0
// CHECK: math.exp
// CHECK: scf.for {{.*}} iter_args(%[[SUM:.*]] = %{{.*}}) -> (vector<4xf32>)
// CHECK: vector.fma %{{.*}}, %{{.*}}, %[[SUM]] : vector<4xf32>
// CHECK: scf.for %[[ROW:.*]] = {{.*}} iter_args(%[[READ:.*]] = %{{.*}}) -> (vector<4xf32>)
// CHECK: %[[WRITTEN:.*]] = vector.fma
// CHECK: vector.fma %{{.*}}, %[[WRITTEN]], %[[READ]] : vector<4xf32>
// CHECK: vector.store %[[WRITTEN]], %[[STATE:.*]][%[[ROW]], %{{.*}}] : memref<4x4xf32>
// CHECK: vector.store {{.*}} : memref<1x?x2x4xf32>
// CHECK-NOT: vector.store {{.*}} : memref<4x4xf32>
// CHECK: vector.store %{{.*}}, %{{.*}} : memref<1x2x4x4xf32>
func.func @scan_in_row_passes(%q: tensor<1x?x2x4xf32>, %g: tensor<1x?x2xf32>, %s0: tensor<1x2x4x4xf32>)
    -> (tensor<1x?x2x4xf32>, tensor<1x2x4x4xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x?x2x4xf32>, tensor<1x?x2xf32>)
      init(%s0 : tensor<1x2x4x4xf32>) {algorithm = #linrec.algorithm<sequential>}
      -> (tensor<1x?x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %D = linrec.decay %S, %gt : !linrec.state<4x4xf32>, f32
    %E = linrec.delta %D, %x, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %W = linrec.write %E, %x, %x scaled %gt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %W, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%W : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o, %s : tensor<1x?x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// A key-decay delta rule (kda) computes the key-decay attention twice per chunk (G for the
// solve, then A for the read), called with j < i (0) and j <= i (1). Whether the chunk's
// decays are small enough to factor it whole (|b| < 60) is decided once per chunk: then one
// product (a private function, shared by G and A); else the transposes and the sub-chunks
// (private functions optimized for size: strong decays are rare).
// CHECK-LABEL: func.func @key_decay_delta
// CHECK: func.func @__linrec_kernel_0
// CHECK: %[[BOUND:.*]] = vector.reduction <maximumf>
// CHECK: %[[FACTORED:.*]] = arith.cmpf olt, %[[BOUND]], %{{.*}} : f32
// CHECK: scf.if %[[FACTORED]] {
// CHECK: } else {
// CHECK-NEXT: func.call @[[TRANSPOSES:__linrec_sub_chunk_transposes___linrec_kernel_0_0]](
// CHECK: scf.if %[[FACTORED]] {
// CHECK-NEXT: func.call @[[FACTORED_ATTENTION:__linrec_factored_attention___linrec_kernel_0_0]]({{.*}}, %c0{{.*}}) :
// CHECK-NEXT: } else {
// CHECK-NEXT: func.call @[[SUB_CHUNKS:__linrec_sub_chunk_attention___linrec_kernel_0_0]]({{.*}}, %c0{{.*}}) :
// CHECK: scf.if %[[FACTORED]] {
// CHECK-NEXT: func.call @[[FACTORED_ATTENTION]]({{.*}}, %c1{{.*}}) :
// CHECK-NEXT: } else {
// CHECK-NEXT: func.call @[[SUB_CHUNKS]]({{.*}}, %c1{{.*}}) :
// CHECK-DAG: func.func private @[[TRANSPOSES]]({{.*}}) attributes {passthrough = ["noinline", "optsize"]}
// CHECK-DAG: func.func private @[[FACTORED_ATTENTION]]({{.*}}: memref<32x16xf32>, {{.*}}: index) attributes {passthrough = ["noinline"]}
// CHECK-DAG: func.func private @[[SUB_CHUNKS]]({{.*}}: memref<32x16xf32>, {{.*}}: index) attributes {passthrough = ["noinline", "optsize"]}
func.func @key_decay_delta(%q: tensor<1x?x2x16xf32>, %gk: tensor<1x?x2x16xf32>, %beta: tensor<1x?x2xf32>)
    -> tensor<1x?x2x16xf32> {
  %o, %s = linrec.recurrence ins(%q, %gk, %beta : tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>)
      -> (tensor<1x?x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %x: vector<16xf32>, %g: vector<16xf32>, %b: f32):
    %D = linrec.decay %S, %g along <key> : !linrec.state<16x16xf32>, vector<16xf32>
    %E = linrec.delta %D, %x, %b : !linrec.state<16x16xf32>, vector<16xf32>
    %W = linrec.write %E, %x, %x scaled %b : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %W, %x : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%W : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o : tensor<1x?x2x16xf32>
}

// -----

// A chunk's rows of one head (here 3 x 256 inputs and 256 outputs: 128 KB in chunks of 32)
// exceed what L1 keeps: the next chunk's rows are prefetched to L2 (locality 2); the prologue
// still pulls each token's input rows into L1 four tokens ahead.
// CHECK-LABEL: func.func @large_rows
// CHECK: func.func @__linrec_kernel_0
// CHECK: memref.prefetch %arg0[{{.*}}], read, locality<3>, data
// CHECK: memref.prefetch %arg0[{{.*}}], read, locality<2>, data
// CHECK: memref.prefetch %arg3[{{.*}}], write, locality<2>, data
func.func @large_rows(%q: tensor<1x?x1x256xf32>, %k: tensor<1x?x1x256xf32>, %v: tensor<1x?x1x256xf32>)
    -> tensor<1x?x1x256xf32> {
  %o, %s = linrec.recurrence ins(%q, %k, %v : tensor<1x?x1x256xf32>, tensor<1x?x1x256xf32>, tensor<1x?x1x256xf32>)
      -> (tensor<1x?x1x256xf32>, tensor<1x1x256x256xf32>) {
  ^bb0(%S: !linrec.state<256x256xf32>, %qt: vector<256xf32>, %kt: vector<256xf32>, %vt: vector<256xf32>):
    %W = linrec.write %S, %kt, %vt : !linrec.state<256x256xf32>, vector<256xf32>, vector<256xf32>
    %r = linrec.read %W, %qt : !linrec.state<256x256xf32>, vector<256xf32> -> vector<256xf32>
    linrec.yield states(%W : !linrec.state<256x256xf32>) outputs(%r : vector<256xf32>)
  }
  return %o : tensor<1x?x1x256xf32>
}
