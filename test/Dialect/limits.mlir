// RUN: linrec-opt %s --split-input-file --verify-diagnostics

// Sizes from user input stay inside include/linrec/Dialect/Limits.h: head dims and heads at
// least 1 (a zero-width key divided by zero in the matmul builder and looped forever in the
// CPU kernel's heads-per-item choice), every dim and every tensor's element count bounded (no
// size computed from them overflows).

func.func @zero_key_dim(%q: tensor<1x8x2x0xf32>, %k: tensor<1x8x2x0xf32>,
    %v: tensor<1x8x2x4xf32>, %gk: tensor<1x8x2x0xf32>) -> tensor<1x8x2x4xf32> {
  // expected-error @+1 {{'q' [B, T, H, dk] = [1, 8, 2, 0]: dim dk = 0 is out of range [1, 65536]}}
  %o, %s = linrec.gla %q, %k, %v gate(%gk) {scale = 0.125 : f64}
      : (tensor<1x8x2x0xf32>, tensor<1x8x2x0xf32>, tensor<1x8x2x4xf32>, tensor<1x8x2x0xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x0x4xf32>)
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @zero_heads(%q: tensor<1x8x0x4xf32>, %k: tensor<1x8x0x4xf32>,
    %v: tensor<1x8x0x4xf32>, %g: tensor<1x8x0xf32>) -> tensor<1x8x0x4xf32> {
  // expected-error @+1 {{dim H = 0 is out of range [1, 65536]}}
  %o, %s = linrec.simple_gla %q, %k, %v gate(%g) {scale = 0.5 : f64}
      : (tensor<1x8x0x4xf32>, tensor<1x8x0x4xf32>, tensor<1x8x0x4xf32>, tensor<1x8x0xf32>)
      -> (tensor<1x8x0x4xf32>, tensor<1x0x4x4xf32>)
  return %o : tensor<1x8x0x4xf32>
}

// -----

func.func @too_many_elements(%q: tensor<1048576x1048576x1x4xf32>,
    %k: tensor<1048576x1048576x1x4xf32>, %v: tensor<1048576x1048576x1x4xf32>)
    -> tensor<1048576x1048576x1x4xf32> {
  // expected-error @+1 {{more than 1099511627776 elements}}
  %o, %s = linrec.linear_attention %q, %k, %v {scale = 0.5 : f64}
      : (tensor<1048576x1048576x1x4xf32>, tensor<1048576x1048576x1x4xf32>,
         tensor<1048576x1048576x1x4xf32>)
      -> (tensor<1048576x1048576x1x4xf32>, tensor<1048576x1x4x4xf32>)
  return %o : tensor<1048576x1048576x1x4xf32>
}

// -----

// An empty batch and no tokens are fine.
func.func @empty(%q: tensor<0x0x2x4xf32>, %k: tensor<0x0x2x4xf32>, %v: tensor<0x0x2x4xf32>)
    -> tensor<0x0x2x4xf32> {
  %o, %s = linrec.linear_attention %q, %k, %v {scale = 0.5 : f64}
      : (tensor<0x0x2x4xf32>, tensor<0x0x2x4xf32>, tensor<0x0x2x4xf32>)
      -> (tensor<0x0x2x4xf32>, tensor<0x2x4x4xf32>)
  return %o : tensor<0x0x2x4xf32>
}
