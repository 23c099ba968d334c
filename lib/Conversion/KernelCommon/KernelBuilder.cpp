//===- KernelBuilder.cpp - loops, buffers and matmuls of kernels ----------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec::codegen {

KernelBuilder::KernelBuilder(Location loc, func::FuncOp kernel)
    : b(loc, kernel.getContext()), kernel(kernel) {
  b.setInsertionPointToStart(&kernel.getBody().front());
}

Value KernelBuilder::index(int64_t value) { return arith::ConstantIndexOp::create(b, value); }

Value KernelBuilder::f32(double value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(static_cast<float>(value)));
}

VectorType KernelBuilder::vectorOf(int64_t n) { return VectorType::get({n}, b.getF32Type()); }

Value KernelBuilder::zeros(Type type) {
  if (auto vec = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(b, DenseElementsAttr::get(vec, 0.0f));
  return f32(0.0);
}

Value KernelBuilder::positions(int64_t n) {
  SmallVector<float> iota(n);
  for (int64_t j = 0; j < n; ++j)
    iota[j] = float(j);
  return arith::ConstantOp::create(b, DenseElementsAttr::get(vectorOf(n), ArrayRef(iota)));
}

Value KernelBuilder::indexToF32(Value i) {
  return arith::UIToFPOp::create(b, b.getF32Type(),
                                 arith::IndexCastOp::create(b, b.getI64Type(), i));
}

void KernelBuilder::forLoop(Value lb, Value ub, function_ref<void(Value)> body) {
  scf::ForOp::create(b, lb, ub, index(1), ValueRange{},
                     [&](OpBuilder &nested, Location, Value iv, ValueRange) {
                       OpBuilder::InsertionGuard guard(b);
                       b.setInsertionPoint(nested.getInsertionBlock(),
                                           nested.getInsertionPoint());
                       body(iv);
                       scf::YieldOp::create(b);
                     });
}

Value KernelBuilder::forLoopCarry(Value lb, Value ub, Value init,
                                  function_ref<Value(Value, Value)> body) {
  auto loop = scf::ForOp::create(
      b, lb, ub, index(1), ValueRange{init},
      [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        scf::YieldOp::create(b, body(iv, args[0]));
      });
  return loop.getResult(0);
}

SmallVector<Value>
KernelBuilder::forLoopCarry(Value lb, Value ub, int64_t step, ValueRange inits,
                           function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(
      b, lb, ub, index(step), inits, [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        scf::YieldOp::create(b, body(iv, args));
      });
  return SmallVector<Value>(loop.getResults());
}

void KernelBuilder::ifThenElse(Value condition, function_ref<void()> thenBody,
                               function_ref<void()> elseBody) {
  auto ifOp = scf::IfOp::create(b, condition, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  thenBody();
  b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
  elseBody();
}

/// Converts between f32 and a memref's element type.
static Value convertElements(ImplicitLocOpBuilder &b, Value value, Type toElement) {
  Type from = getElementTypeOrSelf(value.getType());
  if (from == toElement)
    return value;
  Type to = toElement;
  if (auto vec = dyn_cast<VectorType>(value.getType()))
    to = VectorType::get(vec.getShape(), toElement);
  if (toElement.getIntOrFloatBitWidth() > from.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, to, value);
  return arith::TruncFOp::create(b, to, value);
}

Value KernelBuilder::convert(Value value, Type toElement) {
  return convertElements(b, value, toElement);
}

Value KernelBuilder::load(Type type, Value memref, ValueRange indices) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  Value value;
  if (auto vec = dyn_cast<VectorType>(type))
    value = vector::LoadOp::create(b, VectorType::get(vec.getShape(), element), memref, indices);
  else
    value = memref::LoadOp::create(b, memref, indices);
  return convertElements(b, value, getElementTypeOrSelf(type));
}

void KernelBuilder::store(Value value, Value memref, ValueRange indices) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  value = convertElements(b, value, element);
  if (isa<VectorType>(value.getType()))
    vector::StoreOp::create(b, value, memref, indices);
  else
    memref::StoreOp::create(b, value, memref, indices);
}

Value KernelBuilder::view(Value buffer, OpFoldResult row0, OpFoldResult col0, int64_t rows,
                          int64_t cols) {
  return memref::SubViewOp::create(
      b, buffer, ArrayRef<OpFoldResult>{row0, col0},
      ArrayRef<OpFoldResult>{b.getIndexAttr(rows), b.getIndexAttr(cols)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

void KernelBuilder::transpose(Value from, Value to) {
  auto type = cast<MemRefType>(from.getType());
  forLoop(0, type.getDimSize(1), [&](Value d) {
    forLoop(0, type.getDimSize(0), [&](Value i) {
      store(load(b.getF32Type(), from, {i, d}), to, {d, i});
    });
  });
}

Value KernelBuilder::alloc(ArrayRef<int64_t> shape, Type element) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  Type type = element ? element : b.getF32Type();
  Value buffer = memref::AllocOp::create(b, MemRefType::get(shape, type),
                                         b.getI64IntegerAttr(64));
  allocations.push_back(buffer);
  return buffer;
}

void KernelBuilder::freeAll() {
  for (Value buffer : allocations)
    memref::DeallocOp::create(b, buffer);
  allocations.clear();
}

void KernelBuilder::fill(Value buffer, double value) {
  auto type = cast<MemRefType>(buffer.getType());
  if (type.getRank() == 1) {
    store(arith::ConstantOp::create(
              b, DenseElementsAttr::get(vectorOf(type.getDimSize(0)), float(value))),
          buffer, {index(0)});
    return;
  }
  Value row = arith::ConstantOp::create(
      b, DenseElementsAttr::get(vectorOf(type.getDimSize(1)), float(value)));
  forLoop(0, type.getDimSize(0), [&](Value r) { store(row, buffer, {r, index(0)}); });
}

void KernelBuilder::matmul(Value a, Value bMat, Value c, bool accumulate,
                           bool lowerTriangular, Value diagonal) {
  auto aType = cast<MemRefType>(a.getType()), bType = cast<MemRefType>(bMat.getType());
  int64_t m = aType.getDimSize(0), k = aType.getDimSize(1), n = bType.getDimSize(1);
  assert(bType.getDimSize(0) == k && "matmul inner dims differ");
  assert((!lowerTriangular || k >= m) && "a lower-triangular A ends with its rows' own keys");
  if (!diagonal)
    diagonal = index(k - m); // row 0's last key
  // Register tiles: `rows` rows of C times a `width`-wide column strip stay in vector
  // registers across the K loop; each B row segment is loaded once per `rows` FMAs.
  auto tile = [&](Value row0, int64_t rows, int64_t col0, int64_t width) {
    VectorType rowType = vectorOf(width);
    SmallVector<Value> accs;
    for (int64_t r = 0; r < rows; ++r) {
      Value row = arith::AddIOp::create(b, row0, index(r));
      accs.push_back(accumulate ? load(rowType, c, {row, index(col0)}) : zeros(rowType));
    }
    auto fma = [&](int64_t r, Value kk, Value bRow, Value sum) -> Value {
      Value row = arith::AddIOp::create(b, row0, index(r));
      Value aik = vector::BroadcastOp::create(b, rowType, load(b.getF32Type(), a, {row, kk}));
      return vector::FMAOp::create(b, aik, bRow, sum);
    };
    // Lower-triangular: the B rows before the tile's diagonal for every row of it, then the
    // triangle (row r of the tile takes B rows up to row0 + diagonal + r).
    Value triangle = arith::MinUIOp::create(b, arith::AddIOp::create(b, row0, diagonal),
                                            index(k - rows));
    accs = forLoopCarry(index(0), lowerTriangular ? triangle : index(k), 1, accs,
                        [&](Value kk, ValueRange sums) {
                          Value bRow = load(rowType, bMat, {kk, index(col0)});
                          SmallVector<Value> next;
                          for (int64_t r = 0; r < rows; ++r)
                            next.push_back(fma(r, kk, bRow, sums[r]));
                          return next;
                        });
    if (lowerTriangular)
      for (int64_t t = 0; t < rows; ++t) {
        Value kk = arith::AddIOp::create(b, triangle, index(t));
        Value bRow = load(rowType, bMat, {kk, index(col0)});
        for (int64_t r = t; r < rows; ++r)
          accs[r] = fma(r, kk, bRow, accs[r]);
      }
    for (int64_t r = 0; r < rows; ++r)
      store(accs[r], c, {arith::AddIOp::create(b, row0, index(r)), index(col0)});
  };
  int64_t rows = std::min(matmulRows, m), fullRows = m - m % rows;
  for (int64_t col0 = 0; col0 < n; col0 += matmulColumns) {
    int64_t width = std::min(matmulColumns, n - col0);
    scf::ForOp::create(b, index(0), index(fullRows), index(rows), ValueRange{},
                       [&](OpBuilder &nested, Location, Value row0, ValueRange) {
                         OpBuilder::InsertionGuard guard(b);
                         b.setInsertionPoint(nested.getInsertionBlock(),
                                             nested.getInsertionPoint());
                         if (rowTileHook)
                           rowTileHook(row0, rows, fullRows);
                         tile(row0, rows, col0, width);
                         scf::YieldOp::create(b);
                       });
    for (int64_t r = fullRows; r < m; ++r)
      tile(index(r), 1, col0, width);
  }
}

} // namespace linrec::codegen
