// RUN: linrec-opt %s --split-input-file --linrec-check-slices --verify-diagnostics
// RUN: linrec-opt %s --split-input-file --linrec-to-cpu --verify-diagnostics

// A zero stride (the mlir fuzzer's mutation of a MoM layer's expert slice: the CPU pipeline
// then asked for 31 GB in expand-strided-metadata and crashed) is an error naming the dim.
func.func @zero_stride(%x: tensor<4x2x64x1x16xf32>) -> tensor<2x64x1x16xf32> {
  // expected-error @+1 {{'tensor.extract_slice' op has stride 0 in dim 4; linrec lowers slices with positive strides only}}
  %s = tensor.extract_slice %x[1, 0, 0, 0, 0] [1, 2, 64, 1, 16] [1, 1, 1, 1, 0]
      : tensor<4x2x64x1x16xf32> to tensor<2x64x1x16xf32>
  return %s : tensor<2x64x1x16xf32>
}

// -----

func.func @negative_stride(%x: tensor<8xf32>, %y: tensor<4xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'tensor.insert_slice' op has stride -1 in dim 0; linrec lowers slices with positive strides only}}
  %r = tensor.insert_slice %y into %x[4] [4] [-1] : tensor<4xf32> into tensor<8xf32>
  return %r : tensor<8xf32>
}
