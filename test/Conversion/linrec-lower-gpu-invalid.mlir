// RUN: linrec-opt %s --split-input-file --linrec-lower-gpu --verify-diagnostics

// A chunked claim must hold.
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
  // expected-error @+1 {{GPU chunk size must be in [1, 128], got 256}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {chunk_size = 256 : i64} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @window_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    // expected-error @+1 {{has no GPU schedule yet: keep the window as linrec.window_attention (the GPU pipeline does not run linrec-fuse-windows)}}
    %w = linrec.window_read %x, %x, %x size 4 scale 1.0 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @delayed(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{has delayed inputs, which have no GPU schedule yet (the GPU pipeline does not run linrec-fuse-delays)}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {delays = array<i64: 2>} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @projected(%q: tensor<1x8x2x8xf32>, %w: tensor<2x8x4xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x8x2x8xf32>) params(%w : tensor<2x8x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<8xf32>, %wt: vector<8x4xf32>):
    // expected-error @+1 {{has no GPU schedule yet: keep the projection outside the recurrence (the GPU pipeline does not run linrec-fuse-projections)}}
    %u = linrec.project %x, %wt : vector<8xf32>, vector<8x4xf32> -> vector<4xf32>
    %S1 = linrec.write %S, %u, %u : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @block_start_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{reads at block starts, which have no GPU schedule yet (build terraced LoLCATs as an event sequence for the GPU)}}
    %r = linrec.read %S1, %x block_start 4 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}
