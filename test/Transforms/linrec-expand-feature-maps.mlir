// RUN: linrec-opt %s --split-input-file --linrec-expand-feature-maps | FileCheck %s

// CHECK-LABEL: func.func @softmax
// CHECK: %[[MAX:.*]] = vector.reduction <maximumf>, %[[X:.*]] : vector<8xf32> into f32
// CHECK: %[[B:.*]] = vector.broadcast %[[MAX]]
// CHECK: %[[S:.*]] = arith.subf %[[X]], %[[B]]
// CHECK: %[[E:.*]] = math.exp %[[S]]
// CHECK: %[[SUM:.*]] = vector.reduction <add>, %[[E]]
// CHECK: arith.divf %[[E]]
// CHECK-NOT: linrec.feature_map
func.func @softmax(%x: vector<8xf32>) -> vector<8xf32> {
  %0 = linrec.feature_map <softmax> %x : vector<8xf32>
  return %0 : vector<8xf32>
}

// -----

// logsigmoid(x) = min(x, 0) − log1p(e^{−|x|}): finite for any x.
// CHECK-LABEL: func.func @logsigmoid
// CHECK: %[[A:.*]] = math.absf %[[X:.*]] : f32
// CHECK: %[[N:.*]] = arith.negf %[[A]]
// CHECK: %[[E:.*]] = math.exp %[[N]]
// CHECK: %[[L:.*]] = math.log1p %[[E]]
// CHECK: %[[M:.*]] = arith.minimumf %[[X]]
// CHECK: arith.subf %[[M]], %[[L]]
func.func @logsigmoid(%x: f32) -> f32 {
  %0 = linrec.feature_map <logsigmoid> %x : f32
  return %0 : f32
}

// -----

// elu's e^{m} − 1, m = min(x, 0): a Taylor polynomial near 0 (no cancellation), one exp
// elsewhere; no expm1 (its polynomial approximation costs an exp and a log).
// CHECK-LABEL: func.func @elu_plus_one
// CHECK-NOT: math.expm1
// CHECK: %[[M:.*]] = arith.minimumf
// CHECK: math.fma
// CHECK: math.exp %[[M]]
// CHECK: %[[SMALL:.*]] = arith.cmpf ogt, %[[M]]
// CHECK: %[[NEGATIVE:.*]] = arith.select %[[SMALL]]
// CHECK: %[[POSITIVE:.*]] = arith.cmpf ogt
// CHECK: arith.select %[[POSITIVE]], %{{.*}}, %[[NEGATIVE]]
// CHECK: arith.addf
func.func @elu_plus_one(%x: vector<4xf32>) -> vector<4xf32> {
  %0 = linrec.feature_map <elu_plus_one> %x : vector<4xf32>
  return %0 : vector<4xf32>
}

// -----

// CHECK-LABEL: func.func @l2norm
// CHECK: %[[SQ:.*]] = arith.mulf %[[X:.*]], %[[X]]
// CHECK: %[[SUM:.*]] = vector.reduction <add>, %[[SQ]]
// CHECK: %[[R:.*]] = math.rsqrt
// CHECK: arith.mulf %[[X]]
func.func @l2norm(%x: vector<4xf32>) -> vector<4xf32> {
  %0 = linrec.l2norm %x : vector<4xf32>
  return %0 : vector<4xf32>
}

// -----

// CHECK-LABEL: func.func @others
// CHECK-NOT: linrec.feature_map
// CHECK: return
func.func @others(%x: vector<4xf32>) -> vector<4xf32> {
  %0 = linrec.feature_map <identity> %x : vector<4xf32>
  %1 = linrec.feature_map <relu> %0 : vector<4xf32>
  %2 = linrec.feature_map <elu> %1 : vector<4xf32>
  %3 = linrec.feature_map <exp> %2 : vector<4xf32>
  %4 = linrec.feature_map <sigmoid> %3 : vector<4xf32>
  %5 = linrec.feature_map <softplus> %4 : vector<4xf32>
  return %5 : vector<4xf32>
}

// -----

// Hedgehog: [e^{u}, e^{−u}], concatenated by a shuffle.
// CHECK-LABEL: func.func @hedgehog_exp
// CHECK-DAG: %[[P:.*]] = math.exp %[[U:arg0]] : vector<4xf32>
// CHECK-DAG: %[[NEG:.*]] = arith.negf %[[U]]
// CHECK-DAG: %[[M:.*]] = math.exp %[[NEG]]
// CHECK: vector.shuffle %[[P]], %[[M]] [0, 1, 2, 3, 4, 5, 6, 7] : vector<4xf32>, vector<4xf32>
// CHECK-NOT: linrec.hedgehog_map
func.func @hedgehog_exp(%u: vector<4xf32>) -> vector<8xf32> {
  %0 = linrec.hedgehog_map <exp> %u : vector<4xf32> -> vector<8xf32>
  return %0 : vector<8xf32>
}

// -----

// Degree-2 Taylor features of a 2-vector: [1, c1 x, c2 x⊗x], c1 = 1, c2 = 2^{-1/3}.
// CHECK-LABEL: func.func @polynomial
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : vector<1xf32>
// CHECK-DAG: %[[C2:.*]] = arith.constant dense<0.793700{{[0-9]*}}> : vector<4xf32>
// CHECK: %[[P1:.*]] = vector.shuffle %[[ONE]], %{{.*}} [0, 1, 2] : vector<1xf32>, vector<2xf32>
// CHECK: %[[R:.*]] = vector.shuffle %[[X:arg0]], %[[X]] [0, 0, 1, 1] : vector<2xf32>, vector<2xf32>
// CHECK: %[[T:.*]] = vector.shuffle %[[X]], %[[X]] [0, 1, 0, 1] : vector<2xf32>, vector<2xf32>
// CHECK: %[[XX:.*]] = arith.mulf %[[R]], %[[T]]
// CHECK: %[[S:.*]] = arith.mulf %[[XX]], %[[C2]]
// CHECK: vector.shuffle %[[P1]], %[[S]] [0, 1, 2, 3, 4, 5, 6] : vector<3xf32>, vector<4xf32>
func.func @polynomial(%x: vector<2xf32>) -> vector<7xf32> {
  %0 = linrec.polynomial_map %x degree 2 : vector<2xf32> -> vector<7xf32>
  return %0 : vector<7xf32>
}
