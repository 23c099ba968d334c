// RUN: linrec-opt %s --split-input-file --linrec-normalize | FileCheck %s

// CHECK-LABEL: func.func @gated_deltanet
// CHECK-SAME: (%[[Q:.*]]: tensor<2x16x4x8xf32>, %[[K:.*]]: tensor<2x16x4x8xf32>, %[[V:.*]]: tensor<2x16x4x4xf32>, %[[G:.*]]: tensor<2x16x4xf32>, %[[B:.*]]: tensor<2x16x4xf32>, %[[S0:.*]]: tensor<2x4x8x4xf32>)
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%[[Q]], %[[K]], %[[V]], %[[G]], %[[B]] : {{.*}}) init(%[[S0]] : tensor<2x4x8x4xf32>) -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>) {
// CHECK: ^bb0(%[[S:arg[0-9]+]]: !linrec.state<8x4xf32>, %[[QT:arg[0-9]+]]: vector<8xf32>, %[[KT:arg[0-9]+]]: vector<8xf32>, %[[VT:arg[0-9]+]]: vector<4xf32>, %[[GT:arg[0-9]+]]: f32, %[[BT:arg[0-9]+]]: f32):
// CHECK-NEXT: %[[S1:.*]] = linrec.decay %[[S]], %[[GT]] : <8x4xf32>, f32
// CHECK-NEXT: %[[S2:.*]] = linrec.delta %[[S1]], %[[KT]], %[[BT]]
// CHECK-NEXT: %[[S3:.*]] = linrec.write %[[S2]], %[[KT]], %[[VT]] scaled %[[BT]]
// CHECK-NEXT: %[[O:.*]] = linrec.read %[[S3]], %[[QT]] scale 0.3535533905932737{{[0-9]*}}
// CHECK-NEXT: linrec.yield states(%[[S3]] : !linrec.state<8x4xf32>) outputs(%[[O]] : vector<4xf32>)
// CHECK: return %[[R]]#0, %[[R]]#1
// CHECK-NOT: linrec.gated_deltanet
func.func @gated_deltanet(%q: tensor<2x16x4x8xf32>, %k: tensor<2x16x4x8xf32>, %v: tensor<2x16x4x4xf32>,
    %g: tensor<2x16x4xf32>, %b: tensor<2x16x4xf32>, %s0: tensor<2x4x8x4xf32>)
    -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>) {
  %o, %s = linrec.gated_deltanet %q, %k, %v gate(%g) beta(%b) init(%s0) {scale = 0.35355339059327373 : f64}
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4xf32>,
         tensor<2x16x4xf32>, tensor<2x4x8x4xf32>) -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>)
  return %o, %s : tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>
}

// -----

// State pools: the indices go to the recurrence, the pool is its init.
// CHECK-LABEL: func.func @simple_gla_state_pool
// CHECK: linrec.recurrence ins({{.*}}) init(%{{.*}} : tensor<7x4x8x4xf32>) state_indices(%{{.*}} : tensor<2xi32>) -> (tensor<2x1x4x4xf32>, tensor<7x4x8x4xf32>)
func.func @simple_gla_state_pool(%q: tensor<2x1x4x8xf32>, %v: tensor<2x1x4x4xf32>,
    %g: tensor<2x1x4xf32>, %pool: tensor<7x4x8x4xf32>, %slots: tensor<2xi32>)
    -> (tensor<2x1x4x4xf32>, tensor<7x4x8x4xf32>) {
  %o, %s = linrec.simple_gla %q, %q, %v gate(%g) init(%pool) state_indices(%slots)
      : (tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<2x1x4x4xf32>, tensor<2x1x4xf32>,
         tensor<7x4x8x4xf32>, tensor<2xi32>) -> (tensor<2x1x4x4xf32>, tensor<7x4x8x4xf32>)
  return %o, %s : tensor<2x1x4x4xf32>, tensor<7x4x8x4xf32>
}

// -----

// Both vector decays, and varlen.
// CHECK-LABEL: func.func @gla
// CHECK: linrec.recurrence ins({{.*}}) cu_seqlens(%{{.*}} : tensor<4xi32>)
// CHECK: linrec.decay %{{.*}}, %{{.*}} along <key> : <8x4xf32>, vector<8xf32>
// CHECK-NEXT: linrec.decay %{{.*}}, %{{.*}} along <value> : <8x4xf32>, vector<4xf32>
// CHECK-NEXT: linrec.write
// CHECK-NOT: scaled
// CHECK-NEXT: linrec.read
func.func @gla(%q: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x4xf32>, %cu: tensor<4xi32>)
    -> tensor<1x?x2x4xf32> {
  %o, %s = linrec.gla %q, %q, %v gate(%q) value_gate(%v) cu_seqlens(%cu)
      : (tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x8xf32>,
         tensor<1x?x2x4xf32>, tensor<4xi32>) -> (tensor<1x?x2x4xf32>, tensor<3x2x8x4xf32>)
  return %o : tensor<1x?x2x4xf32>
}

// -----

// A constant decay per head becomes a per-head param.
// CHECK-LABEL: func.func @lightning
// CHECK: %[[LD:.*]] = arith.constant dense<[-5.000000e-01, -2.500000e-01]> : tensor<2xf64>
// CHECK: linrec.recurrence ins({{.*}}) params(%[[LD]] : tensor<2xf64>)
// CHECK: ^bb0(%[[S:arg[0-9]+]]: !linrec.state<8x8xf32>, %{{.*}}: vector<8xf32>, %{{.*}}: vector<8xf32>, %{{.*}}: vector<8xf32>, %[[L:arg[0-9]+]]: f32):
// CHECK-NEXT: linrec.decay %[[S]], %[[L]] : <8x8xf32>, f32
func.func @lightning(%q: tensor<1x16x2x8xf32>) -> tensor<1x16x2x8xf32> {
  %ld = arith.constant dense<[-0.5, -0.25]> : tensor<2xf64>
  %o, %s = linrec.lightning %q, %q, %q decay(%ld)
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<2xf64>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>)
  return %o : tensor<1x16x2x8xf32>
}

// -----

// Normalized linear attention with a feature map. With only init_z given, the normalizer is
// the first state (initial states are a prefix), and the results are mapped back.
// CHECK-LABEL: func.func @linear_normalized
// CHECK: %[[R:.*]]:3 = linrec.recurrence ins({{.*}}) init(%{{.*}} : tensor<1x2x8xf32>) -> (tensor<1x16x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8x8xf32>)
// CHECK: ^bb0(%[[Z:arg[0-9]+]]: !linrec.state<8xf32>, %[[S:arg[0-9]+]]: !linrec.state<8x8xf32>, %[[QT:arg[0-9]+]]: vector<8xf32>, %[[KT:arg[0-9]+]]: vector<8xf32>, %[[VT:arg[0-9]+]]: vector<8xf32>):
// CHECK-NEXT: %[[QF:.*]] = linrec.feature_map <elu> %[[QT]]
// CHECK-NEXT: %[[KF:.*]] = linrec.feature_map <elu> %[[KT]]
// CHECK-NEXT: %[[S1:.*]] = linrec.write %[[S]], %[[KF]], %[[VT]]
// CHECK-NEXT: %[[O:.*]] = linrec.read %[[S1]], %[[QF]] scale 5.000000e-01
// CHECK-NEXT: %[[Z1:.*]] = linrec.write %[[Z]], %[[KF]] : <8xf32>
// CHECK-NEXT: %[[D:.*]] = linrec.read %[[Z1]], %[[QF]] scale 5.000000e-01 : <8xf32>, vector<8xf32> -> f32
// CHECK-NEXT: %[[EPS:.*]] = arith.constant 1.000000e-03 : f32
// CHECK-NEXT: %[[DE:.*]] = arith.addf %[[D]], %[[EPS]]
// CHECK-NEXT: %[[DB:.*]] = vector.broadcast %[[DE]] : f32 to vector<8xf32>
// CHECK-NEXT: %[[ON:.*]] = arith.divf %[[O]], %[[DB]]
// CHECK-NEXT: linrec.yield states(%[[Z1]], %[[S1]] : !linrec.state<8xf32>, !linrec.state<8x8xf32>) outputs(%[[ON]] : vector<8xf32>)
// CHECK: return %[[R]]#0, %[[R]]#2, %[[R]]#1
func.func @linear_normalized(%q: tensor<1x16x2x8xf32>, %z0: tensor<1x2x8xf32>)
    -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) {
  %o, %s, %z = linrec.linear_attention %q, %q, %q init_z(%z0)
      {feature_map = #linrec.feature_map<elu>, normalize, eps = 1.0e-3 : f32, scale = 0.5 : f64}
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
  return %o, %s, %z : tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8xf32>
}

// -----

// The generic form is left alone.
// CHECK-LABEL: func.func @generic
// CHECK: linrec.recurrence
func.func @generic(%q: tensor<1x4x1x4xf32>) -> tensor<1x1x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x4x1x4xf32>) -> (tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x1x4x4xf32>
}

// -----

// Liger-GLA: softmax feature maps, the key decay built from the raw key projection.
// CHECK-LABEL: func.func @liger_gla
// CHECK: ^bb0(%[[S:arg[0-9]+]]: !linrec.state<8x4xf32>, %[[Q:arg[0-9]+]]: vector<8xf32>, %[[K:arg[0-9]+]]: vector<8xf32>, %[[V:arg[0-9]+]]: vector<4xf32>, %[[G:arg[0-9]+]]: vector<8xf32>):
// CHECK-DAG: %[[QF:.*]] = linrec.feature_map <softmax> %[[Q]]
// CHECK-DAG: %[[KF:.*]] = linrec.feature_map <softmax> %[[K]]
// CHECK-DAG: %[[LS:.*]] = linrec.feature_map <logsigmoid> %[[G]]
// CHECK-DAG: %[[N:.*]] = arith.constant dense<1.600000e+01> : vector<8xf32>
// CHECK: %[[A:.*]] = arith.divf %[[LS]], %[[N]]
// CHECK: %[[S1:.*]] = linrec.decay %[[S]], %[[A]] along <key>
// CHECK: %[[S2:.*]] = linrec.write %[[S1]], %[[KF]], %[[V]]
// CHECK: linrec.read %[[S2]], %[[QF]]
func.func @liger_gla(%q: tensor<1x16x2x8xf32>, %k: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>,
                     %g: tensor<1x16x2x8xf32>) -> tensor<1x16x2x4xf32> {
  %o, %s = linrec.liger_gla %q, %k, %v gate_raw(%g)
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return %o : tensor<1x16x2x4xf32>
}

// -----

// Liger-HGRN2: no key input; the written key is σ(−graw).
// CHECK-LABEL: func.func @liger_hgrn2
// CHECK: ^bb0(%[[S:arg[0-9]+]]: !linrec.state<8x4xf32>, %[[Q:arg[0-9]+]]: vector<8xf32>, %[[V:arg[0-9]+]]: vector<4xf32>, %[[G:arg[0-9]+]]: vector<8xf32>):
// CHECK-DAG: %[[LS:.*]] = linrec.feature_map <logsigmoid> %[[G]]
// CHECK-DAG: %[[NEG:.*]] = arith.negf %[[G]]
// CHECK-DAG: %[[KF:.*]] = linrec.feature_map <sigmoid> %[[NEG]]
// CHECK: %[[S1:.*]] = linrec.decay %[[S]], %[[LS]] along <key>
// CHECK: linrec.write %[[S1]], %[[KF]], %[[V]]
func.func @liger_hgrn2(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>,
                       %g: tensor<1x16x2x8xf32>) -> tensor<1x16x2x4xf32> {
  %o, %s = linrec.liger_hgrn2 %q, %v gate_raw(%g)
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return %o : tensor<1x16x2x4xf32>
}
