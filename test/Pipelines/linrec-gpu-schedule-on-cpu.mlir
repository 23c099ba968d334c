// RUN: linrec-opt %s --linrec-gpu-schedule-on-cpu="chunk-size=16 value-tile=32" | FileCheck %s

// What the runtime runs for Target::GPUScheduleOnCPU: the GPU schedule (here two value tiles
// of 32 columns) as plain loops, in the LLVM dialect, with nothing of the gpu dialect left;
// the kernel records what the lowering chose.
// CHECK-NOT: gpu.
// CHECK-LABEL: llvm.func @gla
// CHECK: llvm.call @__linrec_kernel_0
// CHECK-LABEL: llvm.func @__linrec_kernel_0
// CHECK-SAME: linrec.algorithm = #linrec.algorithm<chunked_diagonal>, linrec.gpu_schedule, linrec.heads_per_item = 1 : i64, linrec.value_tiles = 2 : i64
// CHECK-NOT: gpu.
// CHECK-LABEL: llvm.func @_mlir_ciface___linrec_kernel_0
func.func @gla(%q: tensor<1x40x2x16xf32>, %gk: tensor<1x40x2x16xf32>, %v: tensor<1x40x2x64xf32>)
    -> (tensor<1x40x2x64xf32>, tensor<1x2x16x64xf32>) {
  %o, %s = linrec.gla %q, %q, %v gate(%gk) {scale = 0.25 : f64}
      : (tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x64xf32>, tensor<1x40x2x16xf32>)
      -> (tensor<1x40x2x64xf32>, tensor<1x2x16x64xf32>)
  return %o, %s : tensor<1x40x2x64xf32>, tensor<1x2x16x64xf32>
}
