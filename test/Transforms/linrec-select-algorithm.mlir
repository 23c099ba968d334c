// RUN: linrec-opt %s --split-input-file --linrec-select-algorithm | FileCheck %s --check-prefix=NONE
// RUN: linrec-opt %s --split-input-file --linrec-select-algorithm="sequential" | FileCheck %s --check-prefix=SEQ
// RUN: linrec-opt %s --split-input-file --linrec-select-algorithm="chunked-products" | FileCheck %s --check-prefix=PROD

// A chunkable recurrence: marked only when the scan is asked for; the chunked product form
// does not apply to it.
// NONE-LABEL: func.func @gla
// NONE-NOT: algorithm
// SEQ-LABEL: func.func @gla
// SEQ: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<sequential>
// PROD-LABEL: func.func @gla
// PROD-NOT: algorithm
func.func @gla(%q: tensor<1x8x2x4xf32>, %g: tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32> {
  %o, %s = linrec.recurrence ins(%q, %g : tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>)
      -> (tensor<1x8x2x4xf32>, tensor<1x2x4x4xf32>) {
  ^bb0(%S: !linrec.state<4x4xf32>, %x: vector<4xf32>, %gt: vector<4xf32>):
    %S1 = linrec.decay %S, %gt along <key> : !linrec.state<4x4xf32>, vector<4xf32>
    %S2 = linrec.write %S1, %x, %x : !linrec.state<4x4xf32>, vector<4xf32>, vector<4xf32>
    %o = linrec.read %S2, %x : !linrec.state<4x4xf32>, vector<4xf32> -> vector<4xf32>
    linrec.yield states(%S2 : !linrec.state<4x4xf32>) outputs(%o : vector<4xf32>)
  }
  return %o : tensor<1x8x2x4xf32>
}

// -----

// A read of a product of two plainly written states (tensor attention): the chunked product
// form on request; `sequential` wins over it.
// NONE-LABEL: func.func @product
// NONE-NOT: algorithm
// SEQ-LABEL: func.func @product
// SEQ: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<sequential>
// PROD-LABEL: func.func @product
// PROD: linrec.recurrence {{.*}}algorithm = #linrec.algorithm<chunked_product>
func.func @product(%q: tensor<1x8x2x4xf32>, %v: tensor<1x8x2x8xf32>) -> tensor<1x8x2x8xf32> {
  %o, %s1, %s2 = linrec.recurrence ins(%q, %v : tensor<1x8x2x4xf32>, tensor<1x8x2x8xf32>)
      -> (tensor<1x8x2x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  ^bb0(%S1: !linrec.state<4x8xf32>, %S2: !linrec.state<4x8xf32>, %x: vector<4xf32>, %y: vector<8xf32>):
    %A = linrec.write %S1, %x, %y : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %B = linrec.write %S2, %x, %y : !linrec.state<4x8xf32>, vector<4xf32>, vector<8xf32>
    %o = linrec.read_product %A, %B, %x : !linrec.state<4x8xf32>, vector<4xf32> -> vector<8xf32>
    linrec.yield states(%A, %B : !linrec.state<4x8xf32>, !linrec.state<4x8xf32>) outputs(%o : vector<8xf32>)
  }
  return %o : tensor<1x8x2x8xf32>
}
