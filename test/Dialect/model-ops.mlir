// RUN: linrec-opt %s --split-input-file | FileCheck %s
// RUN: linrec-opt %s --split-input-file | linrec-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @linear
// CHECK: linrec.linear_attention %{{.*}}, %{{.*}}, %{{.*}} init(%{{.*}}) init_z(%{{.*}}) {eps = 1.000000e-03 : f32, feature_map = #linrec.feature_map<elu_plus_one>, normalize, scale = 5.000000e-01 : f64}
func.func @linear(%q: tensor<2x?x4x8xf32>, %v: tensor<2x?x4x16xf32>, %s0: tensor<2x4x8x16xf32>,
                  %z0: tensor<2x4x8xf32>) {
  %o, %s, %z = linrec.linear_attention %q, %q, %v init(%s0) init_z(%z0)
      {feature_map = #linrec.feature_map<elu_plus_one>, normalize, eps = 1.0e-3 : f32, scale = 0.5 : f64}
      : (tensor<2x?x4x8xf32>, tensor<2x?x4x8xf32>, tensor<2x?x4x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>)
      -> (tensor<2x?x4x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @lightning
// CHECK: linrec.lightning %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}}) :
func.func @lightning(%q: tensor<1x16x2x8xbf16>, %ld: tensor<2xf32>) {
  %o, %s = linrec.lightning %q, %q, %q decay(%ld)
      : (tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<2xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @simple_gla
// CHECK: linrec.simple_gla %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) {scale = 2.500000e-01 : f64}
func.func @simple_gla(%q: tensor<1x16x2x8xf16>, %g: tensor<1x16x2xf32>) {
  %o, %s = linrec.simple_gla %q, %q, %q gate(%g) {scale = 0.25 : f64}
      : (tensor<1x16x2x8xf16>, tensor<1x16x2x8xf16>, tensor<1x16x2x8xf16>, tensor<1x16x2xf32>)
      -> (tensor<1x16x2x8xf32>, tensor<1x2x8x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @gla
// CHECK: linrec.gla %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) value_gate(%{{.*}}) cu_seqlens(%{{.*}}) :
func.func @gla(%q: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x4xf32>, %cu: tensor<?xi32>) {
  %o, %s = linrec.gla %q, %q, %v gate(%q) value_gate(%v) cu_seqlens(%cu)
      : (tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x8xf32>,
         tensor<1x?x2x4xf32>, tensor<?xi32>)
      -> (tensor<1x?x2x4xf32>, tensor<?x2x8x4xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @deltanet
// CHECK: linrec.deltanet %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) :
func.func @deltanet(%q: tensor<?x?x2x8xf32>, %b: tensor<?x?x2xf32>) {
  %o, %s = linrec.deltanet %q, %q, %q beta(%b)
      : (tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2xf32>)
      -> (tensor<?x?x2x8xf32>, tensor<?x2x8x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @gated_deltanet
// CHECK: linrec.gated_deltanet %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) beta(%{{.*}}) init(%{{.*}}) :
func.func @gated_deltanet(%q: tensor<2x16x2x8xf32>, %g: tensor<2x16x2xf32>, %s0: tensor<2x2x8x8xf32>) {
  %o, %s = linrec.gated_deltanet %q, %q, %q gate(%g) beta(%g) init(%s0)
      : (tensor<2x16x2x8xf32>, tensor<2x16x2x8xf32>, tensor<2x16x2x8xf32>, tensor<2x16x2xf32>,
         tensor<2x16x2xf32>, tensor<2x2x8x8xf32>)
      -> (tensor<2x16x2x8xf32>, tensor<2x2x8x8xf32>)
  return
}

// -----

// The decode step of serving: 2 sequences on slots of a pool of 6 states.
// CHECK-LABEL: func.func @gated_deltanet_state_pool
// CHECK: linrec.gated_deltanet %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) beta(%{{.*}}) init(%{{.*}}) state_indices(%{{.*}}) :
func.func @gated_deltanet_state_pool(%q: tensor<2x1x2x8xf32>, %g: tensor<2x1x2xf32>,
                                     %pool: tensor<6x2x8x8xf32>, %slots: tensor<2xi32>) {
  %o, %s = linrec.gated_deltanet %q, %q, %q gate(%g) beta(%g) init(%pool) state_indices(%slots)
      : (tensor<2x1x2x8xf32>, tensor<2x1x2x8xf32>, tensor<2x1x2x8xf32>, tensor<2x1x2xf32>,
         tensor<2x1x2xf32>, tensor<6x2x8x8xf32>, tensor<2xi32>)
      -> (tensor<2x1x2x8xf32>, tensor<6x2x8x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @kda
// CHECK: linrec.kda %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) beta(%{{.*}}) :
func.func @kda(%q: tensor<2x16x2x8xf32>, %v: tensor<2x16x2x4xf32>, %b: tensor<2x16x2xf32>) {
  %o, %s = linrec.kda %q, %q, %v gate(%q) beta(%b)
      : (tensor<2x16x2x8xf32>, tensor<2x16x2x8xf32>, tensor<2x16x2x4xf32>, tensor<2x16x2x8xf32>,
         tensor<2x16x2xf32>)
      -> (tensor<2x16x2x4xf32>, tensor<2x2x8x4xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @liger_gla
// CHECK: linrec.liger_gla %{{.*}}, %{{.*}}, %{{.*}} gate_raw(%{{.*}}) {gate_normalizer = 8.000000e+00 : f64}
func.func @liger_gla(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>) {
  %o, %s = linrec.liger_gla %q, %q, %v gate_raw(%q) {gate_normalizer = 8.0 : f64}
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @liger_hgrn2
// CHECK: linrec.liger_hgrn2 %{{.*}}, %{{.*}} gate_raw(%{{.*}}) init(%{{.*}}) :
func.func @liger_hgrn2(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x2x4xf32>, %s0: tensor<1x2x8x4xf32>) {
  %o, %s = linrec.liger_hgrn2 %q, %v gate_raw(%q) init(%s0)
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x4xf32>, tensor<1x16x2x8xf32>, tensor<1x2x8x4xf32>)
      -> (tensor<1x16x2x4xf32>, tensor<1x2x8x4xf32>)
  return
}
