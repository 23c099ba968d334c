// RUN: linrec-opt %s --split-input-file --verify-diagnostics

func.func @gate_rank(%q: tensor<2x16x4x8xf32>, %g: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{'gate' must be [B, T, H] = [2, 16, 4], got 'tensor<2x16x4x8xf32>'}}
  %o, %s = linrec.simple_gla %q, %q, %q gate(%g)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @key_gate_size(%q: tensor<2x16x4x8xf32>, %v: tensor<2x16x4x4xf32>) {
  // expected-error @+1 {{'gate' must be [B, T, H, dk] = [2, 16, 4, 8], got 'tensor<2x16x4x4xf32>'}}
  %o, %s = linrec.gla %q, %q, %v gate(%v)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4x4xf32>)
      -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>)
  return
}

// -----

func.func @value_gate_size(%q: tensor<2x16x4x8xf32>, %v: tensor<2x16x4x4xf32>) {
  // expected-error @+1 {{'value_gate' must be [B, T, H, dv] = [2, 16, 4, 4], got 'tensor<2x16x4x8xf32>'}}
  %o, %s = linrec.gla %q, %q, %v gate(%q) value_gate(%q)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4x8xf32>,
         tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>)
  return
}

// -----

func.func @key_dim(%q: tensor<2x16x4x8xf32>, %k: tensor<2x16x4x16xf32>) {
  // expected-error @+1 {{'k' must be [B, T, H, dk] = [2, 16, 4, 8], got 'tensor<2x16x4x16xf32>'}}
  %o, %s = linrec.linear_attention %q, %k, %q
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x16xf32>, tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @batch_mismatch(%q: tensor<2x16x4x8xf32>, %v: tensor<3x16x4x8xf32>) {
  // expected-error @+1 {{'v' must be [B, T, H, dv] = [2, 16, 4, 8], got 'tensor<3x16x4x8xf32>'}}
  %o, %s = linrec.linear_attention %q, %q, %v
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<3x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @state_value_dim(%q: tensor<2x16x4x8xf32>, %v: tensor<2x16x4x4xf32>, %b: tensor<2x16x4xf32>, %s0: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{'init' must be [B, H, dk, dv] = [2, 4, 8, 4], got 'tensor<2x4x8x8xf32>'}}
  %o, %s = linrec.deltanet %q, %q, %v beta(%b) init(%s0)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x4xf32>, tensor<2x16x4xf32>,
         tensor<2x4x8x8xf32>)
      -> (tensor<2x16x4x4xf32>, tensor<2x4x8x4xf32>)
  return
}

// -----

func.func @beta_rank(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{'beta' must be [B, T, H] = [2, 16, 4], got 'tensor<2x16x4x8xf32>'}}
  %o, %s = linrec.deltanet %q, %q, %q beta(%q)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @integer_values(%q: tensor<2x16x4x8xf32>, %v: tensor<2x16x4x8xi8>) {
  // expected-error @+1 {{'v' must have a float element type, got 'i8'}}
  %o, %s = linrec.linear_attention %q, %q, %v
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xi8>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @decay_per_head(%q: tensor<2x16x4x8xf32>, %ld: tensor<3xf32>) {
  // expected-error @+1 {{'decay' must be [H] = [4], got 'tensor<3xf32>'}}
  %o, %s = linrec.lightning %q, %q, %q decay(%ld)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<3xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @varlen_batch(%q: tensor<2x16x4x8xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with cu_seqlens the inputs are packed as [1, total_T, H, D], got B = 2}}
  %o, %s = linrec.linear_attention %q, %q, %q cu_seqlens(%cu)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<3xi32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @varlen_states(%q: tensor<1x16x4x8xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'final_state' must be [N, H, dk, dv] = [2, 4, 8, 8], got 'tensor<1x4x8x8xf32>'}}
  %o, %s = linrec.linear_attention %q, %q, %q cu_seqlens(%cu)
      : (tensor<1x16x4x8xf32>, tensor<1x16x4x8xf32>, tensor<1x16x4x8xf32>, tensor<3xi32>)
      -> (tensor<1x16x4x8xf32>, tensor<1x4x8x8xf32>)
  return
}

// -----

func.func @state_pool_without_init(%q: tensor<2x1x4x8xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{with state_indices every state needs an initial state (its pool)}}
  %o, %s = linrec.linear_attention %q, %q, %q state_indices(%slots)
      : (tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<2xi32>)
      -> (tensor<2x1x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @state_pool_final(%q: tensor<2x1x4x8xf32>, %pool: tensor<5x4x8x8xf32>,
                            %slots: tensor<2xi32>) {
  // expected-error @+1 {{'final_state' must be [P, H, dk, dv] = [5, 4, 8, 8], got 'tensor<2x4x8x8xf32>'}}
  %o, %s = linrec.linear_attention %q, %q, %q init(%pool) state_indices(%slots)
      : (tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<5x4x8x8xf32>, tensor<2xi32>)
      -> (tensor<2x1x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @normalized_results(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{has 2 results, expected 3 (o, final_state, final_z)}}
  %o, %s = linrec.linear_attention %q, %q, %q {normalize}
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @init_z_needs_normalize(%q: tensor<2x16x4x8xf32>, %z0: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'init_z' needs the `normalize` attribute}}
  %o, %s = linrec.linear_attention %q, %q, %q init_z(%z0)
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @misspelled_option(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{has unknown attribute 'featureMap'}}
  %o, %s = linrec.linear_attention %q, %q, %q {featureMap = #linrec.feature_map<elu>}
      : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>, tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>)
  return
}

// -----

func.func @dynamic_head_dim(%q: tensor<2x16x4x?xf32>) {
  // expected-error @+1 {{head dims (dk, dv) must be static}}
  %o, %s = linrec.linear_attention %q, %q, %q
      : (tensor<2x16x4x?xf32>, tensor<2x16x4x?xf32>, tensor<2x16x4x?xf32>)
      -> (tensor<2x16x4x?xf32>, tensor<2x4x?x?xf32>)
  return
}

// -----

func.func @liger_gate_size(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>) {
  // expected-error @+1 {{'gate_raw' must be [B, T, H, dk] = [1, 16, 2, 8], got 'tensor<1x16x2x4xf32>'}}
  %o, %s = linrec.liger_gla %q, %q, %v gate_raw(%v)
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return
}

// -----

func.func @liger_gate_normalizer(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>) {
  // expected-error @+1 {{'gate_normalizer' must be positive, got 0}}
  %o, %s = linrec.liger_gla %q, %q, %v gate_raw(%q) {gate_normalizer = 0.0 : f64}
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return
}
