// RUN: linrec-opt %s --split-input-file --linrec-fuse-windows | FileCheck %s

// A sliding softmax window that feeds a recurrence becomes a window read in its body; its q and
// k become inputs, and the v the recurrence already takes is reused.
// CHECK-LABEL: func.func @liger_attention
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[V:.*]]: tensor<1x8x2x8xf32>, %[[QA:.*]]: tensor<1x8x2x4xf32>, %[[KA:.*]]: tensor<1x8x2x4xf32>)
// CHECK-NOT: linrec.window_attention
// CHECK: linrec.recurrence ins(%[[Q]], %[[V]], %[[QA]], %[[KA]] :
// CHECK: ^bb0(%[[S:.*]]: !linrec.state<16x8xf32>, %[[QT:.*]]: vector<16xf32>, %[[VT:.*]]: vector<8xf32>, %[[QAT:.*]]: vector<4xf32>, %[[KAT:.*]]: vector<4xf32>):
// CHECK-NEXT: %[[W:.*]] = linrec.window_read %[[QAT]], %[[KAT]], %[[VT]] size 3 scale 5.000000e-01 : vector<4xf32>, vector<8xf32>
// CHECK: %[[O:.*]] = linrec.read
// CHECK: arith.addf %[[O]], %[[W]] : vector<8xf32>
func.func @liger_attention(%q: tensor<1x8x2x16xf32>, %v: tensor<1x8x2x8xf32>,
                           %qa: tensor<1x8x2x4xf32>, %ka: tensor<1x8x2x4xf32>)
    -> (tensor<1x8x2x8xf32>, tensor<1x2x16x8xf32>) {
  %w = linrec.window_attention %qa, %ka, %v window <sliding> size 3 weighting <softmax>
      {scale = 0.5 : f64} : (tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x8xf32>)
      -> tensor<1x8x2x8xf32>
  %o, %s = linrec.recurrence ins(%q, %v, %w : tensor<1x8x2x16xf32>, tensor<1x8x2x8xf32>,
                                 tensor<1x8x2x8xf32>)
      -> (tensor<1x8x2x8xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %qt: vector<16xf32>, %vt: vector<8xf32>, %wt: vector<8xf32>):
    %S1 = linrec.write %S, %qt, %vt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x8xf32>, vector<16xf32> -> vector<8xf32>
    %y = arith.addf %r, %wt : vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<16x8xf32>) outputs(%y : vector<8xf32>)
  }
  return %o, %s : tensor<1x8x2x8xf32>, tensor<1x2x16x8xf32>
}

// -----

// A window that something else also uses stays for that use; one whose v the recurrence does
// not take adds it as an input.
// CHECK-LABEL: func.func @shared_window
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>, %[[V:.*]]: tensor<1x8x2x16xf32>)
// CHECK: %[[W:.*]] = linrec.window_attention %[[Q]], %[[Q]], %[[V]]
// CHECK: %[[R:.*]]:2 = linrec.recurrence ins(%[[Q]], %[[V]] :
// CHECK: ^bb0(%{{.*}}: !linrec.state<16x16xf32>, %[[QT:.*]]: vector<16xf32>, %[[VT:.*]]: vector<16xf32>):
// CHECK-NEXT: linrec.window_read %[[QT]], %[[QT]], %[[VT]] size 4 scale 1.000000e+00
// CHECK: return %[[R]]#0, %[[W]]
func.func @shared_window(%q: tensor<1x8x2x16xf32>, %v: tensor<1x8x2x16xf32>)
    -> (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {
  %w = linrec.window_attention %q, %q, %v window <sliding> size 4 weighting <softmax>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32>
  %o, %s = linrec.recurrence ins(%q, %w : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %wt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o, %w : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>
}

// -----

// Every window shape moves, with its shape: a terraced shifted_exp window (LoLCATs, whose
// linear term reads at block starts) and a block window with ReLU weights.
// CHECK-LABEL: func.func @terraced_and_block
// CHECK-NOT: linrec.window_attention
// CHECK: linrec.window_read %{{.*}} window <terraced> size 8 scale 1.000000e+00 weighting <shifted_exp>
// CHECK: linrec.read %{{.*}} block_start 8
// CHECK: linrec.window_read %{{.*}} window <block> size 4 scale 5.000000e-01 weighting <relu>
func.func @terraced_and_block(%q: tensor<1x8x2x16xf32>)
    -> (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {
  %t, %td = linrec.window_attention %q, %q, %q window <terraced> size 8 weighting <shifted_exp>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> (tensor<1x8x2x16xf32>, tensor<1x8x2xf32>)
  %o1, %s1 = linrec.recurrence ins(%q, %t, %td : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>, %wdt: f32):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt block_start 8 : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    %num = arith.addf %r, %wt : vector<16xf32>
    %den = vector.broadcast %wdt : f32 to vector<16xf32>
    %y = arith.divf %num, %den : vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%y : vector<16xf32>)
  }
  %b = linrec.window_attention %q, %q, %q window <block> size 4 weighting <relu> {scale = 0.5 : f64}
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32>
  %o2, %s2 = linrec.recurrence ins(%q, %b : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    %y = arith.addf %r, %wt : vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%y : vector<16xf32>)
  }
  return %o1, %o2 : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>
}

// -----

// Varlen recurrences stay apart: a window over [B, T, H] does not know where the sequences of
// cu_seqlens end.
// CHECK-LABEL: func.func @not_fused
// CHECK: linrec.window_attention
// CHECK-NOT: linrec.window_read
func.func @not_fused(%q: tensor<1x8x2x16xf32>, %cu: tensor<3xi32>) -> tensor<1x8x2x16xf32> {
  %w = linrec.window_attention %q, %q, %q window <sliding> size 4 weighting <softmax>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32>
  %o2, %s2 = linrec.recurrence ins(%q, %w : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      cu_seqlens(%cu : tensor<3xi32>) -> (tensor<1x8x2x16xf32>, tensor<2x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %wt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o2 : tensor<1x8x2x16xf32>
}

// -----

// LoLCATs: a shifted_exp window feeds the recurrence twice (numerator and denominator); both
// inputs become the results of one window read.
// CHECK-LABEL: func.func @shared_denominator
// CHECK-NOT: linrec.window_attention
// CHECK: ^bb0(%{{.*}}: !linrec.state<16x16xf32>, %[[QT:.*]]: vector<16xf32>):
// CHECK-NEXT: %[[N:.*]], %[[D:.*]] = linrec.window_read %[[QT]], %[[QT]], %[[QT]] size 8 scale 1.000000e+00 weighting <shifted_exp> : vector<16xf32>, vector<16xf32>, f32
// CHECK: arith.addf %{{.*}}, %[[N]] : vector<16xf32>
// CHECK: vector.broadcast %[[D]] : f32 to vector<16xf32>
func.func @shared_denominator(%q: tensor<1x8x2x16xf32>) -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  %w, %wd = linrec.window_attention %q, %q, %q window <sliding> size 8 weighting <shifted_exp>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> (tensor<1x8x2x16xf32>, tensor<1x8x2xf32>)
  %o, %s = linrec.recurrence ins(%q, %w, %wd : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>, %wdt: f32):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    %num = arith.addf %r, %wt : vector<16xf32>
    %den = vector.broadcast %wdt : f32 to vector<16xf32>
    %y = arith.divf %num, %den : vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%y : vector<16xf32>)
  }
  return %o, %s : tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>
}

// -----

// Left alone: a window output read with a delay (the window read is this token's), and a
// recurrence that runs sequentially (masked writes: window reads need the chunked kernel).
// CHECK-LABEL: func.func @not_fusable
// CHECK-COUNT-2: linrec.window_attention
// CHECK-NOT: linrec.window_read
func.func @not_fusable(%q: tensor<1x8x2x16xf32>, %g: tensor<1x8x2xf32>) -> (tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) {
  %w = linrec.window_attention %q, %q, %q window <sliding> size 4 weighting <softmax>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32>
  %s1 = linrec.recurrence ins(%q, %w : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {delays = array<i64: 0, 3>}
      -> (tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %wt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>)
  }
  %w2 = linrec.window_attention %q, %q, %q window <sliding> size 4 weighting <softmax>
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) -> tensor<1x8x2x16xf32>
  %s2 = linrec.recurrence ins(%q, %w2, %g : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2xf32>)
      -> (tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %wt: vector<16xf32>, %gt: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %qt, %wt if %m : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>)
  }
  return %s1, %s2 : tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>
}
