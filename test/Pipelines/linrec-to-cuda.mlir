// RUN: linrec-opt %s --linrec-to-cuda="chip=sm_80" | FileCheck %s

// What the runtime runs for Target::CUDA: linrec-to-nvvm, then the host side in the LLVM
// dialect: the kernel function launches the outlined GPU kernel, whose PTX the module carries.
// CHECK-LABEL: llvm.func @gla
// CHECK: llvm.call @__linrec_kernel_0
// CHECK-LABEL: llvm.func @__linrec_kernel_0
// CHECK-SAME: linrec.algorithm = #linrec.algorithm<chunked_diagonal>, linrec.gpu_schedule
// CHECK: gpu.launch_func @__linrec_kernel_0_kernel::@__linrec_kernel_0_kernel
// CHECK-SAME: dynamic_shared_memory_size
// CHECK-LABEL: llvm.func @_mlir_ciface___linrec_kernel_0
// CHECK: gpu.binary @__linrec_kernel_0_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// CHECK-SAME: .entry __linrec_kernel_0_kernel(
func.func @gla(%q: tensor<1x40x2x16xf32>, %gk: tensor<1x40x2x16xf32>)
    -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>) {
  %o, %s = linrec.gla %q, %q, %q gate(%gk) {scale = 0.25 : f64}
      : (tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>)
      -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>)
  return %o, %s : tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>
}
