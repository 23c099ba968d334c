// RUN: linrec-opt %s --split-input-file | FileCheck %s
// RUN: linrec-opt %s --split-input-file | linrec-opt --split-input-file | FileCheck %s

// Every body op in one recurrence: a gated delta rule with both vector decays, a normalizer,
// a masked write, feature maps and a select.
// CHECK-LABEL: func.func @every_body_op
// CHECK: linrec.recurrence ins(%{{.*}} : tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4xf32>) params(%{{.*}} : tensor<4xf32>) init(%{{.*}} : tensor<2x4x8x4xf32>) {chunk_size = 32 : i64} -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>, tensor<2x4x8xf32>)
// CHECK: ^bb0(%[[S:.*]]: !linrec.state<8x4xf32>, %[[Z:.*]]: !linrec.state<8xf32>, %[[Q:.*]]: vector<8xf32>, %[[K:.*]]: vector<8xf32>, %[[V:.*]]: vector<4xf32>, %[[G:.*]]: f32, %[[GK:.*]]: vector<8xf32>, %[[GV:.*]]: vector<4xf32>, %[[B:.*]]: f32, %[[LD:.*]]: f32):
// CHECK: %[[QF:.*]] = linrec.feature_map <softmax> %[[Q]] : vector<8xf32>
// CHECK: %[[KN:.*]] = linrec.l2norm %[[K]] : vector<8xf32>
// CHECK: %[[S1:.*]] = linrec.decay %[[S]], %[[G]] : <8x4xf32>, f32
// CHECK: %[[S2:.*]] = linrec.decay %[[S1]], %[[GK]] along <key> : <8x4xf32>, vector<8xf32>
// CHECK: %[[S3:.*]] = linrec.decay %[[S2]], %[[GV]] along <value> : <8x4xf32>, vector<4xf32>
// CHECK: %[[S4:.*]] = linrec.delta %[[S3]], %[[KN]], %[[B]] : <8x4xf32>, vector<8xf32>
// CHECK: %[[M:.*]] = arith.cmpf olt, %[[LD]], %{{.*}} : f32
// CHECK: %[[S5:.*]] = linrec.write %[[S4]], %[[KN]], %[[V]] scaled %[[B]] if %[[M]] : <8x4xf32>, vector<8xf32>, vector<4xf32>
// CHECK: %[[S6:.*]] = linrec.select %[[M]], %[[S5]], %[[S]] : <8x4xf32>
// CHECK: %[[Z1:.*]] = linrec.write %[[Z]], %[[KN]] : <8xf32>, vector<8xf32>
// CHECK: %[[O:.*]] = linrec.read %[[S6]], %[[QF]] scale 2.500000e-01 : <8x4xf32>, vector<8xf32> -> vector<4xf32>
// CHECK: %[[D:.*]] = linrec.read %[[Z1]], %[[QF]] : <8xf32>, vector<8xf32> -> f32
// CHECK: linrec.yield states(%[[S6]], %[[Z1]] : !linrec.state<8x4xf32>, !linrec.state<8xf32>) outputs(%{{.*}} : vector<4xf32>)
func.func @every_body_op(%q: tensor<2x16x4x8xf32>, %k: tensor<2x16x4x8xf32>,
    %v: tensor<2x16x4x4xf32>, %g: tensor<2x16x4xf32>, %gk: tensor<2x16x4x8xf32>,
    %gv: tensor<2x16x4x4xf32>, %beta: tensor<2x16x4xf32>, %ld: tensor<4xf32>,
    %s0: tensor<2x4x8x4xf32>) -> tensor<2x16x4x4xf32> {
  %o, %sT, %zT = linrec.recurrence
      ins(%q, %k, %v, %g, %gk, %gv, %beta : tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>,
          tensor<2x16x4x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>,
          tensor<2x16x4xf32>)
      params(%ld : tensor<4xf32>) init(%s0 : tensor<2x4x8x4xf32>) {chunk_size = 32 : i64}
      -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>, tensor<2x4x8xf32>) {
  ^bb0(%S: !linrec.state<8x4xf32>, %z: !linrec.state<8xf32>, %qt: vector<8xf32>,
       %kt: vector<8xf32>, %vt: vector<4xf32>, %gt: f32, %gkt: vector<8xf32>,
       %gvt: vector<4xf32>, %bt: f32, %ldh: f32):
    %qf = linrec.feature_map <softmax> %qt : vector<8xf32>
    %kn = linrec.l2norm %kt : vector<8xf32>
    %S1 = linrec.decay %S, %gt : !linrec.state<8x4xf32>, f32
    %S2 = linrec.decay %S1, %gkt along <key> : !linrec.state<8x4xf32>, vector<8xf32>
    %S3 = linrec.decay %S2, %gvt along <value> : !linrec.state<8x4xf32>, vector<4xf32>
    %S4 = linrec.delta %S3, %kn, %bt : !linrec.state<8x4xf32>, vector<8xf32>
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %ldh, %zero : f32
    %S5 = linrec.write %S4, %kn, %vt scaled %bt if %m
        : !linrec.state<8x4xf32>, vector<8xf32>, vector<4xf32>
    %S6 = linrec.select %m, %S5, %S : !linrec.state<8x4xf32>
    %z1 = linrec.write %z, %kn : !linrec.state<8xf32>, vector<8xf32>
    %o = linrec.read %S6, %qf scale 0.25 : !linrec.state<8x4xf32>, vector<8xf32> -> vector<4xf32>
    %d = linrec.read %z1, %qf : !linrec.state<8xf32>, vector<8xf32> -> f32
    %eps = arith.constant 1.0e-6 : f32
    %de = arith.addf %d, %eps : f32
    %db = vector.broadcast %de : f32 to vector<4xf32>
    %on = arith.divf %o, %db : vector<4xf32>
    linrec.yield states(%S6, %z1 : !linrec.state<8x4xf32>, !linrec.state<8xf32>)
                 outputs(%on : vector<4xf32>)
  }
  return %o : tensor<2x16x4x4xf32>
}

// -----

// Every feature map kind, on vectors and scalars.
// CHECK-LABEL: func.func @feature_maps
// CHECK-COUNT-8: linrec.feature_map <{{identity|relu|elu|elu_plus_one|exp|sigmoid|logsigmoid|softplus}}>
// CHECK: linrec.feature_map <softmax>
func.func @feature_maps(%q: tensor<1x?x2x8xf32>, %a: tensor<1x?x2xf32>)
    -> tensor<1x?x2x8xf32> {
  %o, %sT = linrec.recurrence ins(%q, %a : tensor<1x?x2x8xf32>, tensor<1x?x2xf32>)
      -> (tensor<1x?x2x8xf32>, tensor<1x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>, %s: f32):
    %0 = linrec.feature_map <identity> %x : vector<8xf32>
    %1 = linrec.feature_map <relu> %0 : vector<8xf32>
    %2 = linrec.feature_map <elu> %1 : vector<8xf32>
    %3 = linrec.feature_map <elu_plus_one> %2 : vector<8xf32>
    %4 = linrec.feature_map <exp> %s : f32
    %5 = linrec.feature_map <sigmoid> %4 : f32
    %6 = linrec.feature_map <logsigmoid> %5 : f32
    %7 = linrec.feature_map <softplus> %3 : vector<8xf32>
    %8 = linrec.feature_map <softmax> %7 : vector<8xf32>
    %S1 = linrec.decay %S, %6 : !linrec.state<8x8xf32>, f32
    %S2 = linrec.write %S1, %8, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S2, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S2 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return %o : tensor<1x?x2x8xf32>
}

// -----

// Variable length: packed [1, total_T, H, D] inputs, one state per sequence.
// CHECK-LABEL: func.func @varlen
// CHECK: linrec.recurrence ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>) init(%{{.*}} : tensor<3x2x8x8xf32>) cu_seqlens(%{{.*}} : tensor<4xi32>)
func.func @varlen(%q: tensor<1x?x2x8xf32>, %k: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x8xf32>,
                  %s0: tensor<3x2x8x8xf32>, %cu: tensor<4xi32>)
    -> (tensor<1x?x2x8xf32>, tensor<3x2x8x8xf32>) {
  %o, %sT = linrec.recurrence ins(%q, %k, %v : tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>)
      init(%s0 : tensor<3x2x8x8xf32>) cu_seqlens(%cu : tensor<4xi32>)
      -> (tensor<1x?x2x8xf32>, tensor<3x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %kt: vector<8xf32>, %vt: vector<8xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return %o, %sT : tensor<1x?x2x8xf32>, tensor<3x2x8x8xf32>
}

// -----

// State pools: 3 sequences on slots of a pool of 5; the final state is the updated pool.
// CHECK-LABEL: func.func @state_pools
// CHECK: linrec.recurrence ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<3x1x2x8xf32>, tensor<3x1x2x8xf32>, tensor<3x1x2x8xf32>) init(%{{.*}} : tensor<5x2x8x8xf32>) state_indices(%{{.*}} : tensor<3xi32>)
// CHECK-SAME: -> (tensor<3x1x2x8xf32>, tensor<5x2x8x8xf32>)
func.func @state_pools(%q: tensor<3x1x2x8xf32>, %k: tensor<3x1x2x8xf32>, %v: tensor<3x1x2x8xf32>,
                       %pool: tensor<5x2x8x8xf32>, %slots: tensor<3xi32>)
    -> (tensor<3x1x2x8xf32>, tensor<5x2x8x8xf32>) {
  %o, %sT = linrec.recurrence ins(%q, %k, %v : tensor<3x1x2x8xf32>, tensor<3x1x2x8xf32>, tensor<3x1x2x8xf32>)
      init(%pool : tensor<5x2x8x8xf32>) state_indices(%slots : tensor<3xi32>)
      -> (tensor<3x1x2x8xf32>, tensor<5x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %kt: vector<8xf32>, %vt: vector<8xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return %o, %sT : tensor<3x1x2x8xf32>, tensor<5x2x8x8xf32>
}

// -----

// State pools with packed sequences: one index per sequence of cu_seqlens.
// CHECK-LABEL: func.func @state_pools_varlen
// CHECK: cu_seqlens(%{{.*}} : tensor<4xi32>) state_indices(%{{.*}} : tensor<3xi32>)
func.func @state_pools_varlen(%q: tensor<1x?x2x8xf32>, %pool: tensor<?x2x8x8xf32>,
                              %cu: tensor<4xi32>, %slots: tensor<3xi32>) -> tensor<?x2x8x8xf32> {
  %sT = linrec.recurrence ins(%q : tensor<1x?x2x8xf32>) init(%pool : tensor<?x2x8x8xf32>)
      cu_seqlens(%cu : tensor<4xi32>) state_indices(%slots : tensor<3xi32>)
      -> (tensor<?x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>)
  }
  return %sT : tensor<?x2x8x8xf32>
}

// -----

// A read before the delta transition and write: DeltaNet's correction v − S'ᵀk.
// CHECK-LABEL: func.func @read_before_write
// CHECK: %[[D:.*]] = linrec.decay %{{.*}}, %{{.*}} : <8x4xf32>, f32
// CHECK-NEXT: linrec.read %[[D]], %{{.*}} : <8x4xf32>, vector<8xf32> -> vector<4xf32>
// CHECK-NEXT: linrec.delta %[[D]]
func.func @read_before_write(%k: tensor<1x5x1x8xf32>, %v: tensor<1x5x1x4xf32>, %g: tensor<1x5x1xf32>,
                             %b: tensor<1x5x1xf32>) -> tensor<1x5x1x4xf32> {
  %e, %s = linrec.recurrence ins(%k, %v, %g, %b : tensor<1x5x1x8xf32>, tensor<1x5x1x4xf32>, tensor<1x5x1xf32>, tensor<1x5x1xf32>)
      -> (tensor<1x5x1x4xf32>, tensor<1x1x8x4xf32>) {
  ^bb0(%S: !linrec.state<8x4xf32>, %kt: vector<8xf32>, %vt: vector<4xf32>, %gt: f32, %bt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<8x4xf32>, f32
    %u = linrec.read %S1, %kt : !linrec.state<8x4xf32>, vector<8xf32> -> vector<4xf32>
    %S2 = linrec.delta %S1, %kt, %bt : !linrec.state<8x4xf32>, vector<8xf32>
    %S3 = linrec.write %S2, %kt, %vt scaled %bt : !linrec.state<8x4xf32>, vector<8xf32>, vector<4xf32>
    %e = arith.subf %vt, %u : vector<4xf32>
    linrec.yield states(%S3 : !linrec.state<8x4xf32>) outputs(%e : vector<4xf32>)
  }
  return %e : tensor<1x5x1x4xf32>
}

// -----

// Two states read together (tensor attention's Hadamard form is built from such reads).
// CHECK-LABEL: func.func @two_states
// CHECK: -> (tensor<1x5x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>)
func.func @two_states(%q: tensor<1x5x1x4xf32>, %k: tensor<1x5x1x4xf32>, %v: tensor<1x5x1x4xf32>)
    -> tensor<1x5x1x4xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q, %k, %v : tensor<1x5x1x4xf32>, tensor<1x5x1x4xf32>, tensor<1x5x1x4xf32>)
      -> (tensor<1x5x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%A: !linrec.state<4x4xf32>, %B: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %A1 = linrec.write %A, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B1 = linrec.write %B, %qt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %oa = linrec.read %A1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %ob = linrec.read %B1, %kt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %o = arith.mulf %oa, %ob : vector<4xf32>
    linrec.yield states(%A1, %B1 : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o : tensor<1x5x1x4xf32>
}

// -----

// CHECK-LABEL: func.func @hedgehog_map
// CHECK: linrec.hedgehog_map <softmax> %{{.*}} : vector<8xf32> -> vector<16xf32>
// CHECK: linrec.hedgehog_map <exp> %{{.*}} : vector<8xf32> -> vector<16xf32>
func.func @hedgehog_map(%u: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>) {
  %o, %s = linrec.recurrence ins(%u, %v : tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x16x4xf32>) {
  ^bb0(%S: !linrec.state<16x4xf32>, %ut: vector<8xf32>, %vt: vector<4xf32>):
    %q = linrec.hedgehog_map <softmax> %ut : vector<8xf32> -> vector<16xf32>
    %k = linrec.hedgehog_map <exp> %ut : vector<8xf32> -> vector<16xf32>
    %S1 = linrec.write %S, %k, %vt : !linrec.state<16x4xf32>, vector<16xf32>, vector<4xf32>
    %o1 = linrec.read %S1, %q : !linrec.state<16x4xf32>, vector<16xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<16x4xf32>) outputs(%o1 : vector<4xf32>)
  }
  return
}

// -----

// CHECK-LABEL: func.func @window_attention
// CHECK: linrec.window_attention %{{.*}}, %{{.*}}, %{{.*}} window <sliding> size 64 weighting <softmax> {scale = 1.250000e-01 : f64}
// CHECK: linrec.window_attention %{{.*}}, %{{.*}}, %{{.*}} window <terraced> size 16 weighting <shifted_exp> :
func.func @window_attention(%q: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x4xf32>) {
  %o = linrec.window_attention %q, %q, %v window <sliding> size 64 weighting <softmax> {scale = 0.125 : f64}
      : (tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x4xf32>) -> tensor<1x32x2x4xf32>
  %n, %d = linrec.window_attention %q, %q, %v window <terraced> size 16 weighting <shifted_exp>
      : (tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x4xf32>) -> (tensor<1x32x2x4xf32>, tensor<1x32x2xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @tensor_attention
// CHECK: linrec.polynomial_map %{{.*}} degree 2 : vector<4xf32> -> vector<21xf32>
// CHECK: linrec.read_product %{{.*}}, %{{.*}}, %{{.*}} : <21x8xf32>, vector<21xf32> -> vector<8xf32>
func.func @tensor_attention(%q: tensor<1x16x2x4xf32>, %v: tensor<1x16x2x8xf32>) {
  %o, %s1, %s2 = linrec.recurrence ins(%q, %v : tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x21x8xf32>, tensor<1x2x21x8xf32>) {
  ^bb0(%S1: !linrec.state<21x8xf32>, %S2: !linrec.state<21x8xf32>, %qt: vector<4xf32>, %vt: vector<8xf32>):
    %phi = linrec.polynomial_map %qt degree 2 : vector<4xf32> -> vector<21xf32>
    %A = linrec.write %S1, %phi, %vt : !linrec.state<21x8xf32>, vector<21xf32>, vector<8xf32>
    %C = linrec.write %S2, %phi, %vt : !linrec.state<21x8xf32>, vector<21xf32>, vector<8xf32>
    %o1 = linrec.read_product %A, %C, %phi : !linrec.state<21x8xf32>, vector<21xf32> -> vector<8xf32>
    linrec.yield states(%A, %C : !linrec.state<21x8xf32>, !linrec.state<21x8xf32>) outputs(%o1 : vector<8xf32>)
  }
  return
}

// -----

// The product read's adjoint: G + (q rᵀ) ⊙ B with B a float64 state running backwards.
// CHECK-LABEL: func.func @hadamard_write
// CHECK: linrec.write_hadamard %{{.*}}, %{{.*}}, %{{.*}} times %{{.*}} : <21x8xf32>, vector<21xf32>, vector<8xf32> times <21x8xf64>
// CHECK: linrec.write_hadamard %{{.*}}, %{{.*}} times %{{.*}} : <21xf32>, vector<21xf32> times <21xf32>
func.func @hadamard_write(%q: tensor<1x16x2x21xf32>, %r: tensor<1x16x2x8xf32>,
                          %b: tensor<1x2x21x8xf64>) {
  %o, %g, %z, %w, %s = linrec.recurrence ins(%q, %r : tensor<1x16x2x21xf32>, tensor<1x16x2x8xf32>)
      init(%b : tensor<1x2x21x8xf64>) {reverse}
      -> (tensor<1x16x2x8xf32>, tensor<1x2x21x8xf64>, tensor<1x2x21x8xf32>, tensor<1x2x21xf32>, tensor<1x2x21xf32>) {
  ^bb0(%B: !linrec.state<21x8xf64>, %G: !linrec.state<21x8xf32>, %y: !linrec.state<21xf32>,
       %x: !linrec.state<21xf32>, %qt: vector<21xf32>, %rt: vector<8xf32>):
    %G1 = linrec.write_hadamard %G, %qt, %rt times %B : !linrec.state<21x8xf32>, vector<21xf32>, vector<8xf32> times !linrec.state<21x8xf64>
    %y1 = linrec.write_hadamard %y, %qt times %x : !linrec.state<21xf32>, vector<21xf32> times !linrec.state<21xf32>
    %x1 = linrec.write %x, %qt : !linrec.state<21xf32>, vector<21xf32>
    %B1 = linrec.write %B, %qt, %rt : !linrec.state<21x8xf64>, vector<21xf32>, vector<8xf32>
    %o1 = linrec.read %G1, %qt : !linrec.state<21x8xf32>, vector<21xf32> -> vector<8xf32>
    linrec.yield states(%B1, %G1, %y1, %x1 : !linrec.state<21x8xf64>, !linrec.state<21x8xf32>, !linrec.state<21xf32>, !linrec.state<21xf32>) outputs(%o1 : vector<8xf32>)
  }
  return
}

// -----

// CHECK-LABEL: func.func @window_read
// CHECK: linrec.window_read %{{.*}}, %{{.*}}, %{{.*}} size 64 scale 1.250000e-01 : vector<4xf32>, vector<8xf32>
func.func @window_read(%q: tensor<1x16x2x4xf32>, %v: tensor<1x16x2x8xf32>) {
  %o, %s = linrec.recurrence ins(%q, %v : tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x4x8xf32>) {
  ^bb0(%S: !linrec.state<4x8xf32>, %qt: vector<4xf32>, %vt: vector<8xf32>):
    %w = linrec.window_read %qt, %qt, %vt size 64 scale 0.125 : vector<4xf32>, vector<8xf32>
    %S1 = linrec.write %S, %qt, %vt : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %r = linrec.read %S1, %qt : !linrec.state<4x8xf32>, vector<4xf32> -> vector<8xf32>
    %y = arith.addf %r, %w : vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<4x8xf32>) outputs(%y : vector<8xf32>)
  }
  return
}

// -----

// A terraced window read, and reads of the state at the start of each 16-token block.
// CHECK-LABEL: func.func @terraced_window_and_block_reads
// CHECK: linrec.window_read %{{.*}}, %{{.*}}, %{{.*}} window <terraced> size 16 scale 1.000000e+00 weighting <shifted_exp> : vector<4xf32>, vector<8xf32>, f32
// CHECK: linrec.read %{{.*}}, %{{.*}} block_start 16 : <4x8xf32>, vector<4xf32> -> vector<8xf32>
// CHECK: linrec.read %{{.*}}, %{{.*}} scale 5.000000e-01 block_start 16 : <4xf32>, vector<4xf32> -> f32
func.func @terraced_window_and_block_reads(%q: tensor<1x16x2x4xf32>, %v: tensor<1x16x2x8xf32>) {
  %o, %d, %s, %z = linrec.recurrence ins(%q, %v : tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x16x2xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) {
  ^bb0(%S: !linrec.state<4x8xf32>, %Z: !linrec.state<4xf32>, %qt: vector<4xf32>, %vt: vector<8xf32>):
    %w, %wd = linrec.window_read %qt, %qt, %vt window <terraced> size 16 scale 1.0 weighting <shifted_exp> : vector<4xf32>, vector<8xf32>, f32
    %S1 = linrec.write %S, %qt, %vt : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %Z1 = linrec.write %Z, %qt : !linrec.state<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %qt block_start 16 : !linrec.state<4x8xf32>, vector<4xf32> -> vector<8xf32>
    %n = linrec.read %Z1, %qt scale 0.5 block_start 16 : !linrec.state<4xf32>, vector<4xf32> -> f32
    %y = arith.addf %r, %w : vector<8xf32>
    %e = arith.addf %n, %wd : f32
    linrec.yield states(%S1, %Z1 : !linrec.state<4x8xf32>, !linrec.state<4xf32>) outputs(%y, %e : vector<8xf32>, f32)
  }
  return
}

// -----

// CHECK-LABEL: func.func @project
// CHECK: linrec.project %{{.*}}, %{{.*}} : vector<8xf32>, vector<8x4xf32> -> vector<4xf32>
func.func @project(%q: tensor<1x16x2x8xf32>, %w: tensor<2x8x4xf32>) {
  %s = linrec.recurrence ins(%q : tensor<1x16x2x8xf32>) params(%w : tensor<2x8x4xf32>)
      -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<8xf32>, %wt: vector<8x4xf32>):
    %u = linrec.project %qt, %wt : vector<8xf32>, vector<8x4xf32> -> vector<4xf32>
    %S1 = linrec.write %S, %u, %u : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return
}

// -----

// The norm over all heads (TransNormer), as a layer op and fused into a recurrence.
// CHECK-LABEL: func.func @heads_norms
// CHECK: linrec.heads_rms_norm %{{.*}} {eps = 1.000000e-08 : f64} : tensor<2x16x4x8xf32>
// CHECK: linrec.recurrence {{.*}}heads_norm_eps = 9.9999999999999995E-7 : f64
func.func @heads_norms(%q: tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32> {
  %n = linrec.heads_rms_norm %q {eps = 1.0e-08 : f64} : tensor<2x16x4x8xf32>
  %o, %s = linrec.recurrence ins(%n : tensor<2x16x4x8xf32>) {heads_norm_eps = 1.0e-06 : f64}
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  return %o : tensor<2x16x4x8xf32>
}

// -----

// A one-element vector's element (the canonical form of a sum over a head dim of 1).
// CHECK-LABEL: func.func @one_element_extract
// CHECK: %[[E:.*]] = vector.extract %{{.*}}[0] : f32 from vector<1xf32>
// CHECK: linrec.write %{{.*}}, %{{.*}}, %{{.*}} scaled %[[E]]
func.func @one_element_extract(%k: tensor<1x4x2x1xf32>) -> tensor<1x2x1x1xf32> {
  %s = linrec.recurrence ins(%k : tensor<1x4x2x1xf32>) -> (tensor<1x2x1x1xf32>) {
  ^bb0(%S: !linrec.state<1x1xf32>, %kt: vector<1xf32>):
    %e = vector.extract %kt[0] : f32 from vector<1xf32>
    %S1 = linrec.write %S, %kt, %kt scaled %e : !linrec.state<1x1xf32>, vector<1xf32>, vector<1xf32>
    linrec.yield states(%S1 : !linrec.state<1x1xf32>)
  }
  return %s : tensor<1x2x1x1xf32>
}

// -----

// A transposed read: S u, a dv-vector in and a dk-vector out.
// CHECK-LABEL: func.func @transposed_read
// CHECK: linrec.read %{{.*}}, %{{.*}} scale 5.000000e-01 transposed : <8x4xf32>, vector<4xf32> -> vector<8xf32>
func.func @transposed_read(%S: !linrec.state<8x4xf32>, %u: vector<4xf32>) -> vector<8xf32> {
  %p = linrec.read %S, %u scale 0.5 transposed : !linrec.state<8x4xf32>, vector<4xf32> -> vector<8xf32>
  return %p : vector<8xf32>
}
