//===- KernelCalls.cpp - kernel functions and the calls that replace ops --===//

#include "KernelCommon/KernelCalls.h"
#include "linrec/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;

namespace linrec::codegen {

static MemRefType memrefOf(Type tensorType) {
  auto tensor = cast<RankedTensorType>(tensorType);
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

static MemRefType statusType(MLIRContext *context) {
  return MemRefType::get({1}, IntegerType::get(context, 32));
}

func::FuncOp createKernelFunction(Operation *op, StringRef name, bool valueStatus) {
  auto module = op->getParentOfType<ModuleOp>();
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> argTypes;
  for (Type t : op->getOperandTypes())
    argTypes.push_back(memrefOf(t));
  for (Type t : op->getResultTypes())
    argTypes.push_back(memrefOf(t));
  if (valueStatus)
    argTypes.push_back(statusType(b.getContext()));
  argTypes.append({b.getIndexType(), b.getIndexType()});
  auto kernel = func::FuncOp::create(b, op->getLoc(), name, b.getFunctionType(argTypes, {}));
  kernel->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  kernel.addEntryBlock();
  return kernel;
}

/// The status word of the function around `op`: its argument marked linrec.value_status,
/// appended (zero-initialized by the caller) the first time a kernel call needs it.
static Value valueStatusOf(Operation *op) {
  auto func = op->getParentOfType<func::FuncOp>();
  for (BlockArgument arg : func.getArguments())
    if (func.getArgAttr(arg.getArgNumber(), kValueStatusAttr))
      return arg;
  MLIRContext *context = op->getContext();
  unsigned index = func.getNumArguments();
  (void)func.insertArgument(
      index, statusType(context),
      DictionaryAttr::get(context, {NamedAttribute(StringAttr::get(context, kValueStatusAttr),
                                                   UnitAttr::get(context))}),
      func.getLoc());
  return func.getArgument(index);
}

/// Replaces `op` by a call of `kernel` on buffers of its operands and fresh result buffers,
/// over the work items [0, work). `leadingSizes(i)` gives result #i's leading dims (the only
/// ones that can be dynamic).
static void callKernel(ImplicitLocOpBuilder &b, Operation *op, func::FuncOp kernel,
                       function_ref<SmallVector<Value>(unsigned)> leadingSizes, Value work) {
  SmallVector<Value> args;
  for (Value operand : op->getOperands())
    args.push_back(bufferization::ToBufferOp::create(b, memrefOf(operand.getType()), operand,
                                                     /*read_only=*/true));
  SmallVector<Value> results;
  for (auto [i, type] : llvm::enumerate(op->getResultTypes())) {
    MemRefType memref = memrefOf(type);
    SmallVector<Value> sizes = leadingSizes(i);
    SmallVector<Value> dynamic;
    for (int64_t d = 0; d < memref.getRank(); ++d)
      if (memref.isDynamicDim(d))
        dynamic.push_back(sizes[d]);
    Value buffer = memref::AllocOp::create(b, memref, dynamic);
    args.push_back(buffer);
    results.push_back(buffer);
  }
  // State pools: the kernel writes its sequences' slots only, the rest is the init's.
  if (auto rec = dyn_cast<RecurrenceOp>(op); rec && rec.getStateIndices())
    for (unsigned j = 0; j < rec.getInits().size(); ++j)
      memref::CopyOp::create(b, args[rec.getInputs().size() + rec.getParams().size() + j],
                             results[rec.getNumOutputs() + j]);
  if (kernel->hasAttr(kValueChecksAttr))
    args.push_back(valueStatusOf(op));
  args.push_back(arith::ConstantIndexOp::create(b, 0));
  args.push_back(work);
  func::CallOp::create(b, kernel, args);
  SmallVector<Value> tensors;
  for (auto [buffer, type] : llvm::zip(results, op->getResultTypes()))
    tensors.push_back(bufferization::ToTensorOp::create(b, type, buffer, /*restrict=*/true,
                                                        /*writable=*/true));
  op->replaceAllUsesWith(tensors);
  op->erase();
}

/// A recurrence's work items: (state row, head group, value tile); outputs are [B, T, H, ...],
/// final states [N, H, ...].
void replaceWithKernelCall(RecurrenceOp op, func::FuncOp kernel) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Value first = op.getInputs().front();
  Value batch = tensor::DimOp::create(b, first, 0);
  Value tokens = tensor::DimOp::create(b, first, 1);
  Value heads = tensor::DimOp::create(b, first, 2);
  Value rows = batch; // state rows: B, or the number of sequences
  if (Value cu = op.getCuSeqlens())
    rows = arith::SubIOp::create(b, tensor::DimOp::create(b, cu, 0),
                                 arith::ConstantIndexOp::create(b, 1));
  int64_t group = kernel->getAttrOfType<IntegerAttr>(kHeadsPerItemAttr).getInt();
  Value groups = heads;
  if (group > 1)
    groups = arith::CeilDivUIOp::create(b, heads, arith::ConstantIndexOp::create(b, group));
  Value work = arith::MulIOp::create(b, rows, groups);
  int64_t tiles = kernel->getAttrOfType<IntegerAttr>(kValueTilesAttr).getInt();
  if (tiles > 1)
    work = arith::MulIOp::create(b, work, arith::ConstantIndexOp::create(b, tiles));
  unsigned numOutputs = op.getNumOutputs();
  callKernel(
      b, op, kernel,
      [&](unsigned i) {
        if (i < numOutputs)
          return SmallVector<Value>{batch, tokens, heads};
        if (op.getStateIndices()) // a pool: as many slots as its init
          return SmallVector<Value>{tensor::DimOp::create(b, op.getInits()[i - numOutputs], 0),
                                    heads};
        return SmallVector<Value>{rows, heads};
      },
      work);
}

LogicalResult lowerKernelOps(
    ModuleOp module, function_ref<LogicalResult(RecurrenceOp, StringRef)> lowerRecurrence,
    function_ref<LogicalResult(WindowAttentionOp, StringRef)> lowerWindow) {
  SmallVector<RecurrenceOp> recurrences;
  module->walk([&](RecurrenceOp op) { recurrences.push_back(op); });
  SmallVector<WindowAttentionOp> windows;
  module->walk([&](WindowAttentionOp op) { windows.push_back(op); });
  unsigned counter = 0;
  auto nextName = [&] { return kKernelPrefix.str() + std::to_string(counter++); };
  for (RecurrenceOp op : recurrences)
    if (failed(lowerRecurrence(op, nextName())))
      return failure();
  for (WindowAttentionOp op : windows)
    if (failed(lowerWindow(op, nextName())))
      return failure();
  return success();
}

/// A window attention's work items: (batch row, head); every result is [B, T, H, ...].
void replaceWindowWithKernelCall(WindowAttentionOp op, func::FuncOp kernel) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Value q = op.getQ();
  SmallVector<Value> sizes = {tensor::DimOp::create(b, q, 0), tensor::DimOp::create(b, q, 1),
                              tensor::DimOp::create(b, q, 2)};
  Value work = arith::MulIOp::create(b, sizes[0], sizes[2]);
  if (auto block = kernel->getAttrOfType<IntegerAttr>(kTokenBlockAttr))
    work = arith::MulIOp::create(
        b, work,
        arith::CeilDivUIOp::create(b, sizes[1],
                                   arith::ConstantIndexOp::create(b, block.getInt())));
  callKernel(b, op, kernel, [&](unsigned) { return sizes; }, work);
}

} // namespace linrec::codegen
