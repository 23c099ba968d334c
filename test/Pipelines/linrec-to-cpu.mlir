// RUN: linrec-opt %s --linrec-to-cpu="chunk-size=16" | FileCheck %s

// The named op goes all the way to the LLVM dialect: a kernel with its C interface, called
// by the bufferized function.
// CHECK-NOT: linrec.
// CHECK-LABEL: llvm.func @gla
// CHECK: llvm.call @__linrec_kernel_0
// Exponentials are vectorizable polynomials (range reduction with floor, then FMAs), never
// libm calls per lane.
// CHECK-LABEL: llvm.func @__linrec_kernel_0
// CHECK-NOT: llvm.intr.exp
// CHECK: llvm.intr.floor
// CHECK: llvm.intr.fma
// CHECK-LABEL: llvm.func @_mlir_ciface___linrec_kernel_0
func.func @gla(%q: tensor<1x40x2x16xf32>, %gk: tensor<1x40x2x16xf32>)
    -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>) {
  %o, %s = linrec.gla %q, %q, %q gate(%gk) {scale = 0.25 : f64}
      : (tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>)
      -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>)
  return %o, %s : tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>
}
