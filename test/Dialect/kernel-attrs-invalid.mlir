// RUN: linrec-opt %s --split-input-file --verify-diagnostics

// The attributes the kernel lowerings record are declared by the dialect and verified.

// expected-error @+1 {{attribute 'linrec.value_tiles' must be an integer of at least 1}}
func.func @__linrec_kernel_0() attributes {linrec.value_tiles = 0 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'linrec.heads_per_item' must be an integer of at least 1}}
func.func @__linrec_kernel_0() attributes {linrec.heads_per_item = "two"} {
  return
}

// -----

// expected-error @+1 {{attribute 'linrec.algorithm' must be a #linrec.algorithm}}
func.func @__linrec_kernel_0() attributes {linrec.algorithm = 1 : i64} {
  return
}

// -----

// expected-error @+1 {{attribute 'linrec.gpu_schedule' must be a unit attribute}}
func.func @__linrec_kernel_0() attributes {linrec.gpu_schedule = 1 : i64} {
  return
}

// -----

// expected-error @+1 {{has an unknown linrec attribute 'linrec.value_tile'}}
func.func @__linrec_kernel_0() attributes {linrec.value_tile = 2 : i64} {
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{attribute 'linrec.token_block' belongs on a kernel function}}
  %c = arith.constant {linrec.token_block = 16 : i64} 0 : index
  return
}

// -----

// expected-error @+1 {{attribute 'linrec.name' must be a string}}
func.func @layer(%x: tensor<4xf32> {linrec.name = 1 : i64}) {
  return
}

// -----

// expected-error @+1 {{has an unknown linrec argument or result attribute 'linrec.nmae'}}
func.func @layer(%x: tensor<4xf32>) -> (tensor<4xf32> {linrec.nmae = "o"}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{attribute 'linrec.value_checks' must be an array<i32> of 0 (none), 1 (finite) or 2 (log-decay)}}
func.func @__linrec_kernel_0() attributes {linrec.value_checks = array<i32: 1, 3>} {
  return
}

// -----

// expected-error @+1 {{attribute 'linrec.value_status' must be a unit attribute}}
func.func @checked(%status: memref<1xi32> {linrec.value_status = 1 : i32}) {
  return
}
