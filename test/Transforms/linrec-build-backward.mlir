// RUN: linrec-opt %s --split-input-file --linrec-build-backward --verify-diagnostics | FileCheck %s
// RUN: linrec-opt %s --split-input-file --linrec-build-backward=transposed-reads=0 --verify-diagnostics | FileCheck %s --check-prefix=COPIES

// GLA with an initial state: dq from the forward state read transposed with do; dv and dk
// from the reverse cotangent state (decays delayed one token), read with k and, transposed,
// with v; the initial state's gradient D_0(R_0) from its final state R_0, a one-token scan
// on the first token; the log-decay's gradient a reverse cumulative sum of q ⊙ dq − k ⊙ dk
// starting from Σ S_T ⊙ dS_T.
// CHECK-LABEL: func.func @gla_backward
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x4xf32> {linrec.name = "q"}, %[[K:.*]]: tensor<1x8x2x4xf32> {linrec.name = "k"}, %[[V:.*]]: tensor<1x8x2x4xf32> {linrec.name = "v"}, %[[G:.*]]: tensor<1x8x2x4xf32> {linrec.name = "gk"}, %[[S0:.*]]: tensor<1x2x4x4xf32> {linrec.name = "initial_state"}, %[[DO:.*]]: tensor<1x8x2x4xf32> {linrec.name = "grad_o"}, %[[DST:.*]]: tensor<1x2x4x4xf32> {linrec.name = "grad_final_state"})
// CHECK-SAME: -> (tensor<1x8x2x4xf32> {linrec.name = "grad_q"}, tensor<1x8x2x4xf32> {linrec.name = "grad_k"}, tensor<1x8x2x4xf32> {linrec.name = "grad_v"}, tensor<1x8x2x4xf32> {linrec.gate, linrec.name = "grad_gk"}, tensor<1x2x4x4xf32> {linrec.name = "grad_initial_state"})
// CHECK: %[[FWD:.*]]:2 = linrec.recurrence ins(%[[Q]], %[[K]], %[[V]], %[[G]] :
// CHECK: %[[DQ:.*]]:3 = linrec.recurrence ins(%[[DO]], %[[Q]], %[[K]], %[[V]], %[[G]] : {{.*}}) init(%[[S0]] :
// CHECK: linrec.decay %{{.*}}, %{{.*}} along <key>
// CHECK: linrec.write %{{.*}}, %{{.*}}, %{{.*}} : <4x4xf32>
// CHECK: linrec.read %{{.*}}, %{{.*}} scale 5.000000e-01 transposed
// CHECK: %[[DKV:.*]]:4 = linrec.recurrence ins(%[[DO]], %[[Q]], %[[K]], %[[V]], %[[G]] : {{.*}}) init(%[[DST]] : {{.*}}) {delays = array<i64: 0, 0, 0, 0, 1>, reverse}
// CHECK: linrec.read %[[R:.*]], %{{.*}} : <4x4xf32>
// CHECK: linrec.read %[[R]], %{{.*}} transposed : <4x4xf32>
// CHECK: %[[G0:.*]] = tensor.extract_slice %[[G]][0, 0, 0, 0] [1, 1, 2, 4] [1, 1, 1, 1] : tensor<1x8x2x4xf32> to tensor<1x1x2x4xf32>
// CHECK: %[[DS0:.*]] = linrec.recurrence ins({{.*}}, %[[G0]] : {{.*}}) init(%[[DKV]]#3 : tensor<1x2x4x4xf32>) {algorithm = #linrec.algorithm<sequential>} -> (tensor<1x2x4x4xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: %[[D0:.*]] = linrec.decay %{{.*}} along <key>
// CHECK-NEXT: linrec.yield states(%[[D0]] : !linrec.state<4x4xf32>)
// CHECK: %[[ST:.*]] = linalg.generic {{.*}} ins(%[[DQ]]#2 : tensor<1x2x4x4xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[ST]], %[[DST]] :
// CHECK: %[[DG:.*]]:2 = linrec.recurrence ins(%[[DQ]]#1, %[[DKV]]#2, %[[G]] : {{.*}}) {reverse}
// CHECK: arith.subf
// CHECK: return %[[DQ]]#0, %[[DKV]]#0, %[[DKV]]#1, %[[DG]]#0, %[[DS0]]

// With transposed-reads=0, transposed copies: dq from the forward state transposed (the key
// decay along its value axis), dk from the cotangent state transposed, dv from R.
// COPIES-LABEL: func.func @gla_backward
// COPIES: %[[DQ:.*]]:3 = linrec.recurrence ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} :
// COPIES: linrec.decay %{{.*}}, %{{.*}} along <value>
// COPIES-NOT: transposed
// COPIES: %[[DK:.*]]:3 = linrec.recurrence {{.*}} {delays = array<i64: 0, 0, 0, 0, 1>, reverse}
// COPIES: linrec.decay %{{.*}}, %{{.*}} along <value>
// COPIES: %[[DV:.*]]:2 = linrec.recurrence {{.*}} {delays = array<i64: 0, 0, 0, 0, 1>, reverse}
// COPIES: linrec.decay %{{.*}}, %{{.*}} along <key>
func.func @gla(%q: tensor<1x8x2x4xf32> {linrec.name = "q"}, %k: tensor<1x8x2x4xf32> {linrec.name = "k"},
               %v: tensor<1x8x2x4xf32> {linrec.name = "v"}, %g: tensor<1x8x2x4xf32> {linrec.name = "gk"},
               %s0: tensor<1x2x4x4xf32> {linrec.name = "initial_state"})
    -> (tensor<1x8x2x4xf32> {linrec.name = "o"}, tensor<1x2x4x4xf32> {linrec.name = "final_state"}) {
  %o, %s = linrec.recurrence ins(%q, %k, %v, %g : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>)
      init(%s0 : tensor<1x2x4x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>, %gt: vector<4xf32>):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S2, %qt scale 0.5 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o, %s : tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// Only the output feeds the loss here, and there is no gate: the forward (recomputed, unused
// here: canonicalization drops it), the dq recurrence and the one for dk and dv; cu_seqlens
// passes through to each and gets no gradient.
// CHECK-LABEL: func.func @linear_backward
// CHECK-SAME: -> (tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>)
// CHECK-COUNT-3: cu_seqlens(%{{.*}} : tensor<3xi32>)
// CHECK-NOT: linrec.recurrence
// CHECK: return
func.func @linear(%q: tensor<1x6x1x4xf32>, %k: tensor<1x6x1x4xf32>, %v: tensor<1x6x1x4xf32>, %cu: tensor<3xi32>)
    -> tensor<1x6x1x4xf32> {
  %o, %s = linrec.recurrence ins(%q, %k, %v : tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>)
      cu_seqlens(%cu : tensor<3xi32>) -> (tensor<1x6x1x4xf32>, tensor<2x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x6x1x4xf32>
}

// -----

// Drivers computed per token (feature maps, gate activations) are recomputed in each
// backward body and their adjoints carried back to the inputs there: the Liger-GLA gate
// logsigmoid(k)/16 reaches k through the cumulative sum's body.
// CHECK-LABEL: func.func @liger_backward
// CHECK: linrec.feature_map <softmax>
// CHECK: %[[DG:.*]]:2 = linrec.recurrence ins({{.*}}) init({{.*}}) {reverse}
// CHECK: linrec.feature_map <logsigmoid>
// CHECK: arith.divf
// CHECK: linrec.feature_map <sigmoid>
// CHECK: linrec.yield
// CHECK: arith.addf
// CHECK: return
func.func @liger(%q: tensor<1x4x1x4xf32>, %k: tensor<1x4x1x4xf32>, %v: tensor<1x4x1x4xf32>)
    -> tensor<1x4x1x4xf32> {
  %o, %s = linrec.recurrence ins(%q, %k, %v : tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>)
      -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %qf = linrec.feature_map <softmax> %qt : vector<4xf32>
    %kf = linrec.feature_map <softmax> %kt : vector<4xf32>
    %lg = linrec.feature_map <logsigmoid> %kt : vector<4xf32>
    %c16 = arith.constant dense<16.0> : vector<4xf32>
    %g = arith.divf %lg, %c16 : vector<4xf32>
    %S1 = linrec.decay %S, %g along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %kf, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S2, %qf : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}

// -----

// Outputs computed from the reads (a normalizer's division): a forward recurrence (the body
// again) carries the output's cotangent back to each read, per token; the normalizer z is
// differentiated as the one-column matrix z 1ᵀ (a dk × 1 state read transposed with the
// read's cotangent for dq, ones as its values: with them for dk).
// CHECK-LABEL: func.func @normalized_backward
// CHECK: %[[READS:.*]]:4 = linrec.recurrence ins({{.*}}) init({{.*}}) -> (tensor<1x6x1x4xf32>, tensor<1x6x1xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4xf32>)
// CHECK: arith.divf
// CHECK: linrec.yield states({{.*}}) outputs(%{{.*}}, %{{.*}} : vector<4xf32>, f32)
// CHECK: linrec.recurrence ins(%[[READS]]#1, {{.*}}) init(%{{.*}} : tensor<1x1x4x1xf32>)
// CHECK: ^bb0(%{{.*}}: !linrec.state<4x1xf32>
// CHECK: linrec.read %{{.*}}, %{{.*}} transposed : <4x1xf32>, vector<1xf32> -> vector<4xf32>
// CHECK: linrec.recurrence ins(%[[READS]]#1, {{.*}}) init(%{{.*}} : tensor<1x1x4x1xf32>) {reverse}
// CHECK: linrec.read %{{.*}}, %{{.*}} : <4x1xf32>, vector<4xf32> -> vector<1xf32>
// CHECK: linrec.read %{{.*}}, %{{.*}} transposed : <4x1xf32>, vector<1xf32> -> vector<4xf32>
// CHECK: return
func.func @normalized(%q: tensor<1x6x1x4xf32>, %k: tensor<1x6x1x4xf32>, %v: tensor<1x6x1x4xf32>)
    -> tensor<1x6x1x4xf32> {
  %o, %s, %z = linrec.recurrence ins(%q, %k, %v : tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>)
      -> (tensor<1x6x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %Z: !linrec.state<4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %Z1 = linrec.write %Z, %kt : !linrec.state<4xf32>, vector<4xf32>
    %d = linrec.read %Z1, %qt : !linrec.state<4xf32>, vector<4xf32> -> f32
    %db = vector.broadcast %d : f32 to vector<4xf32>
    %ot = arith.divf %r, %db : vector<4xf32>
    linrec.yield states(%S1, %Z1 : !linrec.state<4x4xf32>, !linrec.state<4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x6x1x4xf32>
}

// -----

// The delta rule (Gated DeltaNet, a scalar decay): ε = v − S'ᵀk from the forward read before
// its write; dδ = Rᵀk from the reverse delta rule (the next token's key, β and decay delayed
// one token, the decay first — it commutes —, a write key of its own; the initial state's
// gradient e^{g_0}(I − β_0 k_0 k_0ᵀ) R_0 from its final state, a one-token scan), whose state
// R read transposed with δ = β ε gives R δ (a part of dk); then a plain recurrence:
// Sᵀ ← D(Sᵀ) + δ kᵀ read before its write with dδ (S'dδ) and after it with do (dq); the
// log-decay's gradient a reverse cumulative sum of q · dq − v · dv. (With transposed-reads=0,
// R δ = W δ + β k (dδ · δ), W = R − β k dδᵀ as two reverse recurrences on transposed states.)
// CHECK-LABEL: func.func @gated_delta_backward
// CHECK-SAME: tensor<1x4x1xf32> {linrec.gate, linrec.name = "grad_g"}, tensor<1x4x1xf32> {linrec.gate, linrec.name = "grad_beta"}
// CHECK: linrec.recurrence
// CHECK: linrec.yield
// CHECK: %[[EPS:.*]]:2 = linrec.recurrence ins(%[[Q:.*]], %[[K:.*]], %[[V:.*]], %[[G:.*]], %[[B:.*]] : {{.*}}) init
// CHECK: %[[D:.*]] = linrec.decay
// CHECK-NEXT: %[[U:.*]] = linrec.read %[[D]]
// CHECK-NEXT: linrec.delta %[[D]]
// CHECK: arith.subf %{{.*}}, %[[U]]
// CHECK: %[[DD:.*]]:3 = linrec.recurrence ins(%[[DO:.*]], %[[EPS]]#0, %[[K]], %[[B]], %[[G]], {{.*}}) init({{.*}}) {delays = array<i64: 0, 0, 1, 1, 1, 0, 0, 0, 0>, reverse}
// CHECK: %[[R:.*]] = linrec.decay
// CHECK-NEXT: linrec.delta %[[R]]
// CHECK: %[[RW:.*]] = linrec.write
// CHECK: linrec.read %[[RW]]
// CHECK: linrec.read %[[RW]], %{{.*}} transposed
// CHECK: %[[DS0:.*]] = linrec.recurrence ins({{.*}}) init(%[[DD]]#2 : tensor<1x1x4x4xf32>) {algorithm = #linrec.algorithm<sequential>}
// CHECK: %[[P:.*]] = linrec.decay
// CHECK-NEXT: %[[P1:.*]] = linrec.delta %[[P]]
// CHECK-NEXT: linrec.yield states(%[[P1]] : !linrec.state<4x4xf32>)
// CHECK: %[[DQ:.*]]:7 = linrec.recurrence ins(%[[DO]], %[[EPS]]#0, %[[DD]]#0, {{.*}}) init
// CHECK: %[[DS:.*]] = linrec.decay
// CHECK-NEXT: linrec.read %[[DS]]
// CHECK: linrec.write %[[DS]]
// CHECK-NOT: linrec.recurrence ins(%[[DO]], %[[EPS]]#0, %[[DD]]#0
// CHECK: %[[DG:.*]]:2 = linrec.recurrence ins(%[[DQ]]#4, %[[DQ]]#5, %[[G]] : {{.*}}) {reverse}
// CHECK: return %[[DQ]]#0, {{.*}}, %[[DQ]]#2, %[[DG]]#0, %[[DQ]]#3, %[[DS0]]
func.func @gated_delta(%q: tensor<1x4x1x4xf32> {linrec.name = "q"}, %k: tensor<1x4x1x4xf32> {linrec.name = "k"},
                       %v: tensor<1x4x1x4xf32> {linrec.name = "v"}, %g: tensor<1x4x1xf32> {linrec.name = "g"},
                       %b: tensor<1x4x1xf32> {linrec.name = "beta"}, %s0: tensor<1x1x4x4xf32> {linrec.name = "initial_state"})
    -> (tensor<1x4x1x4xf32> {linrec.name = "o"}, tensor<1x1x4x4xf32> {linrec.name = "final_state"}) {
  %o, %s = linrec.recurrence ins(%q, %k, %v, %g, %b : tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1xf32>, tensor<1x4x1xf32>)
      init(%s0 : tensor<1x1x4x4xf32>) -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>, %gt: f32, %bt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<4x4xf32>, f32
    %S2 = linrec.delta %S1, %kt, %bt : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %kt, %vt scaled %bt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S3, %qt scale 5.000000e-01 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S3 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o, %s : tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// KDA (key decays do not commute with the delta transition): the dδ recurrence runs on
// Y_t = (I − β_t k_t k_tᵀ) R_t — the next token's decays (delayed), then this token's delta
// and a write of its own key s q − β (k · s q) k; dδ from a read before the delta plus
// (s q · k) do, R δ from the same state read transposed with δ plus s q (do · δ); the
// initial state's gradient D_0(Y_0), the first token's decays alone.
// CHECK-LABEL: func.func @kda_backward
// CHECK: %[[DD:.*]]:4 = linrec.recurrence ins(%{{.*}}, %{{.*}}, %[[GK:.*]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : {{.*}}) init({{.*}}) {delays = array<i64: 0, 0, 1, 0, 0, 0, 0>, reverse}
// CHECK: %[[Y:.*]] = linrec.decay %{{.*}}, %{{.*}} along <key>
// CHECK-NEXT: %[[SEEN:.*]] = linrec.read %[[Y]], %[[KT:[^ ]*]] :
// CHECK: arith.addf %[[SEEN]]
// CHECK: %[[Y1:.*]] = linrec.delta %[[Y]], %[[KT]], %[[BT:[^ ]*]] :
// CHECK: %[[Y2:.*]] = linrec.write %[[Y1]], %{{.*}}, %{{.*}} :
// CHECK: linrec.read %[[Y]], %{{.*}} transposed
// CHECK: linrec.yield states(%[[Y2]] : !linrec.state<4x4xf32>)
// CHECK: linrec.recurrence ins({{.*}}) init(%[[DD]]#3 : tensor<1x1x4x4xf32>) {algorithm = #linrec.algorithm<sequential>}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: %[[D0:.*]] = linrec.decay %{{.*}} along <key>
// CHECK-NEXT: linrec.yield states(%[[D0]] : !linrec.state<4x4xf32>)
func.func @kda(%q: tensor<1x4x1x4xf32> {linrec.name = "q"}, %k: tensor<1x4x1x4xf32> {linrec.name = "k"},
               %v: tensor<1x4x1x4xf32> {linrec.name = "v"}, %g: tensor<1x4x1x4xf32> {linrec.name = "gk"},
               %b: tensor<1x4x1xf32> {linrec.name = "beta"}, %s0: tensor<1x1x4x4xf32> {linrec.name = "initial_state"})
    -> (tensor<1x4x1x4xf32> {linrec.name = "o"}, tensor<1x1x4x4xf32> {linrec.name = "final_state"}) {
  %o, %s = linrec.recurrence ins(%q, %k, %v, %g, %b : tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1xf32>)
      init(%s0 : tensor<1x1x4x4xf32>) -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>, %gt: vector<4xf32>, %bt: f32):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.delta %S1, %kt, %bt : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %kt, %vt scaled %bt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S3, %qt scale 5.000000e-01 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S3 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o, %s : tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// A body it cannot differentiate yet names the op.
func.func @masked(%k: tensor<1x4x1x4xf32>, %r: tensor<1x4x1xf32>) -> tensor<1x4x1x4xf32> {
  %o, %s = linrec.recurrence ins(%k, %r : tensor<1x4x1x4xf32>, tensor<1x4x1xf32>)
      -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %kt: vector<4xf32>, %rt: f32):
    %zero = arith.constant 0.0 : f32
    %mt = arith.cmpf ogt, %rt, %zero : f32
    // expected-error @+1 {{'linrec.write' op has no derived backward yet: a masked write}}
    %S1 = linrec.write %S, %kt, %kt if %mt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %kt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}

// -----

// State pools serve decoding: no backward.
func.func @state_pool(%k: tensor<2x1x1x4xf32>, %pool: tensor<3x1x4x4xf32>, %slots: tensor<2xi32>)
    -> tensor<2x1x1x4xf32> {
  // expected-error @+1 {{has no derived backward: state_indices (state pools) serve decoding, and training keeps one state per sequence}}
  %o, %s = linrec.recurrence ins(%k : tensor<2x1x1x4xf32>) init(%pool : tensor<3x1x4x4xf32>)
      state_indices(%slots : tensor<2xi32>) -> (tensor<2x1x1x4xf32>, tensor<3x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %kt: vector<4xf32>):
    %S1 = linrec.write %S, %kt, %kt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %kt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<2x1x1x4xf32>
}

// -----

// A norm over all heads after the recurrence: its adjoint per token (two sums over the
// token's H·D values, then one element-wise op), before the recurrence's.
// CHECK-LABEL: func.func @normed_backward
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: math.sqrt
// CHECK: arith.select
// CHECK: linrec.recurrence
func.func @normed(%q: tensor<1x6x2x4xf32>) -> tensor<1x6x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x6x2x4xf32>) -> (tensor<1x6x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  %y = linrec.heads_rms_norm %o {eps = 1.0e-08 : f64} : tensor<1x6x2x4xf32>
  return %y : tensor<1x6x2x4xf32>
}

// -----

// A per-head projection before the recurrence (u = x W, a contraction over d): the payload's
// adjoint per element gives dx (reducing over f) and dW (reducing over b and t).
#x = affine_map<(b, t, h, d, f) -> (b, t, h, d)>
#w = affine_map<(b, t, h, d, f) -> (h, d, f)>
#u = affine_map<(b, t, h, d, f) -> (b, t, h, f)>
// CHECK-LABEL: func.func @projected_backward
// CHECK-SAME: -> (tensor<1x6x1x4xf32> {linrec.name = "grad_x"}, tensor<1x4x4xf32> {linrec.name = "grad_w"})
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel", "parallel", "parallel"]}
func.func @projected(%x: tensor<1x6x1x4xf32> {linrec.name = "x"}, %w: tensor<1x4x4xf32> {linrec.name = "w"})
    -> tensor<1x6x1x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x6x1x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x6x1x4xf32>) -> tensor<1x6x1x4xf32>
  %u = linalg.generic {indexing_maps = [#x, #w, #u], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
      ins(%x, %w : tensor<1x6x1x4xf32>, tensor<1x4x4xf32>) outs(%init : tensor<1x6x1x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x6x1x4xf32>
  %o, %st = linrec.recurrence ins(%u : tensor<1x6x1x4xf32>) -> (tensor<1x6x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %ut: vector<4xf32>):
    %S1 = linrec.write %S, %ut, %ut : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %ut : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x6x1x4xf32>
}

// -----

// A window attention's adjoint over the band of keys each query sees: keys and values padded
// by the reach before the sequence (offset w of query t reads key t − reach + w), the scores
// masked to the window (−∞ outside), the softmax's adjoint per row; dk and dv from the band and
// the queries padded by the reach after the sequence (query t = j + reach − w of key j).
// CHECK-LABEL: func.func @window_backward
// CHECK: linrec.window_attention
// CHECK: tensor.pad %{{.*}} low[0, 3, 0, 0] high[0, 0, 0, 0]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[SHIFTED:.*]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK: linalg.index 1
// CHECK: arith.divui
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: tensor.pad %{{.*}} low[0, 0, 0, 0] high[0, 3, 0, 0]
// CHECK: return
func.func @window(%q: tensor<1x8x1x4xf32> {linrec.name = "q"}, %k: tensor<1x8x1x4xf32> {linrec.name = "k"},
                  %v: tensor<1x8x1x4xf32> {linrec.name = "v"}) -> (tensor<1x8x1x4xf32> {linrec.name = "o"}) {
  %o = linrec.window_attention %q, %k, %v window <block> size 4 weighting <softmax> {scale = 5.000000e-01 : f64}
      : (tensor<1x8x1x4xf32>, tensor<1x8x1x4xf32>, tensor<1x8x1x4xf32>) -> tensor<1x8x1x4xf32>
  return %o : tensor<1x8x1x4xf32>
}

// -----

// Tokens delayed by a pad and a slice (LoLCATs' keys): the cotangent inserted back into zeros,
// then the pad's part of it sliced out. A max over a loop (a router's softmax shift) passes its
// cotangent to the last index holding the max; a constant index in a map (one expert's weight)
// writes its gradient into that slice of zeros.
// CHECK-LABEL: func.func @parts_backward
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 1] [1, 6, 1] [1, 1, 1] : tensor<1x6xf32> into tensor<1x6x3xf32>
// CHECK: arith.cmpf oeq
// CHECK: linalg.index 2
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 0] [1, 6, 1, 4] [1, 1, 1, 1] : tensor<1x6x1x4xf32> into tensor<1x8x1x4xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 2, 0, 0] [1, 6, 1, 4] [1, 1, 1, 1]
func.func @parts(%x: tensor<1x6x1x4xf32> {linrec.name = "x"}, %r: tensor<1x6x3xf32> {linrec.name = "r"})
    -> (tensor<1x6x1x4xf32> {linrec.name = "y"}, tensor<1x6xf32> {linrec.name = "m"}, tensor<1x6xf32> {linrec.name = "p"}) {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %x low[0, 2, 0, 0] high[0, 0, 0, 0] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x6x1x4xf32> to tensor<1x8x1x4xf32>
  %y = tensor.extract_slice %padded[0, 0, 0, 0] [1, 6, 1, 4] [1, 1, 1, 1] : tensor<1x8x1x4xf32> to tensor<1x6x1x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x6xf32>
  %init = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x6xf32>) -> tensor<1x6xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(b, t, r) -> (b, t, r)>, affine_map<(b, t, r) -> (b, t)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%r : tensor<1x6x3xf32>) outs(%init : tensor<1x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    %mx = arith.maximumf %in, %out : f32
    linalg.yield %mx : f32
  } -> tensor<1x6xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(b, t) -> (b, t, 1)>, affine_map<(b, t) -> (b, t)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<1x6x3xf32>) outs(%e : tensor<1x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.mulf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x6xf32>
  return %y, %m, %p : tensor<1x6x1x4xf32>, tensor<1x6xf32>, tensor<1x6xf32>
}

// -----

// A product read (tensor attention): dq from the pair transposed, read with the cotangent,
// which also sums the pair (transposed) in float64; then the pair runs backwards from those sums in
// float64 (a write of −v) while the cotangents take Hadamard writes: G_A + (q rᵀ) ⊙ B_t,
// transposed for the keys' gradients, as they are for the values'.
// CHECK-LABEL: func.func @product_backward
// CHECK: linrec.recurrence
// CHECK: linrec.recurrence
// CHECK: ^bb0(%{{.*}}: !linrec.state<2x13xf32>, %{{.*}}: !linrec.state<2x13xf32>, %{{.*}}: !linrec.state<2x13xf64>, %{{.*}}: !linrec.state<2x13xf64>,
// CHECK: linrec.read_product %{{.*}}, %{{.*}}, %{{.*}} : <2x13xf32>, vector<2xf32> -> vector<13xf32>
// CHECK: linrec.write %{{.*}} : <2x13xf64>, vector<2xf32>, vector<13xf32>
// CHECK: linrec.recurrence {{.*}} init({{.*}} : tensor<1x1x2x13xf64>, tensor<1x1x2x13xf64>, {{.*}} {reverse}
// CHECK: ^bb0(%[[A:.*]]: !linrec.state<2x13xf64>, %[[B:.*]]: !linrec.state<2x13xf64>, %[[GA:.*]]: !linrec.state<2x13xf32>, %[[GB:.*]]: !linrec.state<2x13xf32>,
// CHECK: linrec.write_hadamard %[[GA]], %{{.*}}, %{{.*}} times %[[B]] : <2x13xf32>, vector<2xf32>, vector<13xf32> times <2x13xf64>
// CHECK: linrec.write_hadamard %[[GB]], %{{.*}}, %{{.*}} times %[[A]]
// CHECK: arith.negf
// CHECK: linrec.write %[[A]]
// CHECK: linrec.recurrence {{.*}} init({{.*}} : tensor<1x1x13x2xf64>, tensor<1x1x13x2xf64>, {{.*}} {reverse}
// CHECK: linrec.write_hadamard {{.*}} : <13x2xf32>, vector<13xf32>, vector<2xf32> times <13x2xf64>
func.func @product(%q: tensor<1x4x1x3xf32>, %k: tensor<1x4x1x3xf32>, %v: tensor<1x4x1x2xf32>) -> tensor<1x4x1x2xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q, %k, %v : tensor<1x4x1x3xf32>, tensor<1x4x1x3xf32>, tensor<1x4x1x2xf32>)
      -> (tensor<1x4x1x2xf32>, tensor<1x1x13x2xf32>, tensor<1x1x13x2xf32>) {
  ^bb0(%A: !linrec.state<13x2xf32>, %B: !linrec.state<13x2xf32>, %qt: vector<3xf32>, %kt: vector<3xf32>, %vt: vector<2xf32>):
    %pq = linrec.polynomial_map %qt degree 2 : vector<3xf32> -> vector<13xf32>
    %pk = linrec.polynomial_map %kt degree 2 : vector<3xf32> -> vector<13xf32>
    %A1 = linrec.write %A, %pk, %vt : !linrec.state<13x2xf32>, vector<13xf32>, vector<2xf32>
    %B1 = linrec.write %B, %pq, %vt : !linrec.state<13x2xf32>, vector<13xf32>, vector<2xf32>
    %ot = linrec.read_product %A1, %B1, %pq : !linrec.state<13x2xf32>, vector<13xf32> -> vector<2xf32>
    linrec.yield states(%A1, %B1 : !linrec.state<13x2xf32>, !linrec.state<13x2xf32>) outputs(%ot : vector<2xf32>)
  }
  return %o : tensor<1x4x1x2xf32>
}

// -----

// The product of a state with itself has no derived backward yet.
func.func @self_product(%k: tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32> {
  %o, %s = linrec.recurrence ins(%k : tensor<1x4x1x4xf32>)
      -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%A: !linrec.state<4x4xf32>, %kt: vector<4xf32>):
    %A1 = linrec.write %A, %kt, %kt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{'linrec.read_product' op has no derived backward yet: the product of a state with itself}}
    %ot = linrec.read_product %A1, %A1, %kt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}
