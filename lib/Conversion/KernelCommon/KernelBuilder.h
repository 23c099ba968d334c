//===- KernelBuilder.h - loops, buffers and matmuls of kernels --*- C++ -*-===//
//
// What every kernel body (CPU kernel or GPU schedule) is made of, whatever op it implements: index and f32
// constants, scf loops, loads and stores of rows (converting any float type to and from
// f32), heap scratch buffers, and a register-tiled vectorized matmul.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELBUILDER_H
#define LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELBUILDER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace linrec::codegen {

class KernelBuilder {
public:
  /// Builds into the entry block of `kernel`.
  KernelBuilder(mlir::Location loc, mlir::func::FuncOp kernel);

  // Constants and types.
  mlir::Value index(int64_t value);
  mlir::Value f32(double value);
  mlir::Value zeros(mlir::Type type); // f32 or vector
  mlir::VectorType vectorOf(int64_t n);
  /// The constant vector [0, 1, …, n − 1] (f32): column positions for row masks.
  mlir::Value positions(int64_t n);
  /// An index as f32 (exact below 2^24).
  mlir::Value indexToF32(mlir::Value i);

  // Loops.
  void forLoop(mlir::Value lb, mlir::Value ub, llvm::function_ref<void(mlir::Value)> body);
  void forLoop(int64_t lb, int64_t ub, llvm::function_ref<void(mlir::Value)> body) {
    forLoop(index(lb), index(ub), body);
  }
  /// A loop carrying one value: body(iv, acc) returns the next acc.
  mlir::Value forLoopCarry(mlir::Value lb, mlir::Value ub, mlir::Value init,
                           llvm::function_ref<mlir::Value(mlir::Value, mlir::Value)> body);
  /// A loop carrying several values, with a constant step.
  llvm::SmallVector<mlir::Value>
  forLoopCarry(mlir::Value lb, mlir::Value ub, int64_t step, mlir::ValueRange inits,
               llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value, mlir::ValueRange)>
                   body);
  void ifThenElse(mlir::Value condition, llvm::function_ref<void()> thenBody,
                  llvm::function_ref<void()> elseBody);

  // Memory. Rows are the contiguous innermost dim; a load converts the memory's float type
  // to `type`'s element type (f32 almost always), a store the value's to the memory's.
  mlir::Value load(mlir::Type type, mlir::Value memref, mlir::ValueRange indices);
  void store(mlir::Value value, mlir::Value memref, mlir::ValueRange indices);
  /// `value` (a float or float vector) with elements of type `element`.
  mlir::Value convert(mlir::Value value, mlir::Type element);
  /// A fresh buffer, f32 unless `element` says otherwise (heap; freed by freeAll at the end
  /// of the kernel).
  mlir::Value alloc(llvm::ArrayRef<int64_t> shape, mlir::Type element = {});
  void freeAll();
  /// buffer[...] = value for a 1-D or 2-D buffer of static shape.
  void fill(mlir::Value buffer, double value);
  /// The rows x cols block of a 2-D buffer at (row0, col0).
  mlir::Value view(mlir::Value buffer, mlir::OpFoldResult row0, mlir::OpFoldResult col0,
                   int64_t rows, int64_t cols);
  /// to[d][i] = from[i][d] for 2-D buffers of static shape, with scalar loads and stores (a
  /// dynamic vector extract would spill the whole vector for every element).
  void transpose(mlir::Value from, mlir::Value to);

  /// C[M x N] (+)= A[M x K] · B[K x N] on row-major f32 buffers of static shape, in register
  /// tiles of `matmulRows` rows x `matmulColumns` columns (schedule parameters). With
  /// `lowerTriangular` (queries against keys that end with the queries' own tokens, K >= M),
  /// row i takes the rows j <= i + K − M of B only, never multiplying A's (masked) entries
  /// above that diagonal: a NaN or infinite later token would turn their zeros into NaN
  /// (0 · NaN), and outputs must not depend on later tokens. It also skips the tiles above.
  /// `diagonal` (an index) replaces K − M where row 0's last key is known at run time only;
  /// rows whose last key would fall past K (padding) are clamped.
  void matmul(mlir::Value a, mlir::Value b, mlir::Value c, bool accumulate,
              bool lowerTriangular = false, mlir::Value diagonal = {});
  /// When set, every matmul calls it inside its row-tile loop with the tile's first row, the
  /// tile's row count and the number of rows the loop covers, so that memory hints can be
  /// spread over the compute.
  std::function<void(mlir::Value row0, int64_t rows, int64_t m)> rowTileHook;
  int64_t matmulRows = 4;
  int64_t matmulColumns = 64;

  mlir::ImplicitLocOpBuilder b;
  mlir::func::FuncOp kernel;

private:
  llvm::SmallVector<mlir::Value> allocations;
};

} // namespace linrec::codegen

#endif // LINREC_LIB_CONVERSION_KERNELCOMMON_KERNELBUILDER_H
