// RUN: linrec-opt %s --split-input-file --linrec-build-sequence-parallel --verify-diagnostics | FileCheck %s
// RUN: linrec-opt %s --split-input-file --linrec-build-sequence-parallel="recurrence-begin=2 summary-end=6" --verify-diagnostics | FileCheck %s --check-prefix=HALO

// Gated DeltaNet: the summary is the final state from the layer's own initial state (the
// offset) and the part's transition P, the same decays and delta transitions with zero writes
// from the identity; the layer's output is not computed. The resume starts the recurrence
// from its initial state plus the carry.
// CHECK-LABEL: func.func @gated_delta(
// CHECK-LABEL: func.func @gated_delta_summary
// CHECK-SAME: %[[Q:[^:]*]]: tensor<1x8x2x4xf32> {linrec.name = "q"}, %[[K:[^:]*]]: tensor<1x8x2x4xf32> {linrec.name = "k"}, %[[V:[^:]*]]: tensor<1x8x2x4xf32> {linrec.name = "v"}, %[[G:[^:]*]]: tensor<1x8x2xf32> {linrec.name = "g"}, %[[B:[^:]*]]: tensor<1x8x2xf32> {linrec.name = "beta"}, %[[S0:[^:]*]]: tensor<1x2x4x4xf32> {linrec.name = "initial_state"}, %[[I:[^:]*]]: tensor<1x2x4x4xf32> {linrec.name = "r0.s0.identity"}
// CHECK-SAME: -> (tensor<1x2x4x4xf32> {linrec.name = "r0.s0.offset"}, tensor<1x2x4x4xf32> {linrec.name = "r0.s0.transition"})
// CHECK: %[[C:.*]] = linrec.recurrence ins(%[[Q]], %[[K]], %[[V]], %[[G]], %[[B]] : {{.*}}) init(%[[S0]] : tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>)
// CHECK-NOT: linrec.read
// CHECK: linrec.yield states
// CHECK: %[[P:.*]] = linrec.recurrence ins(%[[Q]], %[[K]], %[[V]], %[[G]], %[[B]] : {{.*}}) init(%[[I]] : tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>)
// CHECK: %[[P1:.*]] = linrec.decay %{{.*}}, %[[GT:.*]] : <4x4xf32>, f32
// CHECK: %[[P2:.*]] = linrec.delta %[[P1]], %[[KT:.*]], %[[BT:.*]] : <4x4xf32>
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK: %[[P3:.*]] = linrec.write %[[P2]], %[[KT]], %[[ZERO]] scaled %[[BT]]
// CHECK: linrec.yield states(%[[P3]] : !linrec.state<4x4xf32>)
// CHECK: return %[[C]], %[[P]]
// CHECK-LABEL: func.func @gated_delta_resume
// CHECK-SAME: %[[S0:[^:]*]]: tensor<1x2x4x4xf32> {linrec.name = "initial_state"}, %[[CARRY:[^:]*]]: tensor<1x2x4x4xf32> {linrec.name = "r0.s0.carry"})
// CHECK-SAME: -> (tensor<1x8x2x4xf32> {linrec.name = "o"}, tensor<1x2x4x4xf32> {linrec.name = "final_state"})
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[S0]], %[[CARRY]] :
// CHECK: arith.addf
// CHECK: %[[R:.*]]:2 = linrec.recurrence {{.*}} init(%[[INIT]] : tensor<1x2x4x4xf32>)
// CHECK: linrec.read
// CHECK: return %[[R]]#0, %[[R]]#1

// HALO-LABEL: func.func @gated_delta_summary
// HALO: %[[QS:.*]] = tensor.extract_slice %{{.*}}[0, 2, 0, 0] [1, 4, 2, 4] [1, 1, 1, 1] : tensor<1x8x2x4xf32> to tensor<1x4x2x4xf32>
// HALO: linrec.recurrence ins(%[[QS]], {{.*}} : tensor<1x4x2x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>)
// HALO-LABEL: func.func @gated_delta_resume
// HALO: tensor.extract_slice %{{.*}}[0, 2, 0, 0] [1, 6, 2, 4] [1, 1, 1, 1] : tensor<1x8x2x4xf32> to tensor<1x6x2x4xf32>
// HALO: %[[R:.*]]:2 = linrec.recurrence
// HALO: %[[O:.*]] = tensor.pad %[[R]]#0 low[0, 2, 0, 0] high[0, 0, 0, 0]
// HALO: return %[[O]], %[[R]]#1 : tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>
func.func @gated_delta(%q: tensor<1x8x2x4xf32> {linrec.name = "q"}, %k: tensor<1x8x2x4xf32> {linrec.name = "k"},
                       %v: tensor<1x8x2x4xf32> {linrec.name = "v"}, %g: tensor<1x8x2xf32> {linrec.name = "g"},
                       %beta: tensor<1x8x2xf32> {linrec.name = "beta"},
                       %s0: tensor<1x2x4x4xf32> {linrec.name = "initial_state"})
    -> (tensor<1x8x2x4xf32> {linrec.name = "o"}, tensor<1x2x4x4xf32> {linrec.name = "final_state"}) {
  %o, %s = linrec.recurrence ins(%q, %k, %v, %g, %beta : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2xf32>, tensor<1x8x2xf32>)
      init(%s0 : tensor<1x2x4x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>, %gt: f32, %bt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<4x4xf32>, f32
    %S2 = linrec.delta %S1, %kt, %bt : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %kt, %vt scaled %bt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S3, %qt scale 0.5 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S3 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o, %s : tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// GLA with a value-axis decay and a normalizer without decays: the matrix state's transition
// is the part's log-decay sums along both axes (running sums, 1 × n states written with the
// per-token log-decays), the normalizer's is the identity (its offset alone).
// CHECK-LABEL: func.func @gla_summary
// CHECK-SAME: -> (tensor<1x2x4x4xf32> {linrec.name = "r0.s0.offset"}, tensor<1x2x4xf32> {linrec.name = "r0.s1.offset"}, tensor<1x2x1x4xf32> {linrec.name = "r0.s0.key_log_decay"}, tensor<1x2x1x4xf32> {linrec.name = "r0.s0.value_log_decay"})
// CHECK: linrec.recurrence
// CHECK: %[[SUMS:.*]]:2 = linrec.recurrence ins({{.*}}) -> (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: !linrec.state<1x4xf32>, %[[W:.*]]: !linrec.state<1x4xf32>, %{{.*}}: vector<4xf32>, %{{.*}}: vector<4xf32>, %{{.*}}: vector<4xf32>, %[[GK:.*]]: vector<4xf32>, %[[GV:.*]]: vector<4xf32>):
// CHECK: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : vector<1xf32>
// CHECK: %[[A1:.*]] = linrec.write %[[A]], %[[ONE]], %[[GK]]
// CHECK: %[[W1:.*]] = linrec.write %[[W]], %[[ONE]], %[[GV]]
// CHECK: linrec.yield states(%[[A1]], %[[W1]] :
// CHECK-LABEL: func.func @gla_resume
// CHECK-SAME: {linrec.name = "r0.s0.carry"}, %{{.*}}: tensor<1x2x4xf32> {linrec.name = "r0.s1.carry"})
func.func @gla(%q: tensor<1x8x2x4xf32> {linrec.name = "q"}, %k: tensor<1x8x2x4xf32> {linrec.name = "k"},
               %v: tensor<1x8x2x4xf32> {linrec.name = "v"}, %gk: tensor<1x8x2x4xf32> {linrec.name = "gk"},
               %gv: tensor<1x8x2x4xf32> {linrec.name = "gv"})
    -> (tensor<1x8x2x4xf32> {linrec.name = "o"}) {
  %o, %s, %z = linrec.recurrence ins(%q, %k, %v, %gk, %gv : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %Z: !linrec.state<4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>, %gkt: vector<4xf32>, %gvt: vector<4xf32>):
    %S1 = linrec.decay %S, %gkt along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.decay %S1, %gvt along <value> : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %Z1 = linrec.write %Z, %kt : !linrec.state<4xf32>, vector<4xf32>
    %ot = linrec.read %S3, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S3, %Z1 : !linrec.state<4x4xf32>, !linrec.state<4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A Hadamard write multiplies by another state: the part's end is not affine in its start.
func.func @hadamard(%q: tensor<1x8x1x4xf32>) -> tensor<1x8x1x4xf32> {
  %o, %a, %g = linrec.recurrence ins(%q : tensor<1x8x1x4xf32>)
      -> (tensor<1x8x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%A: !linrec.state<4x4xf32>, %G: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %A1 = linrec.write %A, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{has no sequence-parallel summary: state #1 is updated by 'linrec.write_hadamard'}}
    %G1 = linrec.write_hadamard %G, %qt, %qt times %A : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32> times !linrec.state<4x4xf32>
    %ot = linrec.read %G1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A1, %G1 : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x8x1x4xf32>
}

// -----

// Time reversed: a part would start from the state after it.
func.func @reverse(%q: tensor<1x8x1x4xf32>) -> tensor<1x8x1x4xf32> {
  // expected-error @+1 {{has no sequence-parallel summary: a reverse recurrence}}
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x1x4xf32>) {reverse}
      -> (tensor<1x8x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x8x1x4xf32>
}
