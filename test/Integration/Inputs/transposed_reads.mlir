// Recurrences that read their state along both axes (linrec.read ... transposed): the
// backward's forms. Key decays (GLA), scalar decays with an initial state, no decays with a
// read of the state before the write, and a value-axis decay (no chunked form: the CPU runs
// it through linrec-transpose-reads on the token scan). T = 100 is not a multiple of the
// chunk.

func.func @key_decays(%q: tensor<2x100x3x16xf32> {linrec.name = "q"},
                      %k: tensor<2x100x3x16xf32> {linrec.name = "k"},
                      %v: tensor<2x100x3x24xf32> {linrec.name = "v"},
                      %gk: tensor<2x100x3x16xf32> {linrec.name = "gk"})
    -> (tensor<2x100x3x24xf32> {linrec.name = "o"}, tensor<2x100x3x16xf32> {linrec.name = "p"},
        tensor<2x3x16x24xf32> {linrec.name = "final_state"}) {
  %o, %p, %s = linrec.recurrence ins(%q, %k, %v, %gk : tensor<2x100x3x16xf32>,
      tensor<2x100x3x16xf32>, tensor<2x100x3x24xf32>, tensor<2x100x3x16xf32>)
      -> (tensor<2x100x3x24xf32>, tensor<2x100x3x16xf32>, tensor<2x3x16x24xf32>) {
  ^bb0(%S: !linrec.state<16x24xf32>, %qt: vector<16xf32>, %kt: vector<16xf32>,
       %vt: vector<24xf32>, %gt: vector<16xf32>):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<16x24xf32>, vector<16xf32>
    %S2 = linrec.write %S1, %kt, %vt : !linrec.state<16x24xf32>, vector<16xf32>, vector<24xf32>
    %ot = linrec.read %S2, %qt scale 0.25 : !linrec.state<16x24xf32>, vector<16xf32> -> vector<24xf32>
    %pt = linrec.read %S2, %vt scale 0.5 transposed : !linrec.state<16x24xf32>, vector<24xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x24xf32>) outputs(%ot, %pt : vector<24xf32>, vector<16xf32>)
  }
  return %o, %p, %s : tensor<2x100x3x24xf32>, tensor<2x100x3x16xf32>, tensor<2x3x16x24xf32>
}

func.func @scalar_decays(%u: tensor<1x100x2x8xf32> {linrec.name = "u"},
                         %k: tensor<1x100x2x16xf32> {linrec.name = "k"},
                         %v: tensor<1x100x2x8xf32> {linrec.name = "v"},
                         %g: tensor<1x100x2xf32> {linrec.name = "g"},
                         %beta: tensor<1x100x2xf32> {linrec.name = "beta"},
                         %s0: tensor<1x2x16x8xf32> {linrec.name = "initial_state"})
    -> (tensor<1x100x2x16xf32> {linrec.name = "p"}, tensor<1x2x16x8xf32> {linrec.name = "final_state"}) {
  %p, %s = linrec.recurrence ins(%u, %k, %v, %g, %beta : tensor<1x100x2x8xf32>,
      tensor<1x100x2x16xf32>, tensor<1x100x2x8xf32>, tensor<1x100x2xf32>, tensor<1x100x2xf32>)
      init(%s0 : tensor<1x2x16x8xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %ut: vector<8xf32>, %kt: vector<16xf32>, %vt: vector<8xf32>,
       %gt: f32, %bt: f32):
    %S1 = linrec.decay %S, %gt : !linrec.state<16x8xf32>, f32
    %S2 = linrec.write %S1, %kt, %vt scaled %bt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %pt = linrec.read %S2, %ut transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x8xf32>) outputs(%pt : vector<16xf32>)
  }
  return %p, %s : tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>
}

func.func @before_write(%u: tensor<1x100x2x8xf32> {linrec.name = "u"},
                        %k: tensor<1x100x2x16xf32> {linrec.name = "k"},
                        %v: tensor<1x100x2x8xf32> {linrec.name = "v"})
    -> (tensor<1x100x2x16xf32> {linrec.name = "p"}, tensor<1x2x16x8xf32> {linrec.name = "final_state"}) {
  %p, %s = linrec.recurrence ins(%u, %k, %v : tensor<1x100x2x8xf32>, tensor<1x100x2x16xf32>,
      tensor<1x100x2x8xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %ut: vector<8xf32>, %kt: vector<16xf32>, %vt: vector<8xf32>):
    %pt = linrec.read %S, %ut transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    %S1 = linrec.write %S, %kt, %vt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    linrec.yield states(%S1 : !linrec.state<16x8xf32>) outputs(%pt : vector<16xf32>)
  }
  return %p, %s : tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>
}

func.func @value_decays(%u: tensor<1x100x2x8xf32> {linrec.name = "u"},
                        %k: tensor<1x100x2x16xf32> {linrec.name = "k"},
                        %v: tensor<1x100x2x8xf32> {linrec.name = "v"},
                        %gv: tensor<1x100x2x8xf32> {linrec.name = "gv"})
    -> (tensor<1x100x2x16xf32> {linrec.name = "p"}, tensor<1x2x16x8xf32> {linrec.name = "final_state"}) {
  %p, %s = linrec.recurrence ins(%u, %k, %v, %gv : tensor<1x100x2x8xf32>, tensor<1x100x2x16xf32>,
      tensor<1x100x2x8xf32>, tensor<1x100x2x8xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %ut: vector<8xf32>, %kt: vector<16xf32>, %vt: vector<8xf32>,
       %gt: vector<8xf32>):
    %S1 = linrec.decay %S, %gt along <value> : !linrec.state<16x8xf32>, vector<8xf32>
    %S2 = linrec.write %S1, %kt, %vt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %pt = linrec.read %S2, %ut transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    linrec.yield states(%S2 : !linrec.state<16x8xf32>) outputs(%pt : vector<16xf32>)
  }
  return %p, %s : tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>
}

// Key decays ten times stronger (the same log-decay applied ten times): |b| passes 60
// inside a chunk, so the transposed read's mix takes the exact sum (and the state update its
// exact factors).
func.func @strong_key_decays(%k: tensor<1x100x2x16xf32> {linrec.name = "k"},
                             %v: tensor<1x100x2x8xf32> {linrec.name = "v"},
                             %gk: tensor<1x100x2x16xf32> {linrec.name = "gk"})
    -> (tensor<1x100x2x16xf32> {linrec.name = "p"}, tensor<1x2x16x8xf32> {linrec.name = "final_state"}) {
  %p, %s = linrec.recurrence ins(%k, %v, %gk : tensor<1x100x2x16xf32>, tensor<1x100x2x8xf32>,
      tensor<1x100x2x16xf32>) -> (tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %kt: vector<16xf32>, %vt: vector<8xf32>, %gt: vector<16xf32>):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S2 = linrec.decay %S1, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S3 = linrec.decay %S2, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S4 = linrec.decay %S3, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S5 = linrec.decay %S4, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S6 = linrec.decay %S5, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S7 = linrec.decay %S6, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S8 = linrec.decay %S7, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S9 = linrec.decay %S8, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %S10 = linrec.decay %S9, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %W = linrec.write %S10, %kt, %vt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %pt = linrec.read %W, %vt transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    linrec.yield states(%W : !linrec.state<16x8xf32>) outputs(%pt : vector<16xf32>)
  }
  return %p, %s : tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>
}

// A delta rule read transposed (S u = e^{b} ⊙ S_0 u + Σ (u · U_j) e^{b_i − b_j} ⊙ k_j, U the
// solved values), with key decays, and with a write of its own key (the backward's dδ
// recurrence: the write's terms (U Xᵀ ⊙ M)(C ⊙ e^{b_i − b_j})), read before and after it.
func.func @delta_rule(%u: tensor<1x100x2x8xf32> {linrec.name = "u"},
                      %k: tensor<1x100x2x16xf32> {linrec.name = "k"},
                      %c: tensor<1x100x2x16xf32> {linrec.name = "c"},
                      %v: tensor<1x100x2x8xf32> {linrec.name = "v"},
                      %gk: tensor<1x100x2x16xf32> {linrec.name = "gk"},
                      %beta: tensor<1x100x2xf32> {linrec.name = "beta"})
    -> (tensor<1x100x2x16xf32> {linrec.name = "p"}, tensor<1x100x2x16xf32> {linrec.name = "p_before"},
        tensor<1x2x16x8xf32> {linrec.name = "final_state"}) {
  %p, %pb, %s = linrec.recurrence ins(%u, %k, %c, %v, %gk, %beta : tensor<1x100x2x8xf32>,
      tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>, tensor<1x100x2x8xf32>,
      tensor<1x100x2x16xf32>, tensor<1x100x2xf32>)
      -> (tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>) {
  ^bb0(%S: !linrec.state<16x8xf32>, %ut: vector<8xf32>, %kt: vector<16xf32>, %ct: vector<16xf32>,
       %vt: vector<8xf32>, %gt: vector<16xf32>, %bt: f32):
    %kn = linrec.l2norm %kt : vector<16xf32>
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<16x8xf32>, vector<16xf32>
    %pbt = linrec.read %S1, %ut transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    %S2 = linrec.delta %S1, %kn, %bt : !linrec.state<16x8xf32>, vector<16xf32>
    %S3 = linrec.write %S2, %ct, %vt : !linrec.state<16x8xf32>, vector<16xf32>, vector<8xf32>
    %pt = linrec.read %S3, %ut transposed : !linrec.state<16x8xf32>, vector<8xf32> -> vector<16xf32>
    linrec.yield states(%S3 : !linrec.state<16x8xf32>) outputs(%pt, %pbt : vector<16xf32>, vector<16xf32>)
  }
  return %p, %pb, %s : tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32>, tensor<1x2x16x8xf32>
}
