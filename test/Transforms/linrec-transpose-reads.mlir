// RUN: linrec-opt %s --linrec-transpose-reads --split-input-file | FileCheck %s
// RUN: linrec-opt %s --linrec-transpose-reads=mirror=0 --split-input-file | FileCheck %s --check-prefix=CARRY

// A state read both ways: the transposed read becomes a plain read of Sᵀ, a second state
// with the decay's axis exchanged and the write's key and value exchanged, from the
// transposed initial state; its final state is dropped.
// CHECK-LABEL: func.func @both_ways
// CHECK-SAME: %[[S0:[a-z0-9]*]]: tensor<1x2x4x3xf32>)
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[S0]] : tensor<1x2x4x3xf32>) outs(%{{.*}} : tensor<1x2x3x4xf32>)
// CHECK: %[[R:.*]]:4 = linrec.recurrence ins({{.*}}) init(%[[S0]], %[[INIT]] : tensor<1x2x4x3xf32>, tensor<1x2x3x4xf32>) {reverse} -> (tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>, tensor<1x2x4x3xf32>, tensor<1x2x3x4xf32>)
// CHECK: ^bb0(%[[S:.*]]: !linrec.state<4x3xf32>, %[[ST:.*]]: !linrec.state<3x4xf32>, %[[Q:.*]]: vector<4xf32>, %[[K:.*]]: vector<4xf32>, %[[V:.*]]: vector<3xf32>, %[[G:.*]]: vector<4xf32>, %[[B:.*]]: f32):
// CHECK: %[[S1:.*]] = linrec.decay %[[S]], %[[G]] along <key>
// CHECK: %[[ST1:.*]] = linrec.decay %[[ST]], %[[G]] along <value>
// CHECK: %[[S2:.*]] = linrec.write %[[S1]], %[[K]], %[[V]] scaled %[[B]] : <4x3xf32>
// CHECK: %[[ST2:.*]] = linrec.write %[[ST1]], %[[V]], %[[K]] scaled %[[B]] : <3x4xf32>
// CHECK: %[[O:.*]] = linrec.read %[[S2]], %[[Q]] :
// CHECK: %[[P:.*]] = linrec.read %[[ST2]], %[[V]] scale 5.000000e-01 : <3x4xf32>, vector<3xf32> -> vector<4xf32>
// CHECK-NOT: transposed
// CHECK: linrec.yield states(%[[S2]], %[[ST2]] : !linrec.state<4x3xf32>, !linrec.state<3x4xf32>) outputs(%[[O]], %[[P]] : vector<3xf32>, vector<4xf32>)
// CHECK: return %[[R]]#0, %[[R]]#2, %[[R]]#1
func.func @both_ways(%q: tensor<1x8x2x4xf32>, %k: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x3xf32>,
                     %g: tensor<1x8x2x4xf32>, %b: tensor<1x8x2xf32>, %s0: tensor<1x2x4x3xf32>)
    -> (tensor<1x8x2x3xf32>, tensor<1x2x4x3xf32>, tensor<1x8x2x4xf32>) {
  %o, %p, %s = linrec.recurrence ins(%q, %k, %v, %g, %b : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>,
      tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) init(%s0 : tensor<1x2x4x3xf32>)
      {reverse} -> (tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>, tensor<1x2x4x3xf32>) {
  ^bb0(%S: !linrec.state<4x3xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<3xf32>,
       %gt: vector<4xf32>, %bt: f32):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<4x3xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %kt, %vt scaled %bt : !linrec.state<4x3xf32>, vector<4xf32>, vector<3xf32>
    %ot = linrec.read %S2, %qt : !linrec.state<4x3xf32>, vector<4xf32> -> vector<3xf32>
    %pt = linrec.read %S2, %vt scale 0.5 transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x3xf32>) outputs(%ot, %pt : vector<3xf32>, vector<4xf32>)
  }
  return %o, %s, %p : tensor<1x8x2x3xf32>, tensor<1x2x4x3xf32>, tensor<1x8x2x4xf32>
}

// -----

// A state read only transposed is carried transposed, without a copy: a plain read of Sᵀ,
// the write's key and value exchanged; its final state unused, nothing transposes it back.
// CHECK-LABEL: func.func @read_only_transposed
// CHECK: linrec.recurrence ins({{[^)]*}}) -> (tensor<1x8x2x4xf32>, tensor<1x2x3x4xf32>)
// CHECK: ^bb0(%[[ST:.*]]: !linrec.state<3x4xf32>, %[[U:.*]]: vector<3xf32>, %[[K:.*]]: vector<4xf32>, %[[V:.*]]: vector<3xf32>):
// CHECK: linrec.read %[[ST]], %[[U]] : <3x4xf32>, vector<3xf32> -> vector<4xf32>
// CHECK: linrec.write %[[ST]], %[[V]], %[[K]] : <3x4xf32>
// CHECK-NOT: linalg.generic
// CARRY-LABEL: func.func @read_only_transposed
// CARRY: linrec.read %{{.*}}, %{{.*}} : <3x4xf32>, vector<3xf32> -> vector<4xf32>
func.func @read_only_transposed(%u: tensor<1x8x2x3xf32>, %k: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x3xf32>)
    -> tensor<1x8x2x4xf32> {
  %p, %s = linrec.recurrence ins(%u, %k, %v : tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>,
      tensor<1x8x2x3xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x3xf32>) {
  ^bb0(%S: !linrec.state<4x3xf32>, %ut: vector<3xf32>, %kt: vector<4xf32>, %vt: vector<3xf32>):
    %pt = linrec.read %S, %ut transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<4x3xf32>, vector<4xf32>, vector<3xf32>
    linrec.yield states(%S1 : !linrec.state<4x3xf32>) outputs(%pt : vector<4xf32>)
  }
  return %p : tensor<1x8x2x4xf32>
}

// -----

// Carried with an initial state and a final state in use (the dq recurrence of a derived
// backward): the init transposed before, the final state transposed back after; the key
// decay becomes a value decay. Dynamic batch and heads (a kernel source's) take tensor.dim.
// CHECK-LABEL: func.func @carried_with_init
// CHECK-SAME: %[[S0:[a-z0-9]*]]: tensor<?x?x4x3xf32>)
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[S0]] : tensor<?x?x4x3xf32>) outs(%{{.*}} : tensor<?x?x3x4xf32>)
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins({{.*}}) init(%[[INIT]] : tensor<?x?x3x4xf32>) -> (tensor<?x8x?x4xf32>, tensor<?x?x3x4xf32>)
// CHECK: linrec.decay %{{.*}}, %{{.*}} along <value> : <3x4xf32>, vector<4xf32>
// CHECK: %[[FINAL:.*]] = linalg.generic {{.*}} ins(%[[R]]#1 : tensor<?x?x3x4xf32>) outs(%{{.*}} : tensor<?x?x4x3xf32>)
// CHECK: return %[[R]]#0, %[[FINAL]]
// CARRY-LABEL: func.func @carried_with_init
// CARRY: linrec.decay %{{.*}}, %{{.*}} along <value> : <3x4xf32>, vector<4xf32>
func.func @carried_with_init(%u: tensor<?x8x?x3xf32>, %k: tensor<?x8x?x4xf32>, %v: tensor<?x8x?x3xf32>,
                             %g: tensor<?x8x?x4xf32>, %s0: tensor<?x?x4x3xf32>)
    -> (tensor<?x8x?x4xf32>, tensor<?x?x4x3xf32>) {
  %p, %s = linrec.recurrence ins(%u, %k, %v, %g : tensor<?x8x?x3xf32>, tensor<?x8x?x4xf32>,
      tensor<?x8x?x3xf32>, tensor<?x8x?x4xf32>) init(%s0 : tensor<?x?x4x3xf32>)
      -> (tensor<?x8x?x4xf32>, tensor<?x?x4x3xf32>) {
  ^bb0(%S: !linrec.state<4x3xf32>, %ut: vector<3xf32>, %kt: vector<4xf32>, %vt: vector<3xf32>,
       %gt: vector<4xf32>):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<4x3xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %kt, %vt : !linrec.state<4x3xf32>, vector<4xf32>, vector<3xf32>
    %pt = linrec.read %S2, %ut transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x3xf32>) outputs(%pt : vector<4xf32>)
  }
  return %p, %s : tensor<?x8x?x4xf32>, tensor<?x?x4x3xf32>
}

// -----

// Without mirrors (the CPU's pipeline), a state read both ways keeps its transposed read,
// and so does a delta rule's state (no transposed form).
// CARRY-LABEL: func.func @kept_without_mirror
// CARRY: linrec.read %{{.*}}, %{{.*}} transposed : <4x3xf32>
// CARRY: linrec.read %{{.*}}, %{{.*}} transposed : <4x3xf32>
func.func @kept_without_mirror(%q: tensor<1x8x2x4xf32>, %k: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x3xf32>)
    -> (tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>) {
  %o, %p, %s = linrec.recurrence ins(%q, %k, %v : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>,
      tensor<1x8x2x3xf32>) -> (tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>, tensor<1x2x4x3xf32>) {
  ^bb0(%S: !linrec.state<4x3xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<3xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<4x3xf32>, vector<4xf32>, vector<3xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x3xf32>, vector<4xf32> -> vector<3xf32>
    %pt = linrec.read %S1, %vt transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    %rt = linrec.read %S1, %vt scale 2.0 transposed : !linrec.state<4x3xf32>, vector<3xf32> -> vector<4xf32>
    %sum = arith.addf %pt, %rt : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x3xf32>) outputs(%ot, %sum : vector<3xf32>, vector<4xf32>)
  }
  return %o, %p : tensor<1x8x2x3xf32>, tensor<1x8x2x4xf32>
}
