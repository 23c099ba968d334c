// RUN: linrec-opt %s --split-input-file --verify-diagnostics

func.func @mismatched_heads(%q: tensor<2x16x4x8xf32>, %k: tensor<2x16x3x8xf32>) {
  // expected-error @+1 {{input #1 has H = 3 but an earlier input has H = 4}}
  %o, %s = linrec.recurrence ins(%q, %k : tensor<2x16x4x8xf32>, tensor<2x16x3x8xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %kt: vector<8xf32>):
    %S1 = linrec.write %S, %kt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @mismatched_tokens(%q: tensor<2x16x4x8xf32>, %g: tensor<2x15x4xf32>) {
  // expected-error @+1 {{input #1 has T = 15 but an earlier input has T = 16}}
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x16x4x8xf32>, tensor<2x15x4xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %gt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<8x8xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S2, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S2 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @integer_input(%q: tensor<2x16x4x8xi32>) {
  // expected-error @+1 {{input #0 must have a float element type, got 'i32'}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xi32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @gate_of_no_decay_form(%q: tensor<2x16x4x8xf32>, %g: tensor<2x16xf32>) {
  // expected-error @+1 {{input #1 must be [B, T, H] or [B, T, H, D], got 'tensor<2x16xf32>'}}
  %s = linrec.recurrence ins(%q, %g : tensor<2x16x4x8xf32>, tensor<2x16xf32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %gt: f32):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @vector_decay_without_axis(%S: !linrec.state<8x4xf32>, %g: vector<8xf32>) {
  // expected-error @+1 {{a vector log-decay needs an axis}}
  %0 = linrec.decay %S, %g : !linrec.state<8x4xf32>, vector<8xf32>
  return
}

// -----

func.func @key_decay_size(%S: !linrec.state<8x4xf32>, %g: vector<4xf32>) {
  // expected-error @+1 {{key log-decay has 4 elements but the state has dk = 8}}
  %0 = linrec.decay %S, %g along <key> : !linrec.state<8x4xf32>, vector<4xf32>
  return
}

// -----

func.func @value_decay_size(%S: !linrec.state<8x4xf32>, %g: vector<8xf32>) {
  // expected-error @+1 {{value log-decay has 8 elements but the state has dv = 4}}
  %0 = linrec.decay %S, %g along <value> : !linrec.state<8x4xf32>, vector<8xf32>
  return
}

// -----

func.func @value_decay_of_normalizer(%z: !linrec.state<8xf32>, %g: vector<8xf32>) {
  // expected-error @+1 {{a normalizer state has no value dim to decay}}
  %0 = linrec.decay %z, %g along <value> : !linrec.state<8xf32>, vector<8xf32>
  return
}

// -----

func.func @scalar_decay_with_axis(%S: !linrec.state<8x4xf32>, %g: f32) {
  // expected-error @+1 {{a scalar log-decay scales the whole state and takes no axis}}
  %0 = linrec.decay %S, %g along <key> : !linrec.state<8x4xf32>, f32
  return
}

// -----

func.func @delta_key_size(%S: !linrec.state<8x4xf32>, %k: vector<4xf32>, %b: f32) {
  // expected-error @+1 {{key has 4 elements but the state has dk = 8}}
  %0 = linrec.delta %S, %k, %b : !linrec.state<8x4xf32>, vector<4xf32>
  return
}

// -----

func.func @delta_on_normalizer(%z: !linrec.state<8xf32>, %k: vector<8xf32>, %b: f32) {
  // expected-error @+1 {{the delta rule applies to a dk x dv matrix state}}
  %0 = linrec.delta %z, %k, %b : !linrec.state<8xf32>, vector<8xf32>
  return
}

// -----

func.func @write_value_size(%S: !linrec.state<8x4xf32>, %k: vector<8xf32>, %v: vector<8xf32>) {
  // expected-error @+1 {{value has 8 elements but the state has dv = 4}}
  %0 = linrec.write %S, %k, %v : !linrec.state<8x4xf32>, vector<8xf32>, vector<8xf32>
  return
}

// -----

func.func @write_without_value(%S: !linrec.state<8x4xf32>, %k: vector<8xf32>) {
  // expected-error @+1 {{a write to a matrix state needs a value vector}}
  %0 = linrec.write %S, %k : !linrec.state<8x4xf32>, vector<8xf32>
  return
}

// -----

func.func @normalizer_write_with_value(%z: !linrec.state<8xf32>, %k: vector<8xf32>) {
  // expected-error @+1 {{a write to a normalizer state takes no value vector}}
  %0 = linrec.write %z, %k, %k : !linrec.state<8xf32>, vector<8xf32>, vector<8xf32>
  return
}

// -----

func.func @read_query_size(%S: !linrec.state<8x4xf32>, %q: vector<4xf32>) {
  // expected-error @+1 {{query has 4 elements but the state has dk = 8}}
  %0 = linrec.read %S, %q : !linrec.state<8x4xf32>, vector<4xf32> -> vector<4xf32>
  return
}

// -----

func.func @read_result_type(%S: !linrec.state<8x4xf32>, %q: vector<8xf32>) {
  // expected-error @+1 {{reading a 8x4 state gives vector<4xf32>, not 'vector<8xf32>'}}
  %0 = linrec.read %S, %q : !linrec.state<8x4xf32>, vector<8xf32> -> vector<8xf32>
  return
}

// -----

func.func @transposed_read_query_size(%S: !linrec.state<8x4xf32>, %u: vector<8xf32>) {
  // expected-error @+1 {{transposed query has 8 elements but the state has dv = 4}}
  %0 = linrec.read %S, %u transposed : !linrec.state<8x4xf32>, vector<8xf32> -> vector<8xf32>
  return
}

// -----

func.func @transposed_read_result_type(%S: !linrec.state<8x4xf32>, %u: vector<4xf32>) {
  // expected-error @+1 {{reading a 8x4 state transposed gives vector<8xf32>, not 'vector<4xf32>'}}
  %0 = linrec.read %S, %u transposed : !linrec.state<8x4xf32>, vector<4xf32> -> vector<4xf32>
  return
}

// -----

func.func @transposed_read_normalizer(%z: !linrec.state<8xf32>, %u: vector<1xf32>) {
  // expected-error @+1 {{transposed reads a matrix state only}}
  %0 = linrec.read %z, %u transposed : !linrec.state<8xf32>, vector<1xf32> -> vector<8xf32>
  return
}

// -----

func.func @transposed_read_block_start(%S: !linrec.state<8x4xf32>, %u: vector<4xf32>) {
  // expected-error @+1 {{a transposed read takes no block_start}}
  %0 = linrec.read %S, %u block_start 4 transposed : !linrec.state<8x4xf32>, vector<4xf32> -> vector<8xf32>
  return
}

// -----

func.func @softmax_of_scalar(%x: f32) {
  // expected-error @+1 {{softmax is taken over the head dim and needs a vector}}
  %0 = linrec.feature_map <softmax> %x : f32
  return
}

// -----

// expected-error @+1 {{a state is a dk x dv matrix or a dk normalizer, got rank 3}}
func.func @rank3_state(%S: !linrec.state<2x8x4xf32>) {
  return
}

// -----

func.func @yield_wrong_state_type(%q: tensor<2x16x4x8xf32>) {
  %a, %b = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>)
      -> (tensor<2x4x8x8xf32>, tensor<2x4x8x4xf32>) {
  ^bb0(%A: !linrec.state<8x8xf32>, %B: !linrec.state<8x4xf32>, %qt: vector<8xf32>):
    // expected-error @+1 {{state #0 has type '!linrec.state<8x4xf32>' but the body argument has type '!linrec.state<8x8xf32>'}}
    linrec.yield states(%B, %A : !linrec.state<8x4xf32>, !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @yield_state_of_another_chain(%q: tensor<2x16x4x8xf32>) {
  %a, %b = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>)
      -> (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%A: !linrec.state<8x8xf32>, %B: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    // expected-error @+1 {{state #0 does not derive from body argument #0}}
    linrec.yield states(%B, %A : !linrec.state<8x8xf32>, !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @read_between_delta_and_write(%q: tensor<2x16x4x8xf32>, %b: tensor<2x16x4xf32>) {
  %o, %s = linrec.recurrence ins(%q, %b : tensor<2x16x4x8xf32>, tensor<2x16x4xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %bt: f32):
    %S1 = linrec.delta %S, %qt, %bt : !linrec.state<8x8xf32>, vector<8xf32>
    // expected-error @+1 {{reads state #0 in the middle of its update in this step}}
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    %S2 = linrec.write %S1, %qt, %qt scaled %bt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    linrec.yield states(%S2 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @read_before_a_decay(%q: tensor<2x16x4x8xf32>, %g: tensor<2x16x4xf32>) {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<2x16x4x8xf32>, tensor<2x16x4xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %gt: f32):
    // expected-error @+1 {{reads state #0 in the middle of its update in this step}}
    %o = linrec.read %S, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    %S1 = linrec.decay %S, %gt : !linrec.state<8x8xf32>, f32
    %S2 = linrec.write %S1, %qt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    linrec.yield states(%S2 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @body_argument_type(%q: tensor<2x16x4x8xf32>, %g: tensor<2x16x4xf32>) {
  // expected-error @+1 {{body argument for input #1 must be 'f32', got 'vector<8xf32>'}}
  %s = linrec.recurrence ins(%q, %g : tensor<2x16x4x8xf32>, tensor<2x16x4xf32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %gt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @argument_count(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{body has 1 arguments, expected 2 (1 states, 1 inputs, 0 params)}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @no_state(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{body must yield at least one state}}
  %o = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x16x4x8xf32>) {
  ^bb0(%qt: vector<8xf32>):
    linrec.yield outputs(%qt : vector<8xf32>)
  }
  return
}

// -----

func.func @final_state_dims(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{'final state #0' must be [B, H, dk, dv] = [2, 4, 8, 8], got 'tensor<2x4x8x4xf32>'}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x4x8x4xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @output_dims(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{'output #0' must be [B, T, H, D] = [2, 16, 4, 8], got 'tensor<2x16x4x4xf32>'}}
  %o, %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>)
      -> (tensor<2x16x4x4xf32>, tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @result_count(%q: tensor<2x16x4x8xf32>) {
  // expected-error @+1 {{has 1 results, expected 1 outputs and 1 final states}}
  %o = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x16x4x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o = linrec.read %S1, %qt : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o : vector<8xf32>)
  }
  return
}

// -----

func.func @init_dims(%q: tensor<2x16x4x8xf32>, %s0: tensor<2x4x8x4xf32>) {
  // expected-error @+1 {{'init #0' must be [B, H, dk, dv] = [2, 4, 8, 8], got 'tensor<2x4x8x4xf32>'}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) init(%s0 : tensor<2x4x8x4xf32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @too_many_inits(%q: tensor<2x16x4x8xf32>, %s0: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{has 2 initial states for 1 states}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>)
      init(%s0, %s0 : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @param_heads(%q: tensor<2x16x4x8xf32>, %ld: tensor<3xf32>) {
  // expected-error @+1 {{param #0 must be [H, ...] with H = 4, got 'tensor<3xf32>'}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) params(%ld : tensor<3xf32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>, %l: f32):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @varlen_batch(%q: tensor<2x16x4x8xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with cu_seqlens the inputs are packed as [1, total_T, H, D], got B = 2}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) cu_seqlens(%cu : tensor<3xi32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @varlen_state_rows(%q: tensor<1x16x4x8xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'final state #0' must be [N, H, dk, dv] = [2, 4, 8, 8], got 'tensor<1x4x8x8xf32>'}}
  %s = linrec.recurrence ins(%q : tensor<1x16x4x8xf32>) cu_seqlens(%cu : tensor<3xi32>)
      -> (tensor<1x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @state_pool_without_init(%q: tensor<2x1x4x8xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{with state_indices every state needs an initial state (its pool): got 0 for 1 states}}
  %s = linrec.recurrence ins(%q : tensor<2x1x4x8xf32>) state_indices(%slots : tensor<2xi32>)
      -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @state_pool_index_count(%q: tensor<2x1x4x8xf32>, %pool: tensor<6x4x8x8xf32>,
                                  %slots: tensor<3xi32>) {
  // expected-error @+1 {{needs one state index per sequence (2), got 3}}
  %s = linrec.recurrence ins(%q : tensor<2x1x4x8xf32>) init(%pool : tensor<6x4x8x8xf32>)
      state_indices(%slots : tensor<3xi32>) -> (tensor<6x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @state_pool_final(%q: tensor<2x1x4x8xf32>, %pool: tensor<6x4x8x8xf32>,
                            %slots: tensor<2xi32>) {
  // expected-error @+1 {{'final state #0' must be [P, H, dk, dv] = [6, 4, 8, 8], got 'tensor<2x4x8x8xf32>'}}
  %s = linrec.recurrence ins(%q : tensor<2x1x4x8xf32>) init(%pool : tensor<6x4x8x8xf32>)
      state_indices(%slots : tensor<2xi32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @op_not_allowed(%q: tensor<2x16x4x8xf32>) {
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    // expected-error @+1 {{is not allowed in a linrec.recurrence body}}
    %e = tensor.empty() : tensor<8xf32>
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

// One element of a wider vector: only a one-element vector's (a reduction over a head dim of
// 1, canonicalized) is a body op.
func.func @extract_from_wide_vector(%q: tensor<2x16x4x8xf32>) {
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    // expected-error @+1 {{is not allowed in a linrec.recurrence body (allowed: linrec state and feature ops, arith, math, vector.broadcast, vector.reduction, vector.shuffle, vector.extract of a one-element vector)}}
    %e = vector.extract %qt[0] : f32 from vector<8xf32>
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @no_inputs(%s0: tensor<2x4x8x8xf32>) {
  // expected-error @+1 {{needs at least one per-token input}}
  %s = linrec.recurrence init(%s0 : tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @dynamic_head_dim(%q: tensor<2x16x4x?xf32>) {
  // expected-error @+1 {{input #0 must have a static head dim}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x?xf32>) -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %qt: vector<8xf32>):
    linrec.yield states(%S : !linrec.state<8x8xf32>)
  }
  return
}

// -----

func.func @hedgehog_map_size(%u: tensor<1x16x2x8xf32>) {
  %o, %s = linrec.recurrence ins(%u : tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %ut: vector<8xf32>):
    // expected-error @+1 {{maps 8 features to 16, got a result of 8}}
    %k = linrec.hedgehog_map <softmax> %ut : vector<8xf32> -> vector<8xf32>
    %S1 = linrec.write %S, %k, %ut : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    %o1 = linrec.read %S1, %k : !linrec.state<8x8xf32>, vector<8xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>) outputs(%o1 : vector<8xf32>)
  }
  return
}

// -----

func.func @hedgehog_map_kind(%u: tensor<1x16x2x8xf32>) {
  %o, %s = linrec.recurrence ins(%u : tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %ut: vector<8xf32>):
    // expected-error @+1 {{takes <softmax> or <exp>, got <relu>}}
    %k = linrec.hedgehog_map <relu> %ut : vector<8xf32> -> vector<16xf32>
    %S1 = linrec.write %S, %k, %ut : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %o1 = linrec.read %S1, %k : !linrec.state<16x8xf32>, vector<16xf32> -> vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<16x8xf32>) outputs(%o1 : vector<8xf32>)
  }
  return
}

// -----

func.func @window_denominator(%q: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x4xf32>) {
  // expected-error @+1 {{returns only o unless the weighting is shifted_exp}}
  %n, %d = linrec.window_attention %q, %q, %v window <block> size 16 weighting <relu>
      : (tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x4xf32>) -> (tensor<1x32x2x4xf32>, tensor<1x32x2xf32>)
  return
}

// -----

func.func @window_size(%q: tensor<1x32x2x8xf32>, %v: tensor<1x32x2x4xf32>) {
  // expected-error @+1 {{window size must be positive, got 0}}
  %o = linrec.window_attention %q, %q, %v window <block> size 0 weighting <relu>
      : (tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x32x2x4xf32>) -> tensor<1x32x2x4xf32>
  return
}

// -----

func.func @window_value_shape(%q: tensor<1x32x2x8xf32>, %v: tensor<1x16x2x4xf32>) {
  // expected-error @+1 {{'v' must be [B, T, H, dv] = [1, 32, 2, 4], got 'tensor<1x16x2x4xf32>'}}
  %o = linrec.window_attention %q, %q, %v window <block> size 4 weighting <relu>
      : (tensor<1x32x2x8xf32>, tensor<1x32x2x8xf32>, tensor<1x16x2x4xf32>) -> tensor<1x32x2x4xf32>
  return
}

// -----

func.func @polynomial_map_size(%u: tensor<1x16x2x4xf32>) {
  %o, %s = linrec.recurrence ins(%u : tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x16x4xf32>) {
  ^bb0(%S: !linrec.state<16x4xf32>, %ut: vector<4xf32>):
    // expected-error @+1 {{maps 4 features to 21 at degree 2, got a result of 16}}
    %k = linrec.polynomial_map %ut degree 2 : vector<4xf32> -> vector<16xf32>
    %S1 = linrec.write %S, %k, %ut : !linrec.state<16x4xf32>, vector<16xf32>, vector<4xf32>
    %o1 = linrec.read %S1, %k : !linrec.state<16x4xf32>, vector<16xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<16x4xf32>) outputs(%o1 : vector<4xf32>)
  }
  return
}

// -----

func.func @read_product_stale(%u: tensor<1x16x2x4xf32>) {
  %o, %s1, %s2 = linrec.recurrence ins(%u : tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %ut: vector<4xf32>):
    %A = linrec.write %S1, %ut, %ut : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %C = linrec.write %S2, %ut, %ut : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{reads state #1 in the middle of its update in this step}}
    %o1 = linrec.read_product %A, %S2, %ut : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A, %C : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%o1 : vector<4xf32>)
  }
  return
}

// -----

func.func @hadamard_factor_not_an_argument(%u: tensor<1x16x2x4xf32>) {
  %o, %s1, %s2 = linrec.recurrence ins(%u : tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x4xf32>, %ut: vector<4xf32>):
    %A = linrec.write %S1, %ut, %ut : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{factor must be a state argument of the enclosing linrec.recurrence}}
    %G = linrec.write_hadamard %S2, %ut, %ut times %A : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32> times !linrec.state<4x4xf32>
    %o1 = linrec.read %G, %ut : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%A, %G : !linrec.state<4x4xf32>, !linrec.state<4x4xf32>) outputs(%o1 : vector<4xf32>)
  }
  return
}

// -----

func.func @hadamard_factor_shape(%u: tensor<1x16x2x4xf32>) {
  %o, %s1, %s2 = linrec.recurrence ins(%u : tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x2xf32>) {
  ^bb0(%S1: !linrec.state<4x4xf32>, %S2: !linrec.state<4x2xf32>, %ut: vector<4xf32>):
    // expected-error @+1 {{factor '!linrec.state<4x2xf32>' has another shape than the state '!linrec.state<4x4xf32>'}}
    %G = linrec.write_hadamard %S1, %ut, %ut times %S2 : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32> times !linrec.state<4x2xf32>
    %o1 = linrec.read %G, %ut : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%G, %S2 : !linrec.state<4x4xf32>, !linrec.state<4x2xf32>) outputs(%o1 : vector<4xf32>)
  }
  return
}

// -----

func.func @hadamard_normalizer_value(%u: tensor<1x16x2x4xf32>) {
  %o, %s1 = linrec.recurrence ins(%u : tensor<1x16x2x4xf32>)
      -> (tensor<1x16x2xf32>, tensor<1x2x4xf32>) {
  ^bb0(%z: !linrec.state<4xf32>, %ut: vector<4xf32>):
    // expected-error @+1 {{a Hadamard write to a normalizer state takes no value vector}}
    %z1 = linrec.write_hadamard %z, %ut, %ut times %z : !linrec.state<4xf32>, vector<4xf32>, vector<4xf32> times !linrec.state<4xf32>
    %o1 = linrec.read %z1, %ut : !linrec.state<4xf32>, vector<4xf32> -> f32
    linrec.yield states(%z1 : !linrec.state<4xf32>) outputs(%o1 : f32)
  }
  return
}

// -----

func.func @empty_window_read(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>) {
  ^bb0(%qt: vector<4xf32>):
    // expected-error @+1 {{window size must be at least 1, got 0}}
    %w = linrec.window_read %qt, %qt, %qt size 0 scale 1.0 : vector<4xf32>, vector<4xf32>
    linrec.yield outputs(%w : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @empty_read_block(%q: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    // expected-error @+1 {{block_start must be at least 1, got 0}}
    %r = linrec.read %S1, %qt block_start 0 : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%r : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @window_read_key_dims(%q: tensor<1x8x2x4xf32>, %k: tensor<1x8x2x8xf32>) -> tensor<1x8x2x4xf32> {
  %o = linrec.recurrence ins(%q, %k : tensor<1x8x2x4xf32>, tensor<1x8x2x8xf32>) -> (tensor<1x8x2x4xf32>) {
  ^bb0(%qt: vector<4xf32>, %kt: vector<8xf32>):
    // expected-error @+1 {{all of {query, key} have same type}}
    %w = "linrec.window_read"(%qt, %kt, %qt) {size = 4 : i64, scale = 1.0 : f64} : (vector<4xf32>, vector<8xf32>, vector<4xf32>) -> vector<4xf32>
    linrec.yield outputs(%w : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

func.func @delays_per_input(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{has 2 delays for 1 inputs}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {delays = array<i64: 0, 3>} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @negative_delay(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{delays must not be negative}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) {delays = array<i64: -1>} -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @project_rows(%q: tensor<1x8x2x4xf32>, %w: tensor<2x8x4xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) params(%w : tensor<2x8x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %wt: vector<8x4xf32>):
    // expected-error @+1 {{input has 4 elements but the weight has 8 rows}}
    %u = linrec.project %x, %wt : vector<4xf32>, vector<8x4xf32> -> vector<4xf32>
    %S1 = linrec.write %S, %u, %u : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @matrix_param_elsewhere(%q: tensor<1x8x2x4xf32>, %w: tensor<2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{param #0 is a per-head matrix: only linrec.project may use it, as its weight}}
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) params(%w : tensor<2x4x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %wt: vector<4x4xf32>):
    %y = vector.extract %wt[0] : vector<4xf32> from vector<4x4xf32>
    %S1 = linrec.write %S, %y, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @project_weight_not_a_param(%q: tensor<1x8x2x4xf32>) -> tensor<1x2x4x4xf32> {
  %s = linrec.recurrence ins(%q : tensor<1x8x2x4xf32>) -> (tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>):
    %w = arith.constant dense<1.0> : vector<4x4xf32>
    // expected-error @+1 {{weight must be the body argument of a [H, D, F] param of the enclosing linrec.recurrence}}
    %u = linrec.project %x, %w : vector<4xf32>, vector<4x4xf32> -> vector<4xf32>
    %S1 = linrec.write %S, %u, %u : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    linrec.yield states(%S1 : !linrec.state<4x4xf32>)
  }
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @heads_norm_rank(%x: tensor<2x16x32xf32>) -> tensor<2x16x32xf32> {
  // expected-error @+1 {{takes a [B, T, H, D] f32 tensor, got 'tensor<2x16x32xf32>'}}
  %n = linrec.heads_rms_norm %x {eps = 1.0e-08 : f64} : tensor<2x16x32xf32>
  return %n : tensor<2x16x32xf32>
}

// -----

func.func @heads_norm_without_output(%q: tensor<2x16x4x8xf32>) -> tensor<2x4x8x8xf32> {
  // expected-error @+1 {{heads_norm_eps normalizes output #0, which must be a [B, T, H, D] tensor of vectors}}
  %s = linrec.recurrence ins(%q : tensor<2x16x4x8xf32>) {heads_norm_eps = 1.0e-06 : f64} -> (tensor<2x4x8x8xf32>) {
  ^bb0(%S: !linrec.state<8x8xf32>, %x: vector<8xf32>):
    %S1 = linrec.write %S, %x, %x : !linrec.state<8x8xf32>, vector<8xf32>, vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<8x8xf32>)
  }
  return %s : tensor<2x4x8x8xf32>
}

// -----

func.func @reverse_window(%q: tensor<1x8x1x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x1x16x16xf32>) {
  %o, %s = linrec.recurrence ins(%q : tensor<1x8x1x16xf32>) {reverse}
      -> (tensor<1x8x1x16xf32>, tensor<1x1x16x16xf32>) {
  ^bb0(%S: !linrec.state<16x16xf32>, %qt: vector<16xf32>):
    %S1 = linrec.write %S, %qt, %qt : !linrec.state<16x16xf32>, vector<16xf32>, vector<16xf32>
    %ot = linrec.read %S1, %qt block_start 4 : !linrec.state<16x16xf32>, vector<16xf32> -> vector<16xf32>
    // expected-error @+1 {{is defined for forward recurrences only, not in a reverse one}}
    %w = linrec.window_read %qt, %qt, %qt size 4 scale 0.25 : vector<16xf32>, vector<16xf32>
    %sum = arith.addf %ot, %w : vector<16xf32>
    linrec.yield states(%S1 : !linrec.state<16x16xf32>) outputs(%sum : vector<16xf32>)
  }
  return %o, %s : tensor<1x8x1x16xf32>, tensor<1x1x16x16xf32>
}
