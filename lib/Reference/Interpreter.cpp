//===- Interpreter.cpp - the float64 reference semantics ------------------===//
//
// Recurrences run through RecurrenceRunner (RecurrenceRunner.h); functions are evaluated op
// by op around them. Everything is float64.
//
//===----------------------------------------------------------------------===//

#include "linrec/Reference/Interpreter.h"
#include "FunctionEvaluation.h"
#include "RecurrenceRunner.h"
#include "linrec/Reference/WindowAttention.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <deque>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

// The step helpers (unary and binary functions, comparisons, constants) are the runner's.
using namespace reference;


/// x[b, t, :, :] / (‖x[b, t, :, :]‖₂ / √(H·D) + eps), in place (linrec.heads_rms_norm).
void reference::applyHeadsRmsNorm(Array &x, double eps) {
  int64_t width = x.shape[2] * x.shape[3];
  for (int64_t token = 0; token < x.shape[0] * x.shape[1]; ++token) {
    double *row = x.data.data() + token * width, sum = 0;
    for (int64_t i = 0; i < width; ++i)
      sum += row[i] * row[i];
    double denominator = std::sqrt(sum / double(width)) + eps;
    for (int64_t i = 0; i < width; ++i)
      row[i] /= denominator;
  }
}

Expected<std::vector<Array>> interpretRecurrence(RecurrenceOp op, ArrayRef<Array> operands) {
  Expected<std::vector<Array>> results = reference::RecurrenceRunner(op, operands).run();
  if (results)
    if (std::optional<APFloat> eps = op.getHeadsNormEps())
      applyHeadsRmsNorm((*results)[0], eps->convertToDouble());
  return results;
}

/// Evaluates a linalg.generic with projected-permutation indexing maps (element-wise maps,
/// broadcasts, transposes, and reductions such as a per-head projection) and a scalar
/// arith/math payload in float64: the unfused meaning of the tensor ops around recurrences.
static Expected<Array> evaluateGeneric(linalg::GenericOp generic,
                                       const std::vector<const Array *> &inputs,
                                       const Array &init) {
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  // Every map result is a loop index or a constant index (a fixed slice).
  auto noSymbols = [](AffineMap m) { return m.getNumSymbols() == 0; };
  if (generic->getNumResults() != 1 || !llvm::all_of(maps, noSymbols))
    return makeError("the reference interpreter evaluates linalg.generic ops with one result "
                     "and indexing maps without symbols only");
  // Loop ranges from the operands' run-time shapes.
  unsigned numLoops = generic.getNumLoops();
  std::vector<int64_t> range(numLoops, -1);
  std::vector<const Array *> operands = inputs;
  operands.push_back(&init);
  for (auto [map, array] : llvm::zip(maps, operands))
    for (auto [i, expr] : llvm::enumerate(map.getResults())) {
      auto dimExpr = dyn_cast<AffineDimExpr>(expr);
      if (auto constant = dyn_cast<AffineConstantExpr>(expr))
        if (constant.getValue() < 0 || constant.getValue() >= array->shape[i])
          return makeError("a linalg.generic constant index is out of bounds");
      if (!dimExpr)
        continue; // a constant, or an expression of indices (checked per element)
      unsigned dim = dimExpr.getPosition();
      if (range[dim] >= 0 && range[dim] != array->shape[i])
        return makeError("linalg.generic operands disagree on the size of loop #" +
                         llvm::Twine(dim));
      range[dim] = array->shape[i];
    }
  if (llvm::is_contained(range, -1))
    return makeError("a linalg.generic loop that no operand indexes");

  Block &body = generic.getRegion().front();
  Array out = init;
  out.dtype = DType::F64;
  std::vector<int64_t> point(numLoops, 0);
  auto flatIndex = [&](AffineMap map, const Array &array) {
    return indexedElement(map, array, point);
  };
  int64_t total = 1;
  for (int64_t r : range)
    total *= r;
  // Scalar constants the payload uses from outside (the canonicalizer hoists them).
  llvm::DenseMap<Value, double> outer;
  for (Operation &op : body)
    for (Value operand : op.getOperands()) {
      if (operand.getParentRegion() == &generic.getRegion())
        continue;
      auto constant = operand.getDefiningOp<arith::ConstantOp>();
      auto value = constant ? constantValues(constant.getValue(), 1) : std::nullopt;
      if (!value)
        return makeError("a linalg.generic payload uses a value from outside that is not a "
                         "scalar constant");
      outer[operand] = (*value)[0];
    }
  llvm::DenseMap<Value, double> scalars;
  for (int64_t n = 0; n < total; ++n) {
    scalars = outer;
    for (size_t i = 0; i < inputs.size(); ++i)
      scalars[body.getArgument(i)] = inputs[i]->data[flatIndex(maps[i], *inputs[i])];
    int64_t outIndex = flatIndex(maps.back(), out);
    scalars[body.getArgument(inputs.size())] = out.data[outIndex];
    for (Operation &op : body) {
      if (auto yield = dyn_cast<linalg::YieldOp>(op)) {
        out.data[outIndex] = scalars.at(yield.getOperand(0));
        break;
      }
      auto operand = [&](unsigned i) { return scalars.at(op.getOperand(i)); };
      double result;
      if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
        auto values = constantValues(constant.getValue(), 1);
        if (!values)
          return makeError("unsupported constant in a linalg.generic payload");
        result = (*values)[0];
      } else if (auto binary = binaryFunction(&op)) {
        result = binary(operand(0), operand(1));
      } else if (auto unary = unaryFunction(&op)) {
        result = unary(operand(0));
      } else if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
        result = comparePredicate(cmp.getPredicate(), operand(0), operand(1));
      } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
        result = compareIntegers(cmp.getPredicate(), operand(0), operand(1));
      } else if (auto index = dyn_cast<linalg::IndexOp>(op)) {
        result = static_cast<double>(point[index.getDim()]);
      } else if (isa<arith::SelectOp>(op)) {
        result = operand(0) != 0 ? operand(1) : operand(2);
      } else {
        return makeError("the reference interpreter does not support '" +
                         op.getName().getStringRef() + "' in a linalg.generic payload");
      }
      scalars[op.getResult(0)] = result;
    }
    // The next point of the iteration space, last loop fastest.
    for (int64_t d = numLoops - 1; d >= 0 && ++point[d] == range[d]; --d)
      point[d] = 0;
  }
  return out;
}

/// The value of an affine expression of loop indices at `point` (no symbols).
static int64_t evaluateIndex(AffineExpr expr, ArrayRef<int64_t> point) {
  if (auto dim = dyn_cast<AffineDimExpr>(expr))
    return point[dim.getPosition()];
  if (auto constant = dyn_cast<AffineConstantExpr>(expr))
    return constant.getValue();
  auto binary = cast<AffineBinaryOpExpr>(expr);
  int64_t lhs = evaluateIndex(binary.getLHS(), point);
  int64_t rhs = evaluateIndex(binary.getRHS(), point);
  switch (expr.getKind()) {
  case AffineExprKind::Add:
    return lhs + rhs;
  case AffineExprKind::Mul:
    return lhs * rhs;
  case AffineExprKind::Mod:
    return llvm::mod(lhs, rhs);
  case AffineExprKind::FloorDiv:
    return llvm::divideFloorSigned(lhs, rhs);
  case AffineExprKind::CeilDiv:
    return llvm::divideCeilSigned(lhs, rhs);
  default:
    llvm_unreachable("an affine expression of loop indices");
  }
}

int64_t reference::indexedElement(AffineMap map, const Array &array, ArrayRef<int64_t> point) {
  int64_t flat = 0;
  for (auto [i, expr] : llvm::enumerate(map.getResults())) {
    int64_t index = evaluateIndex(expr, point);
    // linalg's verifier keeps a computed index (a reversal of the token dim) inside static
    // shapes; dims and constants were checked against the run-time shapes.
    assert(index >= 0 && index < array.shape[i] && "an indexing map inside its operand");
    flat = flat * array.shape[i] + index;
  }
  return flat;
}

void reference::forEachElement(ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets,
                           ArrayRef<int64_t> inShape,
                           llvm::function_ref<void(int64_t in, int64_t out)> body) {
  std::vector<int64_t> point(shape.size(), 0);
  int64_t total = Array::numElementsOf(std::vector<int64_t>(shape.begin(), shape.end()));
  for (int64_t out = 0; out < total; ++out) {
    int64_t in = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      in = in * inShape[d] + offsets[d] + point[d];
    body(in, out);
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0 && ++point[d] == shape[d]; --d)
      point[d] = 0;
  }
}

/// tensor.pad with static amounts and a constant padding value.
static Expected<Array> padTensor(tensor::PadOp pad, const Array &source) {
  Value padding = pad.getConstantPaddingValue();
  auto constant = padding ? padding.getDefiningOp<arith::ConstantOp>() : arith::ConstantOp();
  auto value = constant ? constantValues(constant.getValue(), 1) : std::nullopt;
  if (!value || !pad.getResultType().hasStaticShape())
    return makeError("the reference interpreter evaluates tensor.pad with static sizes and a "
                     "constant padding value only");
  std::vector<int64_t> shape(pad.getResultType().getShape().begin(),
                             pad.getResultType().getShape().end());
  Array out(DType::F64, shape);
  std::fill(out.data.begin(), out.data.end(), (*value)[0]);
  // Write the source into the padded array: the inverse of a slice at the low amounts.
  SmallVector<int64_t> low(pad.getStaticLow());
  std::vector<int64_t> point(source.rank(), 0);
  for (int64_t in = 0; in < source.numElements(); ++in) {
    int64_t flat = 0;
    for (int64_t d = 0; d < source.rank(); ++d)
      flat = flat * shape[d] + low[d] + point[d];
    out.data[flat] = source.data[in];
    for (int64_t d = source.rank() - 1; d >= 0 && ++point[d] == source.shape[d]; --d)
      point[d] = 0;
  }
  return out;
}

/// tensor.extract_slice with static offsets and sizes, unit strides, no rank reduction.
/// tensor.extract_slice with static offsets and sizes and unit strides; dropping unit dims
/// (a rank-reducing slice) keeps the element order.
static Expected<Array> extractSlice(tensor::ExtractSliceOp slice, const Array &source) {
  if (!slice.hasUnitStride() || ShapedType::isDynamicShape(slice.getStaticOffsets()) ||
      ShapedType::isDynamicShape(slice.getStaticSizes()) || !slice.getType().hasStaticShape())
    return makeError("the reference interpreter evaluates static, unit-stride "
                     "tensor.extract_slice ops only");
  std::vector<int64_t> sizes(slice.getStaticSizes().begin(), slice.getStaticSizes().end());
  Array out(DType::F64, sizes);
  forEachElement(sizes, slice.getStaticOffsets(), source.shape,
                 [&](int64_t in, int64_t at) { out.data[at] = source.data[in]; });
  out.shape.assign(slice.getType().getShape().begin(), slice.getType().getShape().end());
  return out;
}

/// tensor.insert_slice with static offsets and sizes and unit strides.
static Expected<Array> insertSlice(tensor::InsertSliceOp insert, const Array &source,
                                   const Array &dest) {
  if (!insert.hasUnitStride() || ShapedType::isDynamicShape(insert.getStaticOffsets()) ||
      ShapedType::isDynamicShape(insert.getStaticSizes()))
    return makeError("the reference interpreter evaluates static, unit-stride "
                     "tensor.insert_slice ops only");
  std::vector<int64_t> sizes(insert.getStaticSizes().begin(), insert.getStaticSizes().end());
  Array out = dest;
  forEachElement(sizes, insert.getStaticOffsets(), dest.shape,
                 [&](int64_t at, int64_t in) { out.data[at] = source.data[in]; });
  return out;
}

/// The values of a tensor constant in the function body.
static Expected<Array> tensorConstant(arith::ConstantOp constant) {
  // A scalar: a linalg.fill value, or one that canonicalization hoisted out of a payload.
  if (auto scalar = dyn_cast<FloatAttr>(constant.getValue())) {
    Array array(DType::F64, {});
    array.data.assign(1, scalar.getValueAsDouble());
    return array;
  }
  if (auto scalar = dyn_cast<IntegerAttr>(constant.getValue())) {
    Array array(DType::F64, {});
    array.data.assign(1, static_cast<double>(scalar.getInt()));
    return array;
  }
  auto type = dyn_cast<RankedTensorType>(constant.getType());
  if (!type || !type.hasStaticShape())
    return makeError("the reference interpreter needs statically shaped tensor constants");
  auto values = constantValues(constant.getValue(), type.getNumElements());
  if (!values)
    return makeError("unsupported constant in the function body");
  Array array(DType::F64, std::vector<int64_t>(type.getShape().begin(), type.getShape().end()));
  array.data = std::move(*values);
  return array;
}

Expected<std::vector<Array>> interpretFunction(ModuleOp module, StringRef funcName,
                                               ArrayRef<Array> args) {
  return evaluateFunction(module, funcName, args, interpretRecurrence, /*fuse=*/false);
}

Expected<OwningOpRef<ModuleOp>> reference::prepareFunctions(ModuleOp module, bool fuse) {
  // Named ops are evaluated through their generic form, on a private copy; compiled targets
  // fuse the element-wise ops around each recurrence into it first.
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  if (fuse) {
    pm.addPass(createLinrecFuse());
    pm.addPass(createCanonicalizerPass());
  }
  if (failed(pm.run(*copy)))
    return makeError("preparing the module (linrec-normalize, linrec-fuse) failed");
  return std::move(copy);
}

Expected<std::vector<Array>> evaluateFunction(ModuleOp module, StringRef funcName,
                                              ArrayRef<Array> args,
                                              RecurrenceEvaluator evaluator, bool fuse,
                                              WindowEvaluator windowEvaluator) {
  Expected<OwningOpRef<ModuleOp>> copy = prepareFunctions(module, fuse);
  if (!copy)
    return copy.takeError();
  Expected<func::FuncOp> func = functionWithBody(**copy, funcName);
  if (!func)
    return func.takeError();
  llvm::DenseMap<Value, Array> values;
  return evaluateBody(*func, args, evaluator, windowEvaluator, values);
}

Expected<func::FuncOp> reference::functionWithBody(ModuleOp module, StringRef funcName) {
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return makeError("no function @" + funcName + " with a body in the module");
  return func;
}

Expected<std::vector<Array>> reference::evaluateBody(func::FuncOp func, ArrayRef<Array> args,
                                                     RecurrenceEvaluator evaluator,
                                                     WindowEvaluator windowEvaluator,
                                                     llvm::DenseMap<Value, Array> &values) {
  StringRef funcName = func.getSymName();
  if (func.getNumArguments() != args.size())
    return makeError("@" + funcName + " takes " + llvm::Twine(func.getNumArguments()) +
                     " arguments, got " + llvm::Twine(args.size()));

  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type)
      return makeError("argument #" + llvm::Twine(i) + " of @" + funcName +
                       " is not a ranked tensor");
    const Array &a = args[i];
    bool ok = a.rank() == type.getRank();
    for (int64_t d = 0; ok && d < type.getRank(); ++d)
      ok = type.isDynamicDim(d) || type.getDimSize(d) == a.shape[d];
    if (!ok)
      return makeError("argument #" + llvm::Twine(i) + " of @" + funcName + " has shape " +
                       a.shapeString() + " but the function takes " +
                       shapeString(type.getShape()));
    values[arg] = a;
  }

  for (Operation &bodyOp : func.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(bodyOp)) {
      std::vector<Array> results;
      for (Value v : ret.getOperands())
        results.push_back(values.at(v));
      return results;
    }
    if (auto constant = dyn_cast<arith::ConstantOp>(bodyOp)) {
      Expected<Array> array = tensorConstant(constant);
      if (!array)
        return array.takeError();
      values[constant.getResult()] = std::move(*array);
      continue;
    }
    if (auto fill = dyn_cast<linalg::FillOp>(bodyOp)) {
      const Array &value = values.at(fill.getInputs()[0]);
      Array filled = values.at(fill.getOutputs()[0]);
      std::fill(filled.data.begin(), filled.data.end(), value.data.at(0));
      values[fill->getResult(0)] = std::move(filled);
      continue;
    }
    if (auto empty = dyn_cast<tensor::EmptyOp>(bodyOp)) {
      if (!empty.getType().hasStaticShape())
        return makeError("the reference interpreter needs statically shaped tensor.empty");
      auto shape = empty.getType().getShape();
      values[empty.getResult()] =
          Array(DType::F64, std::vector<int64_t>(shape.begin(), shape.end()));
      continue;
    }
    // Single-result tensor ops around the recurrences.
    std::optional<Expected<Array>> tensorResult =
        llvm::TypeSwitch<Operation *, std::optional<Expected<Array>>>(&bodyOp)
            .Case([&](linalg::GenericOp generic) {
              std::vector<const Array *> inputs;
              for (Value v : generic.getDpsInputs())
                inputs.push_back(&values.at(v));
              return evaluateGeneric(generic, inputs, values.at(generic.getDpsInits()[0]));
            })
            .Case([&](tensor::PadOp pad) { return padTensor(pad, values.at(pad.getSource())); })
            .Case([&](tensor::ExtractSliceOp slice) {
              return extractSlice(slice, values.at(slice.getSource()));
            })
            .Case([&](tensor::InsertSliceOp insert) {
              return insertSlice(insert, values.at(insert.getSource()),
                                 values.at(insert.getDest()));
            })
            .Default([](Operation *) { return std::nullopt; });
    if (tensorResult) {
      if (!*tensorResult)
        return tensorResult->takeError();
      values[bodyOp.getResult(0)] = std::move(**tensorResult);
      continue;
    }
    if (auto norm = dyn_cast<HeadsRmsNormOp>(bodyOp)) {
      Array x = values.at(norm.getInput());
      if (x.rank() != 4)
        return makeError("linrec.heads_rms_norm takes [B, T, H, D], got " + x.shapeString());
      applyHeadsRmsNorm(x, norm.getEps().convertToDouble());
      values[norm.getResult()] = std::move(x);
      continue;
    }
    if (auto window = dyn_cast<WindowAttentionOp>(bodyOp)) {
      std::vector<Array> operands = {values.at(window.getQ()), values.at(window.getK()),
                                     values.at(window.getV())};
      Expected<std::vector<Array>> results =
          windowEvaluator ? windowEvaluator(window, operands)
                          : interpretWindowAttention(window, operands[0], operands[1],
                                                     operands[2]);
      if (!results)
        return results.takeError();
      for (auto [v, a] : llvm::zip(window->getResults(), *results))
        values[v] = std::move(a);
      continue;
    }
    auto rec = dyn_cast<RecurrenceOp>(bodyOp);
    if (!rec)
      return makeError("the reference interpreter does not support '" +
                       bodyOp.getName().getStringRef() + "' in a function body");
    std::vector<Array> operands;
    for (Value v : rec->getOperands())
      operands.push_back(values.at(v));
    Expected<std::vector<Array>> results = evaluator(rec, operands);
    if (!results)
      return results.takeError();
    for (auto [v, a] : llvm::zip(rec.getResults(), *results))
      values[v] = std::move(a);
  }
  return makeError("@" + funcName + " has no func.return");
}

} // namespace linrec
