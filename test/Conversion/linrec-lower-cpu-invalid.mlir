// RUN: linrec-opt %s --split-input-file --linrec-lower-cpu --verify-diagnostics

func.func @claims_chunked(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{is marked chunked_diagonal but is sequential: state #0: a masked write}}
  %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>)
      {algorithm = #linrec.algorithm<chunked_diagonal>} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %x, %x if %m : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @huge_chunk(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{chunk size must be in [1, 256], got 512}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {chunk_size = 512 : i64} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

// The window read has a chunked form only.
func.func @window_in_a_scan(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    // expected-error @+1 {{needs the chunked kernel, but the recurrence runs sequentially (state #0: a masked write); write the window as linrec.window_attention instead}}
    %w = linrec.window_read %x, %x, %x size 4 scale 1.0 : vector<4xf32>, vector<4xf32>
    %zero = arith.constant 0.0 : f32
    %m = arith.cmpf olt, %gt, %zero : f32
    %S1 = linrec.write %S, %x, %x if %m : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @window_too_long(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    // expected-error @+1 {{window of 2000 tokens with chunks of 64 needs a span of 2064 rows; the chunked kernel takes at most 1024 (use linrec.window_attention)}}
    %w = linrec.window_read %x, %x, %x size 2000 scale 1.0 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// Windows are found whatever else makes the recurrence sequential (a product read here).
func.func @window_with_a_product_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %A = linrec.write %S1, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    // expected-error @+1 {{needs the chunked kernel, but the recurrence runs sequentially (reads a product of states; no chunked form: a window read)}}
    %w = linrec.window_read %x, %x, %x size 4 scale 1.0 : vector<4xf32>, vector<4xf32>
    %y = arith.addf %p, %w : vector<4xf32>
    linrec.yield states(%A, %B : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A key computed from a window read: the chunked prologue cannot have it.
func.func @key_from_a_window(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    // expected-error @+1 {{needs the chunked kernel, but the recurrence runs sequentially (a key, value, gate or query depends on a read of the state or a window)}}
    %w = linrec.window_read %x, %x, %x size 4 scale 1.0 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %w, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @heads_norm_scan(%q: tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32> {
  // expected-error @+1 {{normalizes its output over heads (heads_norm_eps), which needs the chunked kernel, static heads and no window reads; keep linrec.heads_rms_norm apart instead}}
  %o, %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) {algorithm = #linrec.algorithm<sequential>, heads_norm_eps = 1.0e-08 : f64}
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  return %o : tensor<2x16x4x8xf32>
}

// -----

// The chunked product form takes plain writes only.
func.func @chunked_product_of_a_decaying_state(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2xf32>)
    -> tensor<1x8x2x4xf32> {
  // expected-error @+1 {{is marked chunked_product, but reads a product of states; no chunked form: state #0 decays or has a delta transition}}
  %o, %s1, %s2 = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>)
      {algorithm = #linrec.algorithm<chunked_product>}
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: f32):
    %D = linrec.decay %S1, %gt : !linrec.state<4x4xf32>, f32
    %A = linrec.write %D, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %B = linrec.write %S2, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %p = linrec.read_product %A, %B, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A, %B : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%p : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}
