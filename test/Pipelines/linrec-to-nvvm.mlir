// RUN: linrec-opt %s --linrec-to-nvvm | FileCheck %s
// RUN: linrec-opt %s --linrec-to-nvvm="chip=sm_80 block-size=128 max-registers=96" | FileCheck %s --check-prefix=SM80
// RUN: linrec-opt %s --linrec-to-nvvm="tensor-cores=1 chunk-size=16 value-tile=16" | FileCheck %s --check-prefix=TC

// The named op becomes an outlined GPU kernel serialized to PTX for sm_90a, and a launch of
// it: one block per (sequence, head, value tile), 256 threads, the chunk tiles in dynamic
// shared memory.
// CHECK-LABEL: func.func @gated_delta
// CHECK: call @__linrec_kernel_0
// CHECK: func.func @__linrec_kernel_0
// CHECK: gpu.launch_func @__linrec_kernel_0_kernel::@__linrec_kernel_0_kernel blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %{{.*}} args(
// CHECK: gpu.binary @__linrec_kernel_0_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// The PTX: the entry, the register and thread bounds, the shared tiles, barriers between the
// phases, shared-memory loads and stores, and exponentials as ex2.approx.
// CHECK-SAME: .target sm_90a
// Math functions come linked from libdevice (the toolkit path is set), never left extern.
// CHECK-NOT: __nv_expf
// CHECK-SAME: .entry __linrec_kernel_0_kernel(
// CHECK-SAME: .maxntid 256, 1, 1
// CHECK-SAME: .maxnreg 128
// CHECK-SAME: .shared .align 16 .b8 __dynamic_shmem__0
// CHECK-SAME: bar.sync
// CHECK-SAME: ld.shared
// CHECK-SAME: ex2.approx
// CHECK-SAME: st.shared
// CHECK-SAME: st.global
// With tensor cores: f16 fragments loaded from shared memory by ldmatrix, m16n8k16 MMAs
// accumulating in f32.
// TC: gpu.binary
// TC-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// TC-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// SM80: chip = "sm_80"
// SM80-SAME: .target sm_80
// SM80-SAME: .maxntid 128, 1, 1
// SM80-SAME: .maxnreg 96
func.func @gated_delta(%q: tensor<1x40x2x16xf32>, %g: tensor<1x40x2xf32>, %beta: tensor<1x40x2xf32>)
    -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>) {
  %o, %s = linrec.gated_deltanet %q, %q, %q gate(%g) beta(%beta) {scale = 0.25 : f64}
      : (tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2x16xf32>, tensor<1x40x2xf32>,
         tensor<1x40x2xf32>)
      -> (tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>)
  return %o, %s : tensor<1x40x2x16xf32>, tensor<1x2x16x16xf32>
}
