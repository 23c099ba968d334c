//===- Interpreter.cpp - the float64 reference semantics ------------------===//
//
// A recurrence body is compiled once into a list of steps over numbered slots (one per SSA
// value), then run for every (sequence, head) and token. Everything is float64.
//
//===----------------------------------------------------------------------===//

#include "linrec/Reference/Interpreter.h"
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

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

namespace {

using Slot = std::vector<double>;

enum class StepKind {
  Binary, Unary, Constant, Broadcast, Reduction, CompareF, SelectValue, // per-token arithmetic
  Shuffle,
  Decay, Delta, Write, Read, ReadProduct, SelectState, FeatureMap, HedgehogMap, PolynomialMap,
  L2Norm, WindowRead, Project // linrec
};

/// One body op, with the slots it reads and the slot it writes.
struct Step {
  StepKind kind;
  Operation *op;
  SmallVector<unsigned, 4> operands;
  unsigned result = 0;
  unsigned secondResult = 0; // WindowRead's denominator
  double (*binary)(double, double) = nullptr;
  double (*unary)(double) = nullptr;
  Slot constant;
  /// WindowRead: the (position, key, value) rows of the tokens its window can still reach,
  /// oldest first.
  struct WindowRow {
    int64_t position;
    Slot key, value;
  };
  std::deque<WindowRow> window;
  /// Read with block_start: the state index it reads, and that state at the block's start.
  unsigned blockState = 0;
  Slot blockSnapshot;
};

double stableSigmoid(double x) {
  double e = std::exp(-std::abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
double logSigmoid(double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::abs(x))); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double elu(double x) { return x > 0 ? x : std::expm1(x); }

double (*binaryFunction(Operation *op))(double, double) {
  return llvm::TypeSwitch<Operation *, double (*)(double, double)>(op)
      .Case([](arith::AddFOp) { return [](double a, double b) { return a + b; }; })
      .Case([](arith::SubFOp) { return [](double a, double b) { return a - b; }; })
      .Case([](arith::MulFOp) { return [](double a, double b) { return a * b; }; })
      .Case([](arith::DivFOp) { return [](double a, double b) { return a / b; }; })
      .Case([](arith::MaximumFOp) {
        return [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); };
      })
      .Case([](arith::MinimumFOp) {
        return [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); };
      })
      .Case([](arith::MaxNumFOp) { return [](double a, double b) { return std::fmax(a, b); }; })
      .Case([](arith::MinNumFOp) { return [](double a, double b) { return std::fmin(a, b); }; })
      .Case([](math::PowFOp) { return [](double a, double b) { return std::pow(a, b); }; })
      .Case([](arith::AndIOp) { return [](double a, double b) { return double(a != 0 && b != 0); }; })
      .Case([](arith::OrIOp) { return [](double a, double b) { return double(a != 0 || b != 0); }; })
      .Case([](arith::XOrIOp) { return [](double a, double b) { return double((a != 0) != (b != 0)); }; })
      .Default([](Operation *) { return nullptr; });
}

double (*unaryFunction(Operation *op))(double) {
  return llvm::TypeSwitch<Operation *, double (*)(double)>(op)
      .Case([](arith::NegFOp) { return [](double a) { return -a; }; })
      .Case([](math::ExpOp) { return [](double a) { return std::exp(a); }; })
      .Case([](math::Exp2Op) { return [](double a) { return std::exp2(a); }; })
      .Case([](math::ExpM1Op) { return [](double a) { return std::expm1(a); }; })
      .Case([](math::LogOp) { return [](double a) { return std::log(a); }; })
      .Case([](math::Log1pOp) { return [](double a) { return std::log1p(a); }; })
      .Case([](math::Log2Op) { return [](double a) { return std::log2(a); }; })
      .Case([](math::SqrtOp) { return [](double a) { return std::sqrt(a); }; })
      .Case([](math::RsqrtOp) { return [](double a) { return 1 / std::sqrt(a); }; })
      .Case([](math::TanhOp) { return [](double a) { return std::tanh(a); }; })
      .Case([](math::AbsFOp) { return [](double a) { return std::abs(a); }; })
      .Case([](math::SinOp) { return [](double a) { return std::sin(a); }; })
      .Case([](math::CosOp) { return [](double a) { return std::cos(a); }; })
      .Case([](math::ErfOp) { return [](double a) { return std::erf(a); }; })
      .Default([](Operation *) { return nullptr; });
}

double applyFeatureMap(FeatureMapKind kind, double x) {
  switch (kind) {
  case FeatureMapKind::Identity:
    return x;
  case FeatureMapKind::Relu:
    return x > 0 ? x : 0;
  case FeatureMapKind::Elu:
    return elu(x);
  case FeatureMapKind::EluPlusOne:
    return elu(x) + 1;
  case FeatureMapKind::Exp:
    return std::exp(x);
  case FeatureMapKind::Sigmoid:
    return stableSigmoid(x);
  case FeatureMapKind::LogSigmoid:
    return logSigmoid(x);
  case FeatureMapKind::Softplus:
    return softplus(x);
  case FeatureMapKind::Softmax:
    break;
  }
  return x; // softmax is handled over the whole vector
}

bool comparePredicate(arith::CmpFPredicate p, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  using P = arith::CmpFPredicate;
  switch (p) {
  case P::AlwaysFalse: return false;
  case P::OEQ: return !unordered && a == b;
  case P::OGT: return !unordered && a > b;
  case P::OGE: return !unordered && a >= b;
  case P::OLT: return !unordered && a < b;
  case P::OLE: return !unordered && a <= b;
  case P::ONE: return !unordered && a != b;
  case P::ORD: return !unordered;
  case P::UEQ: return unordered || a == b;
  case P::UGT: return unordered || a > b;
  case P::UGE: return unordered || a >= b;
  case P::ULT: return unordered || a < b;
  case P::ULE: return unordered || a <= b;
  case P::UNE: return unordered || a != b;
  case P::UNO: return unordered;
  case P::AlwaysTrue: return true;
  }
  return false;
}

int64_t slotSize(Type type) {
  if (auto state = dyn_cast<StateType>(type))
    return state.getKeyDim() * state.getValueDim();
  if (auto vec = dyn_cast<VectorType>(type))
    return vec.getNumElements();
  return 1;
}

/// The elements of a float/int/bool constant attribute, expanded to `count` values.
std::optional<Slot> constantValues(Attribute attr, int64_t count) {
  Slot values;
  if (auto f = dyn_cast<FloatAttr>(attr))
    values.assign(count, f.getValueAsDouble());
  else if (auto i = dyn_cast<IntegerAttr>(attr))
    values.assign(count, static_cast<double>(i.getValue().getSExtValue() != 0 &&
                                                      i.getType().isInteger(1)
                                                  ? 1
                                                  : i.getValue().getSExtValue()));
  else if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    for (APFloat v : dense.getValues<APFloat>())
      values.push_back(v.convertToDouble());
  } else if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    for (APInt v : dense.getValues<APInt>())
      values.push_back(v.getBitWidth() == 1 ? double(v.getBoolValue())
                                            : double(v.getSExtValue()));
  } else
    return std::nullopt;
  if (static_cast<int64_t>(values.size()) != count)
    return std::nullopt;
  return values;
}

class RecurrenceRunner {
public:
  RecurrenceRunner(RecurrenceOp op, ArrayRef<Array> operands)
      : op(op), operands(operands) {}

  Expected<std::vector<Array>> run() {
    if (Error e = compileBody())
      return std::move(e);
    if (Error e = bindShapes())
      return std::move(e);
    std::vector<Array> results = allocateResults();
    for (int64_t seq = 0; seq < numSequences; ++seq)
      for (int64_t h = 0; h < heads; ++h)
        if (Error e = runSequence(seq, h, results))
          return std::move(e);
    return results;
  }

private:
  RecurrenceOp op;
  ArrayRef<Array> operands;
  llvm::DenseMap<Value, unsigned> slotOf;
  std::vector<Slot> slots;
  std::vector<Step> steps;
  int64_t batch = 0, tokens = 0, heads = 0, numSequences = 0;
  std::vector<int64_t> seqStart, seqEnd; // per sequence, the token range (in row `rowOf`)
  bool varlen = false;

  unsigned numInputs() { return op.getInputs().size(); }
  unsigned numParams() { return op.getParams().size(); }
  unsigned numInits() { return op.getInits().size(); }
  const Array &input(unsigned i) { return operands[i]; }
  const Array &param(unsigned i) { return operands[numInputs() + i]; }
  const Array &init(unsigned i) { return operands[numInputs() + numParams() + i]; }

  unsigned addSlot(Value value) {
    unsigned index = slots.size();
    slotOf[value] = index;
    slots.emplace_back(slotSize(value.getType()), 0.0);
    return index;
  }

  Error unsupported(Operation *bodyOp) {
    return makeError("the reference interpreter does not support '" +
                     bodyOp->getName().getStringRef() + "' in a recurrence body");
  }

  Error compileBody() {
    for (BlockArgument arg : op.getBodyBlock().getArguments())
      addSlot(arg);
    for (Operation &bodyOp : op.getBodyBlock().without_terminator()) {
      Step step;
      step.op = &bodyOp;
      for (Value operand : bodyOp.getOperands())
        step.operands.push_back(slotOf.at(operand));
      // A window read may return its denominator too.
      bool twoResults = isa<WindowReadOp>(bodyOp) && bodyOp.getNumResults() == 2;
      if (bodyOp.getNumResults() != 1 && !twoResults)
        return unsupported(&bodyOp);
      Value result = bodyOp.getResult(0);
      step.result = addSlot(result);
      if (twoResults)
        step.secondResult = addSlot(bodyOp.getResult(1));
      if ((step.binary = binaryFunction(&bodyOp)))
        step.kind = StepKind::Binary;
      else if ((step.unary = unaryFunction(&bodyOp)))
        step.kind = StepKind::Unary;
      else if (auto constant = dyn_cast<arith::ConstantOp>(bodyOp)) {
        auto values = constantValues(constant.getValue(), slotSize(result.getType()));
        if (!values)
          return unsupported(&bodyOp);
        step.kind = StepKind::Constant;
        step.constant = std::move(*values);
      } else {
        std::optional<StepKind> kind =
            llvm::TypeSwitch<Operation *, std::optional<StepKind>>(&bodyOp)
                .Case([](vector::BroadcastOp b) -> std::optional<StepKind> {
                  if (isa<VectorType>(b.getSource().getType()))
                    return std::nullopt; // only scalar -> vector splats
                  return StepKind::Broadcast;
                })
                .Case([](vector::ReductionOp r) -> std::optional<StepKind> {
                  using K = vector::CombiningKind;
                  K kind = r.getKind();
                  if (kind == K::ADD || kind == K::MUL || kind == K::MAXIMUMF ||
                      kind == K::MINIMUMF || kind == K::MAXNUMF || kind == K::MINNUMF)
                    return StepKind::Reduction;
                  return std::nullopt;
                })
                .Case([](arith::CmpFOp) { return StepKind::CompareF; })
                .Case([](arith::SelectOp) { return StepKind::SelectValue; })
                .Case([](DecayOp) { return StepKind::Decay; })
                .Case([](DeltaOp) { return StepKind::Delta; })
                .Case([](WriteOp) { return StepKind::Write; })
                .Case([](ReadOp) { return StepKind::Read; })
                .Case([](SelectOp) { return StepKind::SelectState; })
                .Case([](FeatureMapOp) { return StepKind::FeatureMap; })
                .Case([](HedgehogMapOp) { return StepKind::HedgehogMap; })
                .Case([](PolynomialMapOp) { return StepKind::PolynomialMap; })
                .Case([](ReadProductOp) { return StepKind::ReadProduct; })
                .Case([](vector::ShuffleOp) { return StepKind::Shuffle; })
                .Case([](L2NormOp) { return StepKind::L2Norm; })
                .Case([](WindowReadOp) { return StepKind::WindowRead; })
                .Case([](ProjectOp) { return StepKind::Project; })
                .Default([](Operation *) { return std::nullopt; });
        if (!kind)
          return unsupported(&bodyOp);
        step.kind = *kind;
      }
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
        step.blockState = op.getStateArgOf(read.getState()).getArgNumber(); // a yielded state
      steps.push_back(std::move(step));
    }
    return Error::success();
  }

  /// Checks the run-time shapes against each other and the op, and sets B, T, H and the
  /// sequences.
  Error bindShapes() {
    unsigned expected = numInputs() + numParams() + numInits() + (op.getCuSeqlens() ? 1 : 0);
    if (operands.size() != expected)
      return makeError("linrec.recurrence takes " + llvm::Twine(expected) + " operands, got " +
                       llvm::Twine(operands.size()));
    auto checkStatic = [&](const Array &a, Value v, const llvm::Twine &what) -> Error {
      auto type = cast<RankedTensorType>(v.getType());
      bool ok = a.rank() == type.getRank();
      for (int64_t d = 0; ok && d < type.getRank(); ++d)
        ok = type.isDynamicDim(d) || type.getDimSize(d) == a.shape[d];
      if (!ok)
        return makeError(what + " has shape " + a.shapeString() + " but the op takes " +
                         shapeString(type.getShape()));
      return Error::success();
    };
    for (unsigned i = 0; i < numInputs(); ++i) {
      if (Error e = checkStatic(input(i), op.getInputs()[i], "input #" + llvm::Twine(i)))
        return e;
      const Array &a = input(i);
      if (i == 0) {
        batch = a.shape[0];
        tokens = a.shape[1];
        heads = a.shape[2];
      } else if (a.shape[0] != batch || a.shape[1] != tokens || a.shape[2] != heads) {
        return makeError("input #" + llvm::Twine(i) + " has shape " + a.shapeString() +
                         " but input #0 has [B, T, H] = [" + llvm::Twine(batch) + ", " +
                         llvm::Twine(tokens) + ", " + llvm::Twine(heads) + "]");
      }
    }
    for (unsigned i = 0; i < numParams(); ++i) {
      if (Error e = checkStatic(param(i), op.getParams()[i], "param #" + llvm::Twine(i)))
        return e;
      if (param(i).shape[0] != heads)
        return makeError("param #" + llvm::Twine(i) + " has shape " + param(i).shapeString() +
                         " but H = " + llvm::Twine(heads));
    }

    if (Value cu = op.getCuSeqlens()) {
      varlen = true;
      const Array &offsets = operands.back();
      if (Error e = checkStatic(offsets, cu, "cu_seqlens"))
        return e;
      if (batch != 1)
        return makeError("with cu_seqlens the inputs are packed as [1, total_T, H, D], got B = " +
                         llvm::Twine(batch));
      if (offsets.numElements() < 1 || offsets.data.front() != 0 ||
          offsets.data.back() != tokens)
        return makeError("cu_seqlens must start at 0 and end at total_T = " +
                         llvm::Twine(tokens));
      for (int64_t n = 0; n + 1 < offsets.numElements(); ++n) {
        if (offsets.data[n + 1] < offsets.data[n])
          return makeError("cu_seqlens must not decrease (entry " + llvm::Twine(n + 1) + ")");
        seqStart.push_back(static_cast<int64_t>(offsets.data[n]));
        seqEnd.push_back(static_cast<int64_t>(offsets.data[n + 1]));
      }
      numSequences = static_cast<int64_t>(seqStart.size());
    } else {
      numSequences = batch;
      seqStart.assign(batch, 0);
      seqEnd.assign(batch, tokens);
    }

    for (unsigned i = 0; i < numInits(); ++i) {
      if (Error e = checkStatic(init(i), op.getInits()[i], "init #" + llvm::Twine(i)))
        return e;
      auto state = cast<StateType>(op.getStateArgs()[i].getType());
      const Array &a = init(i);
      if (a.shape[0] != numSequences || a.shape[1] != heads)
        return makeError("init #" + llvm::Twine(i) + " has shape " + a.shapeString() +
                         " but there are " + llvm::Twine(numSequences) +
                         (varlen ? " sequences" : " batch rows") + " and " +
                         llvm::Twine(heads) + " heads");
      // The op's type may leave dk/dv dynamic; the state's own shape is static.
      if (!llvm::equal(llvm::ArrayRef<int64_t>(a.shape).drop_front(2), state.getShape()))
        return makeError("init #" + llvm::Twine(i) + " has shape " + a.shapeString() +
                         " but the state is " + shapeString(state.getShape()));
    }
    return Error::success();
  }

  std::vector<Array> allocateResults() {
    std::vector<Array> results;
    for (Value out : op.getYield().getOutputs()) {
      std::vector<int64_t> shape = {batch, tokens, heads};
      if (auto vec = dyn_cast<VectorType>(out.getType()))
        shape.push_back(vec.getDimSize(0));
      results.emplace_back(DType::F64, shape);
    }
    for (BlockArgument arg : op.getStateArgs()) {
      auto state = cast<StateType>(arg.getType());
      std::vector<int64_t> shape = {numSequences, heads};
      llvm::append_range(shape, state.getShape());
      results.emplace_back(DType::F64, shape);
    }
    return results;
  }

  Error runSequence(int64_t seq, int64_t h, std::vector<Array> &results) {
    unsigned numStates = op.getNumStates();
    for (unsigned s = 0; s < numStates; ++s) {
      Slot &state = slots[s];
      if (s < numInits())
        std::copy_n(init(s).data.begin() + (seq * heads + h) * state.size(), state.size(),
                    state.begin());
      else
        std::fill(state.begin(), state.end(), 0.0);
    }
    for (unsigned p = 0; p < numParams(); ++p) {
      Slot &slot = slots[numStates + numInputs() + p];
      std::copy_n(param(p).data.begin() + h * slot.size(), slot.size(), slot.begin());
    }
    for (Step &step : steps)
      step.window.clear();
    int64_t row = varlen ? 0 : seq;
    YieldOp yield = op.getYield();
    for (int64_t t = seqStart[seq]; t < seqEnd[seq]; ++t) {
      int64_t token = (row * tokens + t) * heads + h;
      for (unsigned i = 0; i < numInputs(); ++i) {
        Slot &slot = slots[numStates + i];
        // A delayed input reads the row `delay` tokens back, zeros before the sequence start.
        int64_t delay = op.getInputDelay(i);
        if (t - delay < seqStart[seq]) {
          std::fill(slot.begin(), slot.end(), 0.0);
          continue;
        }
        int64_t source = token - delay * heads;
        std::copy_n(input(i).data.begin() + source * slot.size(), slot.size(), slot.begin());
      }
      // A block-start read keeps the state as it is before the first token of each block.
      for (Step &step : steps)
        if (auto read = dyn_cast<ReadOp>(step.op); read && read.getBlockStart() &&
                                                   (t - seqStart[seq]) % *read.getBlockStart() == 0)
          step.blockSnapshot = slots[step.blockState];
      for (Step &step : steps)
        if (Error e = execute(step, seq, h, t - seqStart[seq]))
          return e;
      for (auto [o, out] : llvm::enumerate(yield.getOutputs())) {
        const Slot &value = slots[slotOf.at(out)];
        std::copy(value.begin(), value.end(), results[o].data.begin() + token * value.size());
      }
      // Yielded states become the next token's state arguments (copy first: a yielded
      // value may itself be a state argument).
      std::vector<Slot> next;
      for (Value s : yield.getStates())
        next.push_back(slots[slotOf.at(s)]);
      for (unsigned s = 0; s < numStates; ++s)
        slots[s] = std::move(next[s]);
    }
    unsigned numOutputs = yield.getOutputs().size();
    for (unsigned s = 0; s < numStates; ++s)
      std::copy(slots[s].begin(), slots[s].end(),
                results[numOutputs + s].data.begin() + (seq * heads + h) * slots[s].size());
    return Error::success();
  }

  Error execute(Step &step, int64_t seq, int64_t h, int64_t t) {
    Slot &out = slots[step.result];
    auto in = [&](unsigned i) -> const Slot & { return slots[step.operands[i]]; };
    switch (step.kind) {
    case StepKind::Binary:
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = step.binary(in(0)[i], in(1)[i]);
      break;
    case StepKind::Unary:
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = step.unary(in(0)[i]);
      break;
    case StepKind::Constant:
      out = step.constant;
      break;
    case StepKind::Broadcast:
      std::fill(out.begin(), out.end(), in(0)[0]);
      break;
    case StepKind::Reduction: {
      auto reduction = cast<vector::ReductionOp>(step.op);
      using K = vector::CombiningKind;
      K kind = reduction.getKind();
      const Slot &x = in(0);
      double acc = kind == K::ADD ? 0.0 : kind == K::MUL ? 1.0 : x[0];
      for (double v : x) {
        if (kind == K::ADD)
          acc += v;
        else if (kind == K::MUL)
          acc *= v;
        else if (kind == K::MAXIMUMF)
          acc = std::isnan(acc) || std::isnan(v) ? NAN : std::max(acc, v);
        else if (kind == K::MINIMUMF)
          acc = std::isnan(acc) || std::isnan(v) ? NAN : std::min(acc, v);
        else if (kind == K::MAXNUMF)
          acc = std::fmax(acc, v);
        else
          acc = std::fmin(acc, v);
      }
      if (reduction.getAcc()) {
        double extra = in(1)[0];
        acc = kind == K::ADD ? acc + extra : kind == K::MUL ? acc * extra
              : kind == K::MAXIMUMF || kind == K::MAXNUMF ? std::fmax(acc, extra)
                                                           : std::fmin(acc, extra);
      }
      out[0] = acc;
      break;
    }
    case StepKind::CompareF: {
      auto predicate = cast<arith::CmpFOp>(step.op).getPredicate();
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = comparePredicate(predicate, in(0)[i], in(1)[i]);
      break;
    }
    case StepKind::SelectValue:
      for (size_t i = 0; i < out.size(); ++i) {
        double c = in(0).size() == 1 ? in(0)[0] : in(0)[i];
        out[i] = c != 0 ? in(1)[i] : in(2)[i];
      }
      break;
    case StepKind::Decay:
      return decay(cast<DecayOp>(step.op), in(0), in(1), out, seq, h, t);
    case StepKind::Delta: {
      // (I − β k kᵀ) S = S − β k (Sᵀk)ᵀ
      auto state = cast<DeltaOp>(step.op).getState().getType();
      int64_t dk = state.getKeyDim(), dv = state.getValueDim();
      const Slot &s = in(0), &k = in(1);
      double beta = in(2)[0];
      std::vector<double> u(dv, 0.0);
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j)
          u[j] += k[i] * s[i * dv + j];
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j)
          out[i * dv + j] = s[i * dv + j] - beta * k[i] * u[j];
      break;
    }
    case StepKind::Write: {
      auto write = cast<WriteOp>(step.op);
      out = in(0);
      unsigned next = 2;
      const Slot *value = write.getValue() ? &in(next++) : nullptr;
      double beta = write.getBeta() ? in(next++)[0] : 1.0;
      if (write.getMask() && in(next)[0] == 0)
        break;
      const Slot &k = in(1);
      int64_t dv = write.getState().getType().getValueDim();
      for (size_t i = 0; i < k.size(); ++i)
        for (int64_t j = 0; j < dv; ++j)
          out[i * dv + j] += beta * k[i] * (value ? (*value)[j] : 1.0);
      break;
    }
    case StepKind::Read: {
      auto read = cast<ReadOp>(step.op);
      auto state = read.getState().getType();
      int64_t dk = state.getKeyDim(), dv = state.getValueDim();
      double scale = read.getScale() ? read.getScale()->convertToDouble() : 1.0;
      const Slot &s = read.getBlockStart() ? step.blockSnapshot : in(0), &q = in(1);
      std::fill(out.begin(), out.end(), 0.0);
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j)
          out[j] += s[i * dv + j] * (scale * q[i]);
      break;
    }
    case StepKind::WindowRead: {
      // The window's weights (this token's key included) in float64, as window_attention's.
      auto window = cast<WindowReadOp>(step.op);
      step.window.push_back({t, in(1), in(2)});
      int64_t start = windowStart(window.getWindow(), window.getSize(), t);
      while (step.window.front().position < start)
        step.window.pop_front();
      double scale = window.getScale().convertToDouble();
      const Slot &q = in(0);
      std::vector<double> weights;
      for (const Step::WindowRow &row : step.window) {
        double dot = 0;
        for (size_t d = 0; d < q.size(); ++d)
          dot += q[d] * row.key[d];
        weights.push_back(scale * dot);
      }
      double sum = 1;
      if (window.getWeighting() == WindowWeighting::Relu) {
        for (double &x : weights)
          x = std::max(x, 0.0);
      } else {
        double max = *std::max_element(weights.begin(), weights.end());
        sum = 0;
        for (double &x : weights)
          sum += (x = std::exp(x - max));
        if (window.getWeighting() == WindowWeighting::ShiftedExp) {
          slots[step.secondResult][0] = sum;
          sum = 1; // unnormalized
        }
      }
      std::fill(out.begin(), out.end(), 0.0);
      for (auto [j, row] : llvm::enumerate(step.window))
        for (size_t d = 0; d < out.size(); ++d)
          out[d] += weights[j] / sum * row.value[d];
      break;
    }
    case StepKind::Project: {
      const Slot &x = in(0), &w = in(1);
      size_t features = out.size();
      std::fill(out.begin(), out.end(), 0.0);
      for (size_t d = 0; d < x.size(); ++d)
        for (size_t f = 0; f < features; ++f)
          out[f] += x[d] * w[d * features + f];
      break;
    }
    case StepKind::ReadProduct: {
      auto state = cast<ReadProductOp>(step.op).getFirst().getType();
      int64_t rows = state.getKeyDim(), dv = state.getValueDim();
      const Slot &s1 = in(0), &s2 = in(1), &q = in(2);
      std::fill(out.begin(), out.end(), 0.0);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < dv; ++j)
          out[j] += s1[i * dv + j] * s2[i * dv + j] * q[i];
      break;
    }
    case StepKind::PolynomialMap: {
      // [1, c1 x, c2 x⊗x, ...], c_p = (p!)^{-1/3}, the last factor fastest.
      const Slot &x = in(0);
      int64_t degree = cast<PolynomialMapOp>(step.op).getDegree();
      Slot power = {1.0}, next;
      size_t at = 0;
      double factorial = 1;
      for (int64_t p = 0; p <= degree; ++p) {
        if (p > 0) {
          factorial *= double(p);
          next.clear();
          for (double a : power)
            for (double v : x)
              next.push_back(a * v);
          power.swap(next);
        }
        double coefficient = std::pow(factorial, -1.0 / 3.0);
        for (double a : power)
          out[at++] = coefficient * a;
      }
      break;
    }
    case StepKind::SelectState:
      out = in(0)[0] != 0 ? in(1) : in(2);
      break;
    case StepKind::FeatureMap: {
      FeatureMapKind kind = cast<FeatureMapOp>(step.op).getKind();
      const Slot &x = in(0);
      if (kind == FeatureMapKind::Softmax) {
        double max = -INFINITY, sum = 0;
        for (double v : x)
          max = std::max(max, v);
        for (size_t i = 0; i < x.size(); ++i)
          sum += (out[i] = std::exp(x[i] - max));
        for (double &v : out)
          v /= sum;
      } else {
        for (size_t i = 0; i < x.size(); ++i)
          out[i] = applyFeatureMap(kind, x[i]);
      }
      break;
    }
    case StepKind::HedgehogMap: {
      // [f(u), f(−u)]: softmax normalizes each half on its own.
      bool softmax = cast<HedgehogMapOp>(step.op).getKind() == FeatureMapKind::Softmax;
      const Slot &u = in(0);
      size_t features = u.size();
      for (int sign : {1, -1}) {
        double *half = out.data() + (sign > 0 ? 0 : features);
        double max = -INFINITY, sum = 0;
        for (double v : u)
          max = std::max(max, sign * v);
        for (size_t i = 0; i < features; ++i)
          sum += (half[i] = std::exp(sign * u[i] - (softmax ? max : 0.0)));
        if (softmax)
          for (size_t i = 0; i < features; ++i)
            half[i] /= sum;
      }
      break;
    }
    case StepKind::Shuffle: {
      auto shuffle = cast<vector::ShuffleOp>(step.op);
      const Slot &a = in(0), &b = in(1);
      for (auto [i, position] : llvm::enumerate(shuffle.getMask()))
        out[i] = position < int64_t(a.size()) ? a[position] : b[position - a.size()];
      break;
    }
    case StepKind::L2Norm: {
      double eps = cast<L2NormOp>(step.op).getEps().convertToDouble(), sum = 0;
      for (double v : in(0))
        sum += v * v;
      double inv = 1 / std::sqrt(sum + eps);
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = in(0)[i] * inv;
      break;
    }
    }
    return Error::success();
  }

  Error decay(DecayOp decayOp, const Slot &s, const Slot &g, Slot &out, int64_t seq,
              int64_t h, int64_t t) {
    for (double x : g)
      if (x > 0)
        return makeError("positive log-decay " + llvm::Twine(std::to_string(x)) + " at " +
                         (varlen ? "sequence " : "batch row ") + llvm::Twine(seq) +
                         ", token " + llvm::Twine(t) + ", head " + llvm::Twine(h) +
                         ": log-decays must be <= 0");
    auto state = decayOp.getState().getType();
    int64_t dk = state.getKeyDim(), dv = state.getValueDim();
    std::optional<DecayAxis> axis = decayOp.getAxis();
    for (int64_t i = 0; i < dk; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        double logFactor = !axis ? g[0] : *axis == DecayAxis::Key ? g[i] : g[j];
        out[i * dv + j] = s[i * dv + j] * std::exp(logFactor);
      }
    return Error::success();
  }
};

} // namespace

/// x[b, t, :, :] / (‖x[b, t, :, :]‖₂ / √(H·D) + eps), in place (linrec.heads_rms_norm).
static void applyHeadsRmsNorm(Array &x, double eps) {
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
  Expected<std::vector<Array>> results = RecurrenceRunner(op, operands).run();
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
  auto simpleResults = [](AffineMap m) {
    return llvm::all_of(m.getResults(),
                        [](AffineExpr e) { return isa<AffineDimExpr, AffineConstantExpr>(e); });
  };
  if (generic->getNumResults() != 1 || !llvm::all_of(maps, simpleResults))
    return makeError("the reference interpreter evaluates linalg.generic ops with one result "
                     "and indexing maps of loop indices and constants only");
  // Loop ranges from the operands' run-time shapes.
  unsigned numLoops = generic.getNumLoops();
  std::vector<int64_t> range(numLoops, -1);
  std::vector<const Array *> operands = inputs;
  operands.push_back(&init);
  for (auto [map, array] : llvm::zip(maps, operands))
    for (auto [i, expr] : llvm::enumerate(map.getResults())) {
      auto dimExpr = dyn_cast<AffineDimExpr>(expr);
      if (!dimExpr) {
        if (cast<AffineConstantExpr>(expr).getValue() >= array->shape[i])
          return makeError("a linalg.generic constant index is out of bounds");
        continue;
      }
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
    int64_t flat = 0;
    for (auto [i, expr] : llvm::enumerate(map.getResults()))
      flat = flat * array.shape[i] + (isa<AffineDimExpr>(expr)
                                          ? point[cast<AffineDimExpr>(expr).getPosition()]
                                          : cast<AffineConstantExpr>(expr).getValue());
    return flat;
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

/// Calls `body(in, out)` with the flat indices of every element of a `shape`-sized window
/// that starts at `offsets` of an array of `inShape` and fills an array of `shape`.
static void forEachElement(ArrayRef<int64_t> shape, ArrayRef<int64_t> offsets,
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
  if (auto scalar = dyn_cast<FloatAttr>(constant.getValue())) { // a linalg.fill value
    Array array(DType::F64, {});
    array.data.assign(1, scalar.getValueAsDouble());
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

Expected<std::vector<Array>> evaluateFunction(ModuleOp module, StringRef funcName,
                                              ArrayRef<Array> args,
                                              RecurrenceEvaluator evaluator, bool fuse,
                                              WindowEvaluator windowEvaluator) {
  // Named ops are evaluated through their generic form, on a private copy; compiled targets
  // also fuse the element-wise ops around each recurrence into it first.
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  if (fuse) {
    pm.addPass(createLinrecFuse());
    pm.addPass(createCanonicalizerPass());
  }
  if (failed(pm.run(*copy)))
    return makeError("preparing the module (linrec-normalize, linrec-fuse) failed");

  auto func = copy->lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return makeError("no function @" + funcName + " with a body in the module");
  if (func.getNumArguments() != args.size())
    return makeError("@" + funcName + " takes " + llvm::Twine(func.getNumArguments()) +
                     " arguments, got " + llvm::Twine(args.size()));

  llvm::DenseMap<Value, Array> values;
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
