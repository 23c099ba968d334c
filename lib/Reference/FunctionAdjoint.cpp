//===- FunctionAdjoint.cpp - the float64 adjoint of a layer function -------===//
//
// The forward runs once keeping every value (FunctionEvaluation.h); then the body's ops run
// in reverse, each adding its vector-Jacobian product to its operands' adjoints: recurrences
// through their adjoint (RecurrenceAdjoint.cpp), window attentions, linalg.generic ops (the
// payload replayed per iteration point, reductions included), pads, slices, fills and norms
// over heads. The result is the gradient of L = Σ_r ⟨cotangent_r, result_r⟩ for every
// argument: the reference that derived backward kernels are checked against.
//
//===----------------------------------------------------------------------===//

#include "FunctionEvaluation.h"
#include "RecurrenceRunner.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <unordered_map>

namespace linrec {
namespace reference {
namespace {

class FunctionAdjoint {
public:
  explicit FunctionAdjoint(llvm::DenseMap<Value, Array> &values) : values(values) {}

  /// The adjoint of `value`, zeros of its shape until something adds to it. (References stay
  /// valid: the map's nodes do not move.)
  Array &adjoint(Value value) {
    auto it = adjoints.find(value.getAsOpaquePointer());
    if (it != adjoints.end())
      return it->second;
    auto forward = values.find(value);
    assert(forward != values.end() && "every value the adjoint reaches was computed");
    if (forward == values.end())
      llvm::report_fatal_error("internal error: the adjoint reached a value the forward did "
                               "not compute");
    return adjoints.try_emplace(value.getAsOpaquePointer(), DType::F64, forward->second.shape)
        .first->second;
  }
  bool hasAdjoint(Value value) const { return adjoints.count(value.getAsOpaquePointer()); }

  Error backward(Operation &op) {
    // Ops whose results nothing differentiable reached add nothing.
    if (llvm::none_of(op.getResults(), [&](Value r) { return hasAdjoint(r); }))
      return Error::success();
    return llvm::TypeSwitch<Operation *, Error>(&op)
        .Case([&](RecurrenceOp rec) { return recurrence(rec); })
        .Case([&](WindowAttentionOp window) { return windowAttention(window); })
        .Case([&](linalg::GenericOp generic) { return genericAdjoint(generic); })
        .Case([&](tensor::PadOp pad) { return padAdjoint(pad); })
        .Case([&](tensor::ExtractSliceOp slice) { return extractAdjoint(slice); })
        .Case([&](tensor::InsertSliceOp insert) { return insertAdjoint(insert); })
        .Case([&](HeadsRmsNormOp norm) {
          headsRmsNormAdjoint(values.at(norm.getInput()), adjoint(norm.getResult()),
                              norm.getEps().convertToDouble(), adjoint(norm.getInput()));
          return Error::success();
        })
        // A fill overwrites its output; constants and empty tensors are constants.
        .Case<linalg::FillOp, arith::ConstantOp, tensor::EmptyOp>(
            [](Operation *) { return Error::success(); })
        .Default([](Operation *other) {
          return makeError("the reference adjoint does not differentiate '" +
                           other->getName().getStringRef() + "' in a function body");
        });
  }

private:
  llvm::DenseMap<Value, Array> &values;
  std::unordered_map<const void *, Array> adjoints;

  Error recurrence(RecurrenceOp rec) {
    std::vector<Array> operands, cotangents;
    for (Value v : rec->getOperands())
      operands.push_back(values.at(v));
    for (Value r : rec->getResults())
      cotangents.push_back(adjoint(r));
    Expected<std::vector<Array>> gradients =
        interpretRecurrenceGradient(rec, operands, cotangents);
    if (!gradients)
      return gradients.takeError();
    for (auto [v, g] : llvm::zip(rec->getOperands(), *gradients))
      if (!g.data.empty() || !values.at(v).data.empty())
        add(v, g);
    return Error::success();
  }

  void add(Value to, const Array &g) {
    Array &a = adjoint(to);
    if (g.data.size() != a.data.size())
      return; // an index (cu_seqlens): no gradient
    for (size_t i = 0; i < g.data.size(); ++i)
      a.data[i] += g.data[i];
  }

  Error windowAttention(WindowAttentionOp op) {
    const Array &q = values.at(op.getQ()), &k = values.at(op.getK()), &v = values.at(op.getV());
    const Array &g = adjoint(op->getResult(0));
    const Array *gden = op->getNumResults() == 2 ? &adjoint(op->getResult(1)) : nullptr;
    Array &gq = adjoint(op.getQ()), &gk = adjoint(op.getK()), &gv = adjoint(op.getV());
    int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], dk = q.shape[3], dv = v.shape[3];
    double scale = op.getScale().convertToDouble();
    auto at = [&](int64_t b, int64_t t, int64_t h, int64_t d) { return ((b * T + t) * H + h) * d; };
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < T; ++i) {
          int64_t first = windowStart(op.getWindow(), int64_t(op.getSize()), i);
          size_t n = size_t(i - first + 1);
          std::vector<double> scores(n), gw(n, 0.0), weights;
          for (int64_t j = first; j <= i; ++j) {
            double s = 0;
            for (int64_t d = 0; d < dk; ++d)
              s += q.data[at(b, i, h, dk) + d] * k.data[at(b, j, h, dk) + d];
            scores[j - first] = scale * s;
            for (int64_t c = 0; c < dv; ++c)
              gw[j - first] += g.data[at(b, i, h, dv) + c] * v.data[at(b, j, h, dv) + c];
          }
          double gsum = gden ? gden->data[(b * T + i) * H + h] : 0.0;
          std::vector<double> gs =
              windowScoresAdjoint(op.getWeighting(), scores, gw, gsum, weights);
          for (int64_t j = first; j <= i; ++j) {
            double w = weights[j - first], s = gs[j - first];
            for (int64_t d = 0; d < dk; ++d) {
              gq.data[at(b, i, h, dk) + d] += scale * s * k.data[at(b, j, h, dk) + d];
              gk.data[at(b, j, h, dk) + d] += scale * s * q.data[at(b, i, h, dk) + d];
            }
            for (int64_t c = 0; c < dv; ++c)
              gv.data[at(b, j, h, dv) + c] += w * g.data[at(b, i, h, dv) + c];
          }
        }
    return Error::success();
  }

  /// Replays the payload at every iteration point, last point first: the output element's
  /// adjoint flows into the inputs' elements and, through the payload's use of the output
  /// (a reduction's accumulator), to the element's value before the point.
  Error genericAdjoint(linalg::GenericOp generic) {
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    auto dpsInputs = generic.getDpsInputs(); // (one range: the accessor builds a new one)
    std::vector<Value> inputs(dpsInputs.begin(), dpsInputs.end());
    Value init = generic.getDpsInits()[0];
    Array out = values.at(init); // the output as the forward builds it, point by point
    Array &gOut = adjoint(generic->getResult(0));
    std::vector<int64_t> range(generic.getNumLoops(), 1);
    std::vector<const Array *> operands;
    for (Value v : inputs)
      operands.push_back(&values.at(v));
    operands.push_back(&out);
    for (auto [map, array] : llvm::zip(maps, operands))
      for (auto [i, expr] : llvm::enumerate(map.getResults()))
        if (auto dim = dyn_cast<AffineDimExpr>(expr))
          range[dim.getPosition()] = array->shape[i];
    int64_t total = 1;
    for (int64_t r : range)
      total *= r;
    auto flatIndex = [](AffineMap map, const Array &array, ArrayRef<int64_t> point) {
      return indexedElement(map, array, point);
    };
    auto pointOf = [&](int64_t n) {
      std::vector<int64_t> point(range.size());
      for (int64_t d = int64_t(range.size()) - 1; d >= 0; --d) {
        point[d] = n % range[d];
        n /= range[d];
      }
      return point;
    };
    Block &body = generic.getRegion().front();
    // Forward: the output element before each point (reductions read it).
    std::vector<double> before(total);
    for (int64_t n = 0; n < total; ++n) {
      std::vector<int64_t> point = pointOf(n);
      int64_t o = flatIndex(maps.back(), out, point);
      before[n] = out.data[o];
      llvm::DenseMap<Value, double> scalars;
      if (Error e = payload(body, operands, maps, point, before[n], flatIndex, scalars))
        return e;
      out.data[o] = scalars.at(cast<linalg::YieldOp>(body.getTerminator()).getOperand(0));
    }
    Array gInit = gOut; // per output element: the adjoint of its current value
    std::vector<Array *> gInputs;
    for (Value v : inputs)
      gInputs.push_back(&adjoint(v));
    for (int64_t n = total; n-- > 0;) {
      std::vector<int64_t> point = pointOf(n);
      int64_t o = flatIndex(maps.back(), out, point);
      llvm::DenseMap<Value, double> scalars;
      if (Error e = payload(body, operands, maps, point, before[n], flatIndex, scalars))
        return e;
      llvm::DenseMap<Value, double> grads;
      grads[cast<linalg::YieldOp>(body.getTerminator()).getOperand(0)] += gInit.data[o];
      for (Operation &op : llvm::reverse(body.without_terminator()))
        payloadAdjoint(op, scalars, grads);
      for (size_t i = 0; i < inputs.size(); ++i)
        gInputs[i]->data[flatIndex(maps[i], *operands[i], point)] +=
            grads.lookup(body.getArgument(i));
      gInit.data[o] = grads.lookup(body.getArgument(inputs.size()));
    }
    add(init, gInit);
    return Error::success();
  }

  /// The payload's scalars at `point`, the output element `current` before it.
  template <typename FlatIndex>
  static Error payload(Block &body, const std::vector<const Array *> &operands,
                       ArrayRef<AffineMap> maps, ArrayRef<int64_t> point, double current,
                       FlatIndex &flatIndex, llvm::DenseMap<Value, double> &scalars) {
    size_t numInputs = operands.size() - 1;
    for (size_t i = 0; i < numInputs; ++i)
      scalars[body.getArgument(i)] = operands[i]->data[flatIndex(maps[i], *operands[i], point)];
    scalars[body.getArgument(numInputs)] = current;
    auto value = [&](Value v) -> double {
      if (auto it = scalars.find(v); it != scalars.end())
        return it->second;
      auto constant = v.getDefiningOp<arith::ConstantOp>(); // hoisted outside the payload
      auto values = constant ? constantValues(constant.getValue(), 1) : std::nullopt;
      return values ? (*values)[0] : 0.0;
    };
    for (Operation &op : body.without_terminator()) {
      double result;
      if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
        result = value(constant.getResult());
      } else if (auto binary = binaryFunction(&op)) {
        result = binary(value(op.getOperand(0)), value(op.getOperand(1)));
      } else if (auto unary = unaryFunction(&op)) {
        result = unary(value(op.getOperand(0)));
      } else if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
        result = comparePredicate(cmp.getPredicate(), value(op.getOperand(0)),
                                  value(op.getOperand(1)));
      } else if (isa<arith::SelectOp>(op)) {
        result = value(op.getOperand(0)) != 0 ? value(op.getOperand(1))
                                              : value(op.getOperand(2));
      } else {
        return makeError("the reference adjoint does not differentiate '" +
                         op.getName().getStringRef() + "' in a linalg.generic payload");
      }
      scalars[op.getResult(0)] = result;
    }
    for (Value v : body.getTerminator()->getOperands())
      if (!scalars.count(v))
        scalars[v] = value(v);
    return Error::success();
  }

  static void payloadAdjoint(Operation &op, llvm::DenseMap<Value, double> &scalars,
                             llvm::DenseMap<Value, double> &grads) {
    double g = grads.lookup(op.getResult(0));
    if (g == 0)
      return;
    auto x = [&](unsigned i) { return scalars.lookup(op.getOperand(i)); };
    auto to = [&](unsigned i, double d) { grads[op.getOperand(i)] += d; };
    double fx = scalars.lookup(op.getResult(0));
    llvm::TypeSwitch<Operation *>(&op)
        .Case([&](arith::AddFOp) { to(0, g), to(1, g); })
        .Case([&](arith::SubFOp) { to(0, g), to(1, -g); })
        .Case([&](arith::MulFOp) { to(0, g * x(1)), to(1, g * x(0)); })
        // Through the quotient: x/x is exactly 1, so the two parts of a ratio of one value
        // (MoM's top-1 weight p/p) cancel exactly, as the derivative of a constant does.
        .Case([&](arith::DivFOp) { to(0, g / x(1)), to(1, -g * fx / x(1)); })
        .Case<arith::MaximumFOp, arith::MaxNumFOp>([&](auto) { to(x(0) >= x(1) ? 0 : 1, g); })
        .Case<arith::MinimumFOp, arith::MinNumFOp>([&](auto) { to(x(0) <= x(1) ? 0 : 1, g); })
        .Case([&](math::PowFOp) {
          to(0, g * x(1) * std::pow(x(0), x(1) - 1));
          if (x(0) > 0)
            to(1, g * fx * std::log(x(0)));
        })
        .Case([&](arith::SelectOp) { to(x(0) != 0 ? 1 : 2, g); })
        .Case([&](arith::NegFOp) { to(0, -g); })
        .Case([&](math::ExpOp) { to(0, g * fx); })
        .Case([&](math::Exp2Op) { to(0, g * fx * std::log(2.0)); })
        .Case([&](math::ExpM1Op) { to(0, g * (fx + 1)); })
        .Case([&](math::LogOp) { to(0, g / x(0)); })
        .Case([&](math::Log1pOp) { to(0, g / (1 + x(0))); })
        .Case([&](math::Log2Op) { to(0, g / (x(0) * std::log(2.0))); })
        .Case([&](math::SqrtOp) { to(0, g * 0.5 / fx); })
        .Case([&](math::RsqrtOp) { to(0, -g * 0.5 * fx * fx * fx); })
        .Case([&](math::TanhOp) { to(0, g * (1 - fx * fx)); })
        .Case([&](math::AbsFOp) { to(0, x(0) > 0 ? g : x(0) < 0 ? -g : 0.0); })
        .Case([&](math::SinOp) { to(0, g * std::cos(x(0))); })
        .Case([&](math::CosOp) { to(0, -g * std::sin(x(0))); })
        .Case([&](math::ErfOp) { to(0, g * 2 / std::sqrt(M_PI) * std::exp(-x(0) * x(0))); })
        .Default([](Operation *) {}); // constants, comparisons, logical ops
  }

  Error padAdjoint(tensor::PadOp pad) {
    const Array &g = adjoint(pad.getResult());
    Array &gs = adjoint(pad.getSource());
    SmallVector<int64_t> low(pad.getStaticLow());
    std::vector<int64_t> point(gs.rank(), 0);
    for (int64_t in = 0; in < gs.numElements(); ++in) {
      int64_t flat = 0;
      for (int64_t d = 0; d < gs.rank(); ++d)
        flat = flat * g.shape[d] + low[d] + point[d];
      gs.data[in] += g.data[flat];
      for (int64_t d = gs.rank() - 1; d >= 0 && ++point[d] == gs.shape[d]; --d)
        point[d] = 0;
    }
    return Error::success();
  }

  Error extractAdjoint(tensor::ExtractSliceOp slice) {
    const Array &g = adjoint(slice.getResult());
    Array &gs = adjoint(slice.getSource());
    forEachElement(slice.getStaticSizes(), slice.getStaticOffsets(), gs.shape,
              [&](int64_t in, int64_t at) { gs.data[in] += g.data[at]; });
    return Error::success();
  }

  Error insertAdjoint(tensor::InsertSliceOp insert) {
    Array g = adjoint(insert.getResult()); // a copy: the region goes to the source
    Array &gSource = adjoint(insert.getSource());
    forEachElement(insert.getStaticSizes(), insert.getStaticOffsets(), g.shape,
              [&](int64_t in, int64_t at) {
                gSource.data[at] += g.data[in];
                g.data[in] = 0; // overwritten in the destination
              });
    add(insert.getDest(), g);
    return Error::success();
  }
};

} // namespace
} // namespace reference

llvm::Expected<std::vector<Array>> interpretFunctionGradient(mlir::ModuleOp module,
                                                             llvm::StringRef funcName,
                                                             llvm::ArrayRef<Array> args,
                                                             llvm::ArrayRef<Array> cotangents) {
  using namespace reference;
  Expected<OwningOpRef<ModuleOp>> copy = prepareFunctions(module, /*fuse=*/false);
  if (!copy)
    return copy.takeError();
  Expected<func::FuncOp> found = functionWithBody(**copy, funcName);
  if (!found)
    return found.takeError();
  func::FuncOp func = *found;
  llvm::DenseMap<Value, Array> values;
  Expected<std::vector<Array>> results =
      evaluateBody(func, args, interpretRecurrence, nullptr, values);
  if (!results)
    return results.takeError();
  if (cotangents.size() != results->size())
    return makeError("@" + funcName + " has " + llvm::Twine(results->size()) +
                     " results, got " + llvm::Twine(cotangents.size()) + " cotangents");
  FunctionAdjoint adjoint(values);
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    if (cotangents[i].shape != (*results)[i].shape)
      return makeError("cotangent #" + llvm::Twine(i) + " has shape " +
                       cotangents[i].shapeString() + " but result #" + llvm::Twine(i) +
                       " has " + (*results)[i].shapeString());
    Array &a = adjoint.adjoint(v);
    for (size_t e = 0; e < a.data.size(); ++e)
      a.data[e] += cotangents[i].data[e];
  }
  for (Operation &op : llvm::reverse(func.getBody().front().without_terminator()))
    if (Error e = adjoint.backward(op))
      return std::move(e);
  std::vector<Array> gradients;
  for (BlockArgument arg : func.getArguments())
    gradients.push_back(adjoint.hasAdjoint(arg) ? adjoint.adjoint(arg)
                                                : Array(DType::F64, args[arg.getArgNumber()].shape));
  return gradients;
}

} // namespace linrec
