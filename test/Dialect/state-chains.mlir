// RUN: linrec-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// State chains the verifier traces back to their block argument (traceStateRoot): each value
// once, iteratively. A chain that uses its own result is an error, not an endless trace (the
// op verifier runs before dominance is checked); 40 chained selects verify in linear time
// (tracing both sides of every select took 2^40 steps).

func.func @uses_its_own_result(%q: tensor<1x4x1x4xf32>, %k: tensor<1x4x1x4xf32>,
    %v: tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32> {
  %o, %sT = linrec.recurrence ins(%q, %k, %v : tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>,
      tensor<1x4x1x4xf32>) -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %S1 = linrec.write %S1, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %o = linrec.read %S1, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    // expected-error @+1 {{state #0 does not derive from body argument #0}}
    linrec.yield states(%S1 : !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}

// -----

// CHECK-LABEL: func.func @forty_chained_selects
// CHECK: linrec.select %{{.*}}, %[[S39:.*]], %[[S39]]
// CHECK: linrec.write
func.func @forty_chained_selects(%q: tensor<1x4x1x4xf32>, %k: tensor<1x4x1x4xf32>,
    %v: tensor<1x4x1x4xf32>) -> tensor<1x4x1x4xf32> {
  %o, %sT = linrec.recurrence ins(%q, %k, %v : tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>,
      tensor<1x4x1x4xf32>) -> (tensor<1x4x1x4xf32>, tensor<1x1x4x4xf32>) {
  ^bb0(%S0: !linrec.state<4x4xf32>, %qt: vector<4xf32>, %kt: vector<4xf32>, %vt: vector<4xf32>):
    %m = arith.constant true
    %S1 = linrec.select %m, %S0, %S0 : !linrec.state<4x4xf32>
    %S2 = linrec.select %m, %S1, %S1 : !linrec.state<4x4xf32>
    %S3 = linrec.select %m, %S2, %S2 : !linrec.state<4x4xf32>
    %S4 = linrec.select %m, %S3, %S3 : !linrec.state<4x4xf32>
    %S5 = linrec.select %m, %S4, %S4 : !linrec.state<4x4xf32>
    %S6 = linrec.select %m, %S5, %S5 : !linrec.state<4x4xf32>
    %S7 = linrec.select %m, %S6, %S6 : !linrec.state<4x4xf32>
    %S8 = linrec.select %m, %S7, %S7 : !linrec.state<4x4xf32>
    %S9 = linrec.select %m, %S8, %S8 : !linrec.state<4x4xf32>
    %S10 = linrec.select %m, %S9, %S9 : !linrec.state<4x4xf32>
    %S11 = linrec.select %m, %S10, %S10 : !linrec.state<4x4xf32>
    %S12 = linrec.select %m, %S11, %S11 : !linrec.state<4x4xf32>
    %S13 = linrec.select %m, %S12, %S12 : !linrec.state<4x4xf32>
    %S14 = linrec.select %m, %S13, %S13 : !linrec.state<4x4xf32>
    %S15 = linrec.select %m, %S14, %S14 : !linrec.state<4x4xf32>
    %S16 = linrec.select %m, %S15, %S15 : !linrec.state<4x4xf32>
    %S17 = linrec.select %m, %S16, %S16 : !linrec.state<4x4xf32>
    %S18 = linrec.select %m, %S17, %S17 : !linrec.state<4x4xf32>
    %S19 = linrec.select %m, %S18, %S18 : !linrec.state<4x4xf32>
    %S20 = linrec.select %m, %S19, %S19 : !linrec.state<4x4xf32>
    %S21 = linrec.select %m, %S20, %S20 : !linrec.state<4x4xf32>
    %S22 = linrec.select %m, %S21, %S21 : !linrec.state<4x4xf32>
    %S23 = linrec.select %m, %S22, %S22 : !linrec.state<4x4xf32>
    %S24 = linrec.select %m, %S23, %S23 : !linrec.state<4x4xf32>
    %S25 = linrec.select %m, %S24, %S24 : !linrec.state<4x4xf32>
    %S26 = linrec.select %m, %S25, %S25 : !linrec.state<4x4xf32>
    %S27 = linrec.select %m, %S26, %S26 : !linrec.state<4x4xf32>
    %S28 = linrec.select %m, %S27, %S27 : !linrec.state<4x4xf32>
    %S29 = linrec.select %m, %S28, %S28 : !linrec.state<4x4xf32>
    %S30 = linrec.select %m, %S29, %S29 : !linrec.state<4x4xf32>
    %S31 = linrec.select %m, %S30, %S30 : !linrec.state<4x4xf32>
    %S32 = linrec.select %m, %S31, %S31 : !linrec.state<4x4xf32>
    %S33 = linrec.select %m, %S32, %S32 : !linrec.state<4x4xf32>
    %S34 = linrec.select %m, %S33, %S33 : !linrec.state<4x4xf32>
    %S35 = linrec.select %m, %S34, %S34 : !linrec.state<4x4xf32>
    %S36 = linrec.select %m, %S35, %S35 : !linrec.state<4x4xf32>
    %S37 = linrec.select %m, %S36, %S36 : !linrec.state<4x4xf32>
    %S38 = linrec.select %m, %S37, %S37 : !linrec.state<4x4xf32>
    %S39 = linrec.select %m, %S38, %S38 : !linrec.state<4x4xf32>
    %S40 = linrec.select %m, %S39, %S39 : !linrec.state<4x4xf32>
    %W = linrec.write %S40, %kt, %vt : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %o = linrec.read %W, %qt : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%W : !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o : tensor<1x4x1x4xf32>
}
