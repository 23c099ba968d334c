//===- ScheduleBuilder.h - block and thread loops of GPU schedules -*- C++ -*-===//
//
// What every GPU schedule is made of: one scf.parallel over the work items mapped to blocks,
// thread phases (scf.parallel mapped to thread_x, each followed by a barrier once mapped),
// workgroup tiles, and the f32 arithmetic of the phases. Built on the CPU kernels'
// KernelBuilder (constants, scf loops, loads and stores converting element types).
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_CONVERSION_LINRECTOGPU_SCHEDULEBUILDER_H
#define LINREC_LIB_CONVERSION_LINRECTOGPU_SCHEDULEBUILDER_H

#include "KernelCommon/KernelEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace linrec::gpusched {

class ScheduleBuilder {
public:
  explicit ScheduleBuilder(codegen::KernelBuilder &k) : k(k), b(k.b) {}

  /// The program: body(w) for each work item w in [lb, ub), one block each. Tiles allocated in
  /// `body` belong to the block.
  void blocks(mlir::Value lb, mlir::Value ub, llvm::function_ref<void(mlir::Value)> body);
  /// One phase: `n` independent iterations spread over the block's threads.
  void threads(int64_t n, llvm::function_ref<void(mlir::Value)> body);
  /// A phase over a rows x cols grid; consecutive threads take consecutive columns.
  void threads(int64_t rows, int64_t cols,
               llvm::function_ref<void(mlir::Value, mlir::Value)> body);
  /// A workgroup-memory tile of the current block (f32 unless `element` says otherwise).
  mlir::Value tile(llvm::ArrayRef<int64_t> shape, mlir::Type element = {});
  /// C += A · B on workgroup tiles (A: M x K, B: K x N, C: M x N, row-major), a collective
  /// step of the block: linalg.matmul, which linrec-map-to-gpu gives to the tensor cores
  /// (f16 A and B, f32 C, dims multiples of 16) and the CPU runs as loops.
  void matmul(mlir::Value a, mlir::Value b, mlir::Value c);

  /// An element of a buffer, as f32 (`atNative`: in the buffer's own float type).
  mlir::Value at(mlir::Value buffer, mlir::ValueRange indices);
  mlir::Value atNative(mlir::Value buffer, mlir::ValueRange indices);
  mlir::Value exp(mlir::Value x);
  /// Arithmetic in the wider of the operands' float types.
  mlir::Value add(mlir::Value x, mlir::Value y);
  mlir::Value sub(mlir::Value x, mlir::Value y);
  mlir::Value mul(mlir::Value x, mlir::Value y);
  mlir::Value addIndex(mlir::Value x, mlir::Value y);
  mlir::Value subIndex(mlir::Value x, mlir::Value y);
  mlir::Value ult(mlir::Value x, mlir::Value y);
  mlir::Value ule(mlir::Value x, mlir::Value y);
  mlir::Value splat(mlir::Value scalar, int64_t n);
  /// Σ_{x in [lb, ub)} term(x), in f32.
  mlir::Value sum(mlir::Value lb, mlir::Value ub, llvm::function_ref<mlir::Value(mlir::Value)> term);
  mlir::Value sum(int64_t n, llvm::function_ref<mlir::Value(mlir::Value)> term);
  /// `cond ? thenValue() : otherwise` (0 by default), computing thenValue only where cond holds.
  mlir::Value where(mlir::Value cond, llvm::function_ref<mlir::Value()> thenValue,
                    double otherwise = 0.0);
  void ifThenElse(mlir::Value cond, llvm::function_ref<void()> thenBody,
                  llvm::function_ref<void()> elseBody);

  /// `tile` (dk x width) = state #index of recurrence `e.op` for `item` from its initial
  /// states (the value columns [column0, column0 + width)), or zeros when none is given.
  void loadState(codegen::KernelEmitter &e, unsigned index, const codegen::WorkItem &item,
                 mlir::Value tile, mlir::Value column0);
  /// The final state #index of `item` = `tile`.
  void storeState(codegen::KernelEmitter &e, unsigned index, const codegen::WorkItem &item,
                  mlir::Value tile, mlir::Value column0);

protected:
  codegen::KernelBuilder &k;
  mlir::ImplicitLocOpBuilder &b;

private:
  std::pair<mlir::Value, mlir::Value> widened(mlir::Value x, mlir::Value y);

  void parallel(mlir::Value lb, mlir::Value ub, mlir::gpu::Processor processor,
                llvm::function_ref<void(mlir::Value)> body);
  mlir::Block *tileBlock = nullptr; // where the current block's tiles are allocated
};

} // namespace linrec::gpusched

#endif // LINREC_LIB_CONVERSION_LINRECTOGPU_SCHEDULEBUILDER_H
