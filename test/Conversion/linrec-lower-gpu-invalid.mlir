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

func.func @window_read(%q: tensor<1x8x2x4xf32>, %m: tensor<1x8x2xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q, %m : tensor<1x8x2x4xf32>, tensor<1x8x2xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %g: f32):
    %zero = arith.constant 0.0 : f32
    %mt = arith.cmpf ogt, %g, %zero : f32
    // expected-error @+1 {{needs the chunked schedule, but the recurrence runs sequentially (state #0: a masked write); write the window as linrec.window_attention instead}}
    %w = linrec.window_read %x, %x, %x size 4 scale 1.0 : vector<4xf32>, vector<4xf32>
    %S1 = linrec.write %S, %x, %x if %mt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    %y = arith.addf %r, %w : vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%y : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @block_start_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  // expected-error @+1 {{GPU chunk size must be in [1, 128], got 256 (whole blocks of the block-start reads)}}
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %r = linrec.read %S1, %x block_start 256 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @heads_norm(%q: tensor<2x16x4x8xf32>) -> tensor<2x16x4x8xf32> {
  // expected-error @+1 {{normalizes its output over heads (heads_norm_eps), which has no GPU schedule; keep linrec.heads_rms_norm apart (the GPU pipeline does not run linrec-fuse-heads-norms)}}
  %o, %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) {heads_norm_eps = 1.0e-08 : f64}
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %r = linrec.read %S1, %x : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%r : vector<8xf32>)
  }
  return %o : tensor<2x16x4x8xf32>
}
