//===- ScheduleBuilder.cpp - block and thread loops of GPU schedules ------===//

#include "ScheduleBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;

namespace linrec::gpusched {

void ScheduleBuilder::parallel(Value lb, Value ub, gpu::Processor processor,
                               function_ref<void(Value)> body) {
  auto loop = scf::ParallelOp::create(
      b, ValueRange{lb}, ValueRange{ub}, ValueRange{k.index(1)},
      [&](OpBuilder &nested, Location, ValueRange ivs) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        body(ivs.front());
      });
  AffineMap identity = b.getDimIdentityMap();
  auto mapping = gpu::ParallelLoopDimMappingAttr::get(b.getContext(), processor, identity, identity);
  (void)gpu::setMappingAttr(loop, {mapping});
}

void ScheduleBuilder::blocks(Value lb, Value ub, function_ref<void(Value)> body) {
  parallel(lb, ub, gpu::Processor::BlockX, [&](Value w) {
    tileBlock = b.getInsertionBlock();
    body(w);
    tileBlock = nullptr;
  });
}

void ScheduleBuilder::threads(int64_t n, function_ref<void(Value)> body) {
  parallel(k.index(0), k.index(n), gpu::Processor::ThreadX, body);
}

void ScheduleBuilder::threads(int64_t rows, int64_t cols, function_ref<void(Value, Value)> body) {
  threads(rows * cols, [&](Value n) {
    body(arith::DivUIOp::create(b, n, k.index(cols)), arith::RemUIOp::create(b, n, k.index(cols)));
  });
}

Value ScheduleBuilder::tile(ArrayRef<int64_t> shape, Type element) {
  assert(tileBlock && "tiles belong to a block");
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(tileBlock);
  auto space = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  return memref::AllocaOp::create(
      b, MemRefType::get(shape, element ? element : b.getF32Type(), MemRefLayoutAttrInterface{},
                         space));
}

void ScheduleBuilder::matmul(Value a, Value bMatrix, Value c) {
  linalg::MatmulOp::create(b, ValueRange{a, bMatrix}, ValueRange{c});
}

Value ScheduleBuilder::at(Value buffer, ValueRange indices) {
  return k.load(b.getF32Type(), buffer, indices);
}
Value ScheduleBuilder::atNative(Value buffer, ValueRange indices) {
  return k.load(cast<MemRefType>(buffer.getType()).getElementType(), buffer, indices);
}
Value ScheduleBuilder::exp(Value x) { return math::ExpOp::create(b, x); }
/// x and y in the wider of their float types (a float64 state's element meets f32 values).
std::pair<Value, Value> ScheduleBuilder::widened(Value x, Value y) {
  Type tx = getElementTypeOrSelf(x.getType()), ty = getElementTypeOrSelf(y.getType());
  Type wide = tx.getIntOrFloatBitWidth() >= ty.getIntOrFloatBitWidth() ? tx : ty;
  return {k.convert(x, wide), k.convert(y, wide)};
}
Value ScheduleBuilder::add(Value x, Value y) {
  auto [wx, wy] = widened(x, y);
  return arith::AddFOp::create(b, wx, wy);
}
Value ScheduleBuilder::sub(Value x, Value y) {
  auto [wx, wy] = widened(x, y);
  return arith::SubFOp::create(b, wx, wy);
}
Value ScheduleBuilder::mul(Value x, Value y) {
  auto [wx, wy] = widened(x, y);
  return arith::MulFOp::create(b, wx, wy);
}
Value ScheduleBuilder::addIndex(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
Value ScheduleBuilder::subIndex(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
Value ScheduleBuilder::ult(Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
}
Value ScheduleBuilder::ule(Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ule, x, y);
}
Value ScheduleBuilder::splat(Value scalar, int64_t n) {
  return vector::BroadcastOp::create(b, k.vectorOf(n), scalar);
}

Value ScheduleBuilder::sum(Value lb, Value ub, function_ref<Value(Value)> term) {
  return k.forLoopCarry(lb, ub, k.f32(0.0), [&](Value x, Value acc) { return add(acc, term(x)); });
}
Value ScheduleBuilder::sum(int64_t n, function_ref<Value(Value)> term) {
  return sum(k.index(0), k.index(n), term);
}

Value ScheduleBuilder::where(Value cond, function_ref<Value()> thenValue, double otherwise) {
  auto ifOp = scf::IfOp::create(b, TypeRange{b.getF32Type()}, cond, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, thenValue());
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, k.f32(otherwise));
  return ifOp.getResult(0);
}

void ScheduleBuilder::ifThenElse(Value cond, function_ref<void()> thenBody,
                                 function_ref<void()> elseBody) {
  k.ifThenElse(cond, thenBody, elseBody);
}

void ScheduleBuilder::loadState(codegen::KernelEmitter &e, unsigned index, const codegen::WorkItem &item,
                                Value tile, Value column0) {
  auto type = cast<StateType>(e.op.getStateArgs()[index].getType());
  bool given = index < e.op.getInits().size();
  auto shape = cast<MemRefType>(tile.getType()).getShape();
  threads(shape[0], shape[1], [&](Value d, Value v) {
    // In the tile's float type: a float64 state keeps its init's digits.
    Type element = cast<MemRefType>(tile.getType()).getElementType();
    Value value = k.f32(0.0);
    if (given && type.isMatrix())
      value = k.load(element, e.init(index), {item.stateSlot, item.head, d, addIndex(column0, v)});
    else if (given)
      value = k.load(element, e.init(index), {item.stateSlot, item.head, d});
    k.store(value, tile, {d, v});
  });
}

void ScheduleBuilder::storeState(codegen::KernelEmitter &e, unsigned index, const codegen::WorkItem &item,
                                 Value tile, Value column0) {
  auto type = cast<StateType>(e.op.getStateArgs()[index].getType());
  auto shape = cast<MemRefType>(tile.getType()).getShape();
  threads(shape[0], shape[1], [&](Value d, Value v) {
    Value value = atNative(tile, {d, v});
    if (type.isMatrix())
      k.store(value, e.finalState(index), {item.stateSlot, item.head, d, addIndex(column0, v)});
    else
      k.store(value, e.finalState(index), {item.stateSlot, item.head, d});
  });
}

} // namespace linrec::gpusched
