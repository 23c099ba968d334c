// A hybrid written directly in the DSL, with the three ops that make LoLCATs one kernel:
//   - linrec.project: per-head feature projections u = xᵀW[h] (W a [H, D, F] param),
//   - delays: k and v enter the state 64 tokens late, when they leave the window,
//   - linrec.window_read <shifted_exp>: a softmax window of the last 64 keys, unnormalized,
//     with its denominator, sharing one denominator with the linear term:
//   o_t = (Σ_{window} e^{s − m} v + S_{t−64}ᵀ φ(q)) / (Σ_{window} e^{s − m} + z_{t−64}ᵀ φ(q)),
//   φ = relu of the projection (φ(0) = 0: the zero rows of the first 64 tokens write nothing).
// The CPU chunked kernel computes all of it from the chunk's tiles.
func.func @hybrid(
    %q: tensor<1x256x4x64xf32> {linrec.name = "q"}, %k: tensor<1x256x4x64xf32> {linrec.name = "k"},
    %v: tensor<1x256x4x64xf32> {linrec.name = "v"},
    %wq: tensor<4x64x32xf32> {linrec.name = "Wq"}, %wk: tensor<4x64x32xf32> {linrec.name = "Wk"})
    -> (tensor<1x256x4x64xf32> {linrec.name = "o"}) {
  %o, %sT, %zT = linrec.recurrence
      ins(%q, %k, %v, %k, %v : tensor<1x256x4x64xf32>, tensor<1x256x4x64xf32>,
          tensor<1x256x4x64xf32>, tensor<1x256x4x64xf32>, tensor<1x256x4x64xf32>)
      params(%wq, %wk : tensor<4x64x32xf32>, tensor<4x64x32xf32>)
      {delays = array<i64: 0, 0, 0, 64, 64>}
      -> (tensor<1x256x4x64xf32>, tensor<1x4x32x64xf32>, tensor<1x4x32xf32>) {
  ^bb0(%S: !linrec.state<32x64xf32>, %z: !linrec.state<32xf32>, %qt: vector<64xf32>,
       %kt: vector<64xf32>, %vt: vector<64xf32>, %kd: vector<64xf32>, %vd: vector<64xf32>,
       %wqt: vector<64x32xf32>, %wkt: vector<64x32xf32>):
    %num_w, %den_w = linrec.window_read %qt, %kt, %vt size 64 scale 0.125 weighting <shifted_exp>
        : vector<64xf32>, vector<64xf32>, f32
    %uq = linrec.project %qt, %wqt : vector<64xf32>, vector<64x32xf32> -> vector<32xf32>
    %uk = linrec.project %kd, %wkt : vector<64xf32>, vector<64x32xf32> -> vector<32xf32>
    %fq = linrec.feature_map <relu> %uq : vector<32xf32>
    %fk = linrec.feature_map <relu> %uk : vector<32xf32>
    %S1 = linrec.write %S, %fk, %vd : !linrec.state<32x64xf32>, vector<32xf32>, vector<64xf32>
    %z1 = linrec.write %z, %fk : !linrec.state<32xf32>, vector<32xf32>
    %n = linrec.read %S1, %fq : !linrec.state<32x64xf32>, vector<32xf32> -> vector<64xf32>
    %d = linrec.read %z1, %fq : !linrec.state<32xf32>, vector<32xf32> -> f32
    %num = arith.addf %n, %num_w : vector<64xf32>
    %den = arith.addf %d, %den_w : f32
    %denv = vector.broadcast %den : f32 to vector<64xf32>
    %ot = arith.divf %num, %denv : vector<64xf32>
    linrec.yield states(%S1, %z1 : !linrec.state<32x64xf32>, !linrec.state<32xf32>)
        outputs(%ot : vector<64xf32>)
  }
  return %o : tensor<1x256x4x64xf32>
}
