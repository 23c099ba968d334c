// RUN: linrec-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(linrec-gpu-register-budget{max-registers=96}))" --verify-diagnostics | FileCheck %s

// Kernels get the budget (.maxnreg in the PTX); device functions they call do not.
// CHECK-LABEL: gpu.module @kernels
// CHECK: gpu.func @kernel() kernel attributes {nvvm.maxnreg = 96 : i32}
// CHECK: gpu.func @helper() {
gpu.module @kernels {
  gpu.func @kernel() kernel {
    gpu.return
  }
  gpu.func @helper() {
    gpu.return
  }
}
