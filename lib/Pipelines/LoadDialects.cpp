//===- LoadDialects.cpp - the dialects linrec's builders need loaded ------===//

#include "linrec/InitLinrec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

void linrec::loadLinrecDialects(mlir::MLIRContext &context) {
  context.loadDialect<LinrecDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                      mlir::math::MathDialect, mlir::tensor::TensorDialect,
                      mlir::linalg::LinalgDialect, mlir::scf::SCFDialect,
                      mlir::memref::MemRefDialect, mlir::vector::VectorDialect,
                      mlir::bufferization::BufferizationDialect>();
}
