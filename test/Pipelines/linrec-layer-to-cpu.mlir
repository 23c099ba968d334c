// RUN: linrec-opt %examples/mom.mlir --linrec-layer-to-cpu | FileCheck %s

// A layer with tensor ops around its kernel (MoM: routing, gathers, the weighted sum) as one
// function in the LLVM dialect: its kernel call spread over OpenMP threads (one work item per
// iteration), its intermediates freed, its results written through out-params.
// CHECK-LABEL: llvm.func @layer
// CHECK: llvm.call @malloc
// CHECK: omp.parallel
// CHECK: omp.wsloop
// CHECK: llvm.call @__linrec_kernel_0
// CHECK: llvm.call @free
// CHECK-LABEL: llvm.func @__linrec_kernel_0
// CHECK-SAME: linrec.algorithm = #linrec.algorithm<chunked_delta>
