// RUN: linrec-opt %s --split-input-file --linrec-classify="remark-sequential" --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @gated_delta
// CHECK: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<chunked_delta>
func.func @gated_delta(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %kn = linrec.l2norm %x : vector<4xf32>
    %S1 = linrec.decay %S, %gt : !linrec.state<4x4xf32>, f32
    %S2 = linrec.delta %S1, %kn, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %kn, %x scaled %gt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S3 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// Two decays on both axes and a normalizer: still diagonal.
// CHECK-LABEL: func.func @diagonal
// CHECK: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<chunked_diagonal>
func.func @diagonal(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s, %z = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %Z: !linrec.state<4xf32>, %x: vector<4xf32>):
    %g = linrec.feature_map <logsigmoid> %x : vector<4xf32>
    %S1 = linrec.decay %S, %g along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.decay %S1, %g along <value> : !linrec.state<4x4xf32>, vector<4xf32>
    %S3 = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %Z1 = linrec.write %Z, %x : !linrec.state<4xf32>, vector<4xf32>
    %o = linrec.read %S3, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %d = linrec.read %Z1, %x : !linrec.state<4xf32>, vector<4xf32> -> f32
    %db = vector.broadcast %d : f32 to vector<4xf32>
    %on = arith.divf %o, %db : vector<4xf32>
    linrec.yield states(%S3, %Z1 : !linrec.state<4x4xf32>, !linrec.state<4xf32>) outputs(%on : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A backward's gate sums: a reverse running sum (a state of one key row, decaying along
// its values or not) takes the token scan, not chunk matmuls that contract over one row.
// CHECK-LABEL: func.func @running_sum
// CHECK: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<sequential>
func.func @running_sum(%x: tensor<1x8x2x4xf32>, %g: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  // expected-remark @+1 {{sequential: every state has a single key row (running sums)}}
  %o, %s = linrec.recurrence ins(%x, %g : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>) {reverse} -> (tensor<1x8x2x4xf32>, tensor<1x2x1x4xf32>) {
  ^bb0(%S: !linrec.state<1x4xf32>, %xt: vector<4xf32>, %gt: vector<4xf32>):
    %one = arith.constant dense<1.0> : vector<1xf32>
    %S1 = linrec.decay %S, %gt along <value> : !linrec.state<1x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %one, %xt : !linrec.state<1x4xf32>, vector<1xf32>, vector<4xf32>
    %r = linrec.read %S2, %one : !linrec.state<1x4xf32>, vector<1xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<1x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// CHECK-LABEL: func.func @masked
// CHECK: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<sequential>
func.func @masked(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: state #0: a masked write}}
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

// CHECK-LABEL: func.func @routed
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @routed(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: state #0: its chain forks (a select or a second use)}}
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %S2 = linrec.select %m, %S1, %S : !linrec.state<4x4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @decay_after_write
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @decay_after_write(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: state #0: decays after a delta or write}}
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %S2 = linrec.decay %S1, %gt : !linrec.state<4x4xf32>, f32
    linrec.yield states(%S2 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// One state's read drives another state's key: a feedback the chunked form cannot see.
// CHECK-LABEL: func.func @feedback
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @feedback(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: a key, value, gate or query depends on a read of the state}}
  %a, %b = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%A: !linrec.state<4x4xf32>, %B: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %A1 = linrec.write %A, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %A1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %B1 = linrec.write %B, %r, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%A1, %B1 : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>)
  }
  return %a : tensor<1x2x4x4xf32>
}

// -----

// A delta rule whose write takes its own key (the delta rule's backward) is chunked with
// scalar decays...
// CHECK-LABEL: func.func @delta_own_write_key
// CHECK: algorithm = #linrec.algorithm<chunked_delta>
func.func @delta_own_write_key(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %y = linrec.feature_map <exp> %x : vector<4xf32>
    %S0 = linrec.decay %S, %gt : !linrec.state<4x4xf32>, f32
    %S1 = linrec.delta %S0, %x, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %y, %x scaled %gt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// ... not with block-start reads (the chunked form has no block mask for its writes' term)...
// CHECK-LABEL: func.func @delta_own_write_key_block_read
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @delta_own_write_key_block_read(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x8x2x4xf32> {
  // expected-remark @+1 {{sequential: state #0: a block-start read of a delta rule with its own write key}}
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %y = linrec.feature_map <exp> %x : vector<4xf32>
    %S1 = linrec.delta %S, %x, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %y, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S2, %x block_start 4 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// ... with key decays too (the decays come first; the chunked kernel factors C ⊙ e^{−b} as it
// does K) ...
// CHECK-LABEL: func.func @delta_key_differs_key_decays
// CHECK: algorithm = #linrec.algorithm<chunked_delta>
func.func @delta_key_differs_key_decays(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %y = linrec.feature_map <exp> %x : vector<4xf32>
    %S0 = linrec.decay %S, %x along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S1 = linrec.delta %S0, %x, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %y, %x scaled %gt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// ... but runs the scan with a value-dim decay (no chunked delta rule takes one).
// CHECK-LABEL: func.func @delta_key_differs
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @delta_key_differs(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: state #0: the delta transition and the write use different keys or betas, with a value-dim decay}}
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %y = linrec.feature_map <exp> %x : vector<4xf32>
    %S0 = linrec.decay %S, %x along <value> : !linrec.state<4x4xf32>, vector<4xf32>
    %S1 = linrec.delta %S0, %x, %gt : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %y, %x scaled %gt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// A recurrence already marked sequential keeps that choice.
// CHECK-LABEL: func.func @forced_sequential
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @forced_sequential(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {algorithm = #linrec.algorithm<sequential>} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// Reads of a product of states (tensor attention): the scan, which costs less on the CPU than
// the chunked product form; the analysis says that the form exists.
// CHECK-LABEL: func.func @product_read
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @product_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  // expected-remark @+1 {{sequential: reads a product of states: the token scan costs less on the CPU than the chunked product form (mark the recurrence chunked_product to run that)}}
  %o, %s1, %s2 = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %A = linrec.write %S1, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A, %B : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%p : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// Marked chunked_product, the mark stays.
// CHECK-LABEL: func.func @marked_product_read
// CHECK: algorithm = #linrec.algorithm<chunked_product>
func.func @marked_product_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>)
      {algorithm = #linrec.algorithm<chunked_product>}
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %A = linrec.write %S1, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A, %B : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%p : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// Marked chunked_product, but a state is also read alone: an error.
func.func @marked_product_with_a_plain_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  // expected-error @+1 {{is marked chunked_product, but reads a product of states; no chunked form: state #0 is also read alone}}
  %o, %s1, %s2 = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>)
      {algorithm = #linrec.algorithm<chunked_product>}
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %A = linrec.write %S1, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %r = linrec.read %A, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %p, %r : vector<4xf32>
    linrec.yield states(%A, %B : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A float64 state (a product read's backward sums the pair in float64): the token scan.
// CHECK-LABEL: func.func @float64_state
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @float64_state(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf64> {
  %z = arith.constant dense<0.0> : tensor<1x2x4x4xf64>
  // expected-remark @+1 {{sequential: state #0: a state of another float type than f32 (the token scan runs it)}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) init(%z : tensor<1x2x4x4xf64>)
      -> (tensor<1x2x4x4xf64>) {
  ^bb0(%S: !linrec.state<4x4xf64>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf64>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf64>)
  }
  return %s : tensor<1x2x4x4xf64>
}

// -----

// A Hadamard write (the product read's adjoint): the token scan.
// CHECK-LABEL: func.func @hadamard_write
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @hadamard_write(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  // expected-remark @+1 {{sequential: state #1: a Hadamard write (the token scan runs it)}}
  %o, %s1, %s2 = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%B: !linrec.state<4x4xf32>, %G: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %G1 = linrec.write_hadamard %G, %x, %x times %B : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32> times !linrec.state<4x4xf32>
    %B1 = linrec.write %B, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %o1 = linrec.read %G1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%B1, %G1 : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%o1 : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A delta transition with no write after it (the initial state's gradient of a delta rule
// is one): the chunked delta rule solves for what its write adds, so the token scan runs it.
// CHECK-LABEL: func.func @delta_without_write
// CHECK: algorithm = #linrec.algorithm<sequential>
func.func @delta_without_write(%k: tensor<1x8x2x4xf32>, %b: tensor<1x8x2xf32>,
                               %s0: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-remark @+1 {{sequential: state #0: a delta transition without a write (the token scan runs it)}}
  %s = linrec.recurrence ins(%k, %b : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>)
      init(%s0 : tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %kt: vector<4xf32>, %bt: f32):
    %S1 = linrec.delta %S, %kt, %bt : !linrec.state<4x4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}
