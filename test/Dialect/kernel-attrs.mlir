// RUN: linrec-opt %s | linrec-opt | FileCheck %s

// A kernel function with every attribute the lowerings record round-trips.
// CHECK: func.func @__linrec_kernel_0() attributes {linrec.algorithm = #linrec.algorithm<chunked_delta>, linrec.gpu_schedule, linrec.heads_per_item = 2 : i64, linrec.token_block = 16 : i64, linrec.value_checks = array<i32: 1, 2, 0>, linrec.value_tiles = 4 : i64, linrec.window_reads}
func.func @__linrec_kernel_0() attributes {linrec.algorithm = #linrec.algorithm<chunked_delta>, linrec.gpu_schedule, linrec.heads_per_item = 2 : i64, linrec.token_block = 16 : i64, linrec.value_checks = array<i32: 1, 2, 0>, linrec.value_tiles = 4 : i64, linrec.window_reads} {
  return
}
// CHECK: func.func @layer(%{{.*}}: tensor<4xf32> {linrec.name = "q"}) -> (tensor<4xf32> {linrec.name = "o"})
func.func @layer(%x: tensor<4xf32> {linrec.name = "q"}) -> (tensor<4xf32> {linrec.name = "o"}) {
  return %x : tensor<4xf32>
}
// The status word of a function's value-checking kernels.
// CHECK: func.func @checked(%{{.*}}: memref<1xi32> {linrec.value_status})
func.func @checked(%status: memref<1xi32> {linrec.value_status}) {
  return
}
