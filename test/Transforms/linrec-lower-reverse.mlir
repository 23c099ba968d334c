// RUN: linrec-opt %s --split-input-file --linrec-lower-reverse | FileCheck %s

// Packed sequences: the whole token dim reverses (each sequence and their order), the offsets
// become total − cu[N − i], states reverse along N; delays are kept (they look back in the
// order the tokens run). The outputs and final states reverse back.
// CHECK-DAG: #[[TOKENS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, -d1 + 7, d2, d3)>
// CHECK-DAG: #[[GATES:.*]] = affine_map<(d0, d1, d2) -> (d0, -d1 + 7, d2)>
// CHECK-DAG: #[[SEQS:.*]] = affine_map<(d0, d1, d2, d3) -> (-d0 + 2, d1, d2, d3)>
// CHECK-DAG: #[[OFFSETS:.*]] = affine_map<(d0) -> (-d0 + 3)>
// CHECK-LABEL: func.func @reverse_varlen
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[G:.*]]: tensor<1x8x2xf32>, %[[S0:.*]]: tensor<3x2x16x16xf32>, %[[CU:.*]]: tensor<4xi32>)
// CHECK: %[[RQ:.*]] = linalg.generic {indexing_maps = [#[[TOKENS]], {{.*}}]} ins(%[[Q]] :
// CHECK: %[[RG:.*]] = linalg.generic {indexing_maps = [#[[GATES]], {{.*}}]} ins(%[[G]] :
// CHECK: %[[RS0:.*]] = linalg.generic {indexing_maps = [#[[SEQS]], {{.*}}]} ins(%[[S0]] :
// CHECK: %[[RCU:.*]] = linalg.generic {indexing_maps = [#[[OFFSETS]], {{.*}}]} ins(%[[CU]] :
// CHECK: arith.subi %c8_i32, %{{.*}} : i32
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%[[RQ]], %[[RG]] : {{.*}}) init(%[[RS0]] : {{.*}}) cu_seqlens(%[[RCU]] : {{.*}}) {delays = array<i64: 0, 1>} ->
// CHECK-NOT: reverse
// CHECK: %[[O:.*]] = linalg.generic {indexing_maps = [#[[TOKENS]], {{.*}}]} ins(%[[R]]#0 :
// CHECK: %[[ST:.*]] = linalg.generic {indexing_maps = [#[[SEQS]], {{.*}}]} ins(%[[R]]#1 :
// CHECK: return %[[O]], %[[ST]]
func.func @reverse_varlen(%q: tensor<1x8x2x16xf32>, %g: tensor<1x8x2xf32>, %s0: tensor<3x2x16x16xf32>, %cu: tensor<4xi32>)
    -> (tensor<1x8x2x16xf32>, tensor<3x2x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x16xf32>, tensor<1x8x2xf32>) init(%s0 : tensor<3x2x16x16xf32>)
      cu_seqlens(%cu : tensor<4xi32>) {delays = array<i64: 0, 1>, reverse}
      -> (tensor<1x8x2x16xf32>, tensor<3x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x16xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S2, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x16xf32>) outputs(%ot : vector<16xf32>)
  }
  return %o, %s : tensor<1x8x2x16xf32>, tensor<3x2x16x16xf32>
}

// -----

// State pools: the sequences reverse, so their indices do; the pool keeps its slots.
// CHECK-LABEL: func.func @reverse_varlen_state_pool
// CHECK-SAME: (%{{.*}}: tensor<1x8x2x16xf32>, %[[POOL:.*]]: tensor<5x2x16x16xf32>, %{{.*}}: tensor<4xi32>, %[[SLOTS:.*]]: tensor<3xi32>)
// CHECK: %[[RSLOTS:.*]] = linalg.generic {{.*}} ins(%[[SLOTS]] :
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%{{.*}} : {{.*}}) init(%[[POOL]] : tensor<5x2x16x16xf32>) cu_seqlens(%{{.*}} : {{.*}}) state_indices(%[[RSLOTS]] : tensor<3xi32>) ->
// CHECK-NOT: reverse
// CHECK: return %{{.*}}, %[[R]]#1
func.func @reverse_varlen_state_pool(%q: tensor<1x8x2x16xf32>, %pool: tensor<5x2x16x16xf32>,
                                     %cu: tensor<4xi32>, %slots: tensor<3xi32>)
    -> (tensor<1x8x2x16xf32>, tensor<5x2x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x16xf32>) init(%pool : tensor<5x2x16x16xf32>)
      cu_seqlens(%cu : tensor<4xi32>) state_indices(%slots : tensor<3xi32>) {reverse}
      -> (tensor<1x8x2x16xf32>, tensor<5x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%ot : vector<16xf32>)
  }
  return %o, %s : tensor<1x8x2x16xf32>, tensor<5x2x16x16xf32>
}

// -----

// Without offsets the batch rows keep their order: only the token dim reverses.
// CHECK-LABEL: func.func @reverse_batch
// CHECK-SAME: (%[[Q:.*]]: tensor<2x5x1x4xf32>, %[[S0:.*]]: tensor<2x1x4x4xf32>)
// CHECK: %[[RQ:.*]] = linalg.generic {{.*}} ins(%[[Q]] :
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%[[RQ]] : tensor<2x5x1x4xf32>) init(%[[S0]] : tensor<2x1x4x4xf32>) ->
// CHECK: %[[O:.*]] = linalg.generic {{.*}} ins(%[[R]]#0 :
// CHECK: return %[[O]], %[[R]]#1
func.func @reverse_batch(%q: tensor<2x5x1x4xf32>, %s0: tensor<2x1x4x4xf32>)
    -> (tensor<2x5x1x4xf32>, tensor<2x1x4x4xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<2x5x1x4xf32>) init(%s0 : tensor<2x1x4x4xf32>) {reverse}
      -> (tensor<2x5x1x4xf32>, tensor<2x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o, %s : tensor<2x5x1x4xf32>, tensor<2x1x4x4xf32>
}
