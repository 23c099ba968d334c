// RUN: linrec-opt %s --split-input-file --linrec-normalize --linrec-fuse --canonicalize | FileCheck %s

#id = affine_map<(b, t, h, d) -> (b, t, h, d)>

// A gate computed element-wise from a raw projection moves into the body (the kernel computes it
// in its loads), and an output gate moves after the read (computed before the stores).
// CHECK-LABEL: func.func @gla_with_gates
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[RAW:.*]]: tensor<1x8x2x16xf32>, %[[Z:.*]]: tensor<1x8x2x16xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%[[Q]], %[[Q]], %[[Q]], %[[RAW]], %[[Z]] :
// CHECK: ^bb0(%{{.*}}: !linrec.state<16x16xf32>, %[[QT:.*]]: vector<16xf32>, %{{.*}}: vector<16xf32>, %{{.*}}: vector<16xf32>, %[[RAWT:.*]]: vector<16xf32>, %[[ZT:.*]]: vector<16xf32>):
// CHECK-DAG: %[[C:.*]] = arith.constant dense<-6.250000e-02> : vector<16xf32>
// CHECK-DAG: %[[ABS:.*]] = math.absf %[[RAWT]] : vector<16xf32>
// CHECK: %[[GK:.*]] = arith.mulf %[[ABS]], %[[C]] : vector<16xf32>
// CHECK: linrec.decay %{{.*}}, %[[GK]] along <key>
// CHECK: %[[O:.*]] = linrec.read
// CHECK: %[[E:.*]] = math.exp %[[ZT]] : vector<16xf32>
// CHECK: %[[Y:.*]] = arith.mulf %[[O]], %[[E]] : vector<16xf32>
// CHECK: linrec.yield states(%{{.*}} : !linrec.state<16x16xf32>) outputs(%[[Y]] : vector<16xf32>)
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @gla_with_gates(%q: tensor<1x8x2x16xf32>, %raw: tensor<1x8x2x16xf32>, %z: tensor<1x8x2x16xf32>)
    -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  %e0 = tensor.empty() : tensor<1x8x2x16xf32>
  %gk = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%raw : tensor<1x8x2x16xf32>) outs(%e0 : tensor<1x8x2x16xf32>) {
  ^bb0(%x: f32, %out: f32):
    %c = arith.constant -0.0625 : f32
    %a = math.absf %x : f32
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<1x8x2x16xf32>
  %o, %s = linrec.gla %q, %q, %q gate(%gk)
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>)
  %e1 = tensor.empty() : tensor<1x8x2x16xf32>
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%o, %z : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) outs(%e1 : tensor<1x8x2x16xf32>) {
  ^bb0(%a: f32, %zz: f32, %out: f32):
    %ez = math.exp %zz : f32
    %r = arith.mulf %a, %ez : f32
    linalg.yield %r : f32
  } -> tensor<1x8x2x16xf32>
  return %y, %s : tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>
}

// -----

#same = affine_map<(b, t, h, d) -> (b, t, h, d)>
#tr = affine_map<(b, t, h, d) -> (b, t, d, h)>

// Not element-wise over the token layout (a transposed map): left alone.
// CHECK-LABEL: func.func @not_fusable
// CHECK: linalg.generic
// CHECK: linrec.recurrence
func.func @not_fusable(%q: tensor<1x8x16x16xf32>, %raw: tensor<1x8x16x16xf32>) -> tensor<1x16x16x16xf32> {
  %e0 = tensor.empty() : tensor<1x8x16x16xf32>
  %gk = linalg.generic {indexing_maps = [#tr, #same], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%raw : tensor<1x8x16x16xf32>) outs(%e0 : tensor<1x8x16x16xf32>) {
  ^bb0(%x: f32, %out: f32):
    %a = math.absf %x : f32
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8x16x16xf32>
  %o, %s = linrec.gla %q, %q, %q gate(%gk)
      : (tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>, tensor<1x8x16x16xf32>)
      -> (tensor<1x8x16x16xf32>, tensor<1x16x16x16xf32>)
  return %s : tensor<1x16x16x16xf32>
}

// -----

#token = affine_map<(b, t, h, d) -> (b, t, h, d)>

// A payload that uses a value from outside (the recurrence is isolated from above), or a tensor
// that is not f32: left alone.
// CHECK-LABEL: func.func @captured
// CHECK-COUNT-2: linalg.generic
// CHECK: linrec.recurrence
func.func @captured(%q: tensor<1x8x2x16xf32>, %raw: tensor<1x8x2x16xf32>, %c: f32,
                    %h: tensor<1x8x2x16xbf16>) -> tensor<1x2x16x16xf32> {
  %e0 = tensor.empty() : tensor<1x8x2x16xf32>
  %gk = linalg.generic {indexing_maps = [#token, #token], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%raw : tensor<1x8x2x16xf32>) outs(%e0 : tensor<1x8x2x16xf32>) {
  ^bb0(%x: f32, %out: f32):
    %a = math.absf %x : f32
    %m = arith.mulf %a, %c : f32
    %n = arith.negf %m : f32
    linalg.yield %n : f32
  } -> tensor<1x8x2x16xf32>
  %kf = linalg.generic {indexing_maps = [#token, #token], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%h : tensor<1x8x2x16xbf16>) outs(%e0 : tensor<1x8x2x16xf32>) {
  ^bb0(%x: bf16, %out: f32):
    %w = arith.extf %x : bf16 to f32
    linalg.yield %w : f32
  } -> tensor<1x8x2x16xf32>
  %o, %s = linrec.gla %q, %kf, %q gate(%gk)
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>)
  return %s : tensor<1x2x16x16xf32>
}

// -----

#id4 = affine_map<(b, t, h, d) -> (b, t, h, d)>
#tok = affine_map<(b, t, h, d) -> (b, t, h)>
#head = affine_map<(b, t, h, d) -> (h)>

// A consumer of two outputs of the recurrence (a numerator and its [B, T, H] denominator), with
// a per-head gate [H] (a new param) and a [B, T, H] input broadcast over the head dim (LoLCATs'
// combine): the payload moves after the reads, the scalars are broadcast, and the denominator
// output, now read by nothing, is dropped.
// CHECK-LABEL: func.func @shared_denominator
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[WD:.*]]: tensor<1x8x2xf32>, %[[GATE:.*]]: tensor<2xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[R:.*]]:3 = linrec.recurrence ins(%[[Q]], %[[WD]] : tensor<1x8x2x16xf32>, tensor<1x8x2xf32>) params(%[[GATE]] : tensor<2xf32>)
// CHECK-SAME: -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16xf32>)
// CHECK: ^bb0(%{{.*}}: !linrec.state<16x16xf32>, %{{.*}}: !linrec.state<16xf32>, %[[QT:.*]]: vector<16xf32>, %[[WDT:.*]]: f32, %[[GT:.*]]: f32):
// CHECK: %[[N:.*]] = linrec.read %{{.*}}, %[[QT]] : <16x16xf32>
// CHECK: %[[D:.*]] = linrec.read %{{.*}}, %[[QT]] : <16xf32>
// CHECK-DAG: vector.broadcast %[[D]] : f32 to vector<16xf32>
// CHECK-DAG: vector.broadcast %[[WDT]] : f32 to vector<16xf32>
// CHECK-DAG: vector.broadcast %[[GT]] : f32 to vector<16xf32>
// CHECK: %[[O:.*]] = arith.divf
// CHECK: linrec.yield states(%{{.*}}, %{{.*}} : !linrec.state<16x16xf32>, !linrec.state<16xf32>) outputs(%[[O]] : vector<16xf32>)
// CHECK: return %[[R]]#0
func.func @shared_denominator(%q: tensor<1x8x2x16xf32>, %wd: tensor<1x8x2xf32>, %gate: tensor<2xf32>)
    -> tensor<1x8x2x16xf32> {
  %n, %d, %s, %z = linrec.recurrence ins(%q : tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x8x2xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %Z: !linrec.state<16xf32>, %qt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %Z1 = linrec.write %Z, %qt : !linrec.state<16xf32>, vector<16xf32>
    %nt = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    %dt = linrec.read %Z1, %qt : !linrec.state<16xf32>, vector<16xf32> -> f32
    linrec.yield states(%S1, %Z1 : !linrec.state<16x16xf32>, !linrec.state<16xf32>) outputs(%nt, %dt : vector<16xf32>, f32)
  }
  %e = tensor.empty() : tensor<1x8x2x16xf32>
  %o = linalg.generic {indexing_maps = [#id4, #tok, #tok, #head, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%n, %d, %wd, %gate : tensor<1x8x2x16xf32>, tensor<1x8x2xf32>, tensor<1x8x2xf32>, tensor<2xf32>)
      outs(%e : tensor<1x8x2x16xf32>) {
  ^bb0(%nn: f32, %dd: f32, %w: f32, %g: f32, %out: f32):
    %den = arith.addf %dd, %w : f32
    %gn = arith.mulf %nn, %g : f32
    %r = arith.divf %gn, %den : f32
    linalg.yield %r : f32
  } -> tensor<1x8x2x16xf32>
  return %o : tensor<1x8x2x16xf32>
}

// -----

#id4d = affine_map<(b, t, h, d) -> (b, t, h, d)>
#headd = affine_map<(b, t, h, d) -> (h, d)>

// A producer of a delayed input stays outside: the input is zero for the first tokens, its
// producer at zero inputs is not (here the bias).
// CHECK-LABEL: func.func @delayed_producer
// CHECK: linalg.generic
// CHECK: linrec.recurrence ins(%{{.*}}, %{{.*}} : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {delays = array<i64: 0, 2>}
func.func @delayed_producer(%q: tensor<1x8x2x16xf32>, %bias: tensor<2x16xf32>) -> tensor<1x2x16x16xf32> {
  %e = tensor.empty() : tensor<1x8x2x16xf32>
  %k = linalg.generic {indexing_maps = [#id4d, #headd, #id4d], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q, %bias : tensor<1x8x2x16xf32>, tensor<2x16xf32>) outs(%e : tensor<1x8x2x16xf32>) {
  ^bb0(%x: f32, %b: f32, %out: f32):
    %y = arith.addf %x, %b : f32
    linalg.yield %y : f32
  } -> tensor<1x8x2x16xf32>
  %s = linrec.recurrence ins(%q, %k : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {delays = array<i64: 0, 2>}
      -> (tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %kt: vector<16xf32>):
    %S1 = linrec.write %S, %kt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>)
  }
  return %s : tensor<1x2x16x16xf32>
}

// -----

// A reverse recurrence (a backward scan) stays reverse when an element-wise consumer moves
// into it: the fused op is per token, whatever the direction.
// CHECK-LABEL: func.func @reverse_with_consumer
// CHECK-NOT: linalg.generic
// CHECK: linrec.recurrence ins({{.*}}) {reverse}
// CHECK: arith.addf
// CHECK: linrec.yield
#rid = affine_map<(b, t, h, d) -> (b, t, h, d)>
func.func @reverse_with_consumer(%q: tensor<1x8x1x4xf32>, %x: tensor<1x8x1x4xf32>) -> tensor<1x8x1x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x1x4xf32>) {reverse}
      -> (tensor<1x8x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %ot = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%ot : vector<4xf32>)
  }
  %e = tensor.empty() : tensor<1x8x1x4xf32>
  %y = linalg.generic {indexing_maps = [#rid, #rid, #rid], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%o, %x : tensor<1x8x1x4xf32>, tensor<1x8x1x4xf32>) outs(%e : tensor<1x8x1x4xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x8x1x4xf32>
  return %y : tensor<1x8x1x4xf32>
}
