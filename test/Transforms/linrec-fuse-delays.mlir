// RUN: linrec-opt %s --split-input-file --linrec-fuse-delays | FileCheck %s

// Keys and values moved 4 tokens later with zeros first become the same tensors read with a
// delay of 4; the query, not shifted, stays an input of its own.
// CHECK-LABEL: func.func @delayed_writes
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x2x16xf32>)
// CHECK-NOT: tensor.pad
// CHECK-NOT: tensor.extract_slice
// CHECK: linrec.recurrence ins(%[[Q]], %[[Q]] : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {delays = array<i64: 0, 4>}
// CHECK: ^bb0(%{{.*}}: !linrec.state<16x16xf32>, %[[QT:.*]]: vector<16xf32>, %[[KT:.*]]: vector<16xf32>):
// CHECK: linrec.write %{{.*}}, %[[KT]], %[[KT]]
func.func @delayed_writes(%q: tensor<1x8x2x16xf32>) -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %padded = tensor.pad %q low[0, 4, 0, 0] high[0, 0, 0, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x2x16xf32> to tensor<1x12x2x16xf32>
  %k = tensor.extract_slice %padded[0, 0, 0, 0] [1, 8, 2, 16] [1, 1, 1, 1]
      : tensor<1x12x2x16xf32> to tensor<1x8x2x16xf32>
  %o, %s = linrec.recurrence ins(%q, %k, %k : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %kt: vector<16xf32>, %vt: vector<16xf32>):
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o, %s : tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>
}

// -----

// Shifts that are not a delay stay: a pad after T (tokens moved earlier), a non-zero padding
// value, and any shift of a varlen recurrence's packed sequences.
// CHECK-LABEL: func.func @not_delays
// CHECK-COUNT-3: tensor.pad
// CHECK-NOT: delays
func.func @not_delays(%q: tensor<1x8x2x16xf32>, %cu: tensor<3xi32>) -> (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %late = tensor.pad %q low[0, 0, 0, 0] high[0, 4, 0, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x2x16xf32> to tensor<1x12x2x16xf32>
  %a = tensor.extract_slice %late[0, 4, 0, 0] [1, 8, 2, 16] [1, 1, 1, 1] : tensor<1x12x2x16xf32> to tensor<1x8x2x16xf32>
  %ones = tensor.pad %q low[0, 4, 0, 0] high[0, 0, 0, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %one : f32
  } : tensor<1x8x2x16xf32> to tensor<1x12x2x16xf32>
  %b = tensor.extract_slice %ones[0, 0, 0, 0] [1, 8, 2, 16] [1, 1, 1, 1] : tensor<1x12x2x16xf32> to tensor<1x8x2x16xf32>
  %o1, %s1 = linrec.recurrence ins(%q, %a, %b : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      -> (tensor<1x8x2x16xf32>, tensor<1x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %at: vector<16xf32>, %bt: vector<16xf32>):
    %S1 = linrec.write %S, %at, %bt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  %zeros = tensor.pad %q low[0, 4, 0, 0] high[0, 0, 0, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x2x16xf32> to tensor<1x12x2x16xf32>
  %c = tensor.extract_slice %zeros[0, 0, 0, 0] [1, 8, 2, 16] [1, 1, 1, 1] : tensor<1x12x2x16xf32> to tensor<1x8x2x16xf32>
  %o2, %s2 = linrec.recurrence ins(%q, %c : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>)
      cu_seqlens(%cu : tensor<3xi32>) -> (tensor<1x8x2x16xf32>, tensor<2x2x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>, %ct: vector<16xf32>):
    %S1 = linrec.write %S, %ct, %ct : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %r = linrec.read %S1, %qt : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%r : vector<16xf32>)
  }
  return %o1, %o2 : tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>
}
