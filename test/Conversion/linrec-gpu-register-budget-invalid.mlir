// RUN: linrec-opt %s --pass-pipeline="builtin.module(gpu.module(linrec-gpu-register-budget{max-registers=300}))" --verify-diagnostics

// expected-error @+1 {{the register budget must be in [16, 255], got 300}}
gpu.module @kernels {
  gpu.func @kernel() kernel {
    gpu.return
  }
}
