//===- RecurrenceRunner.h - a recurrence evaluated token by token -*- C++ -*-===//
//
// A recurrence body is compiled once into a list of steps over numbered slots (one per SSA
// value), then run for every (sequence, head) and token, in float64. The reference interpreter
// (Interpreter.cpp) runs it forward; its adjoint (RecurrenceAdjoint.cpp) replays the steps
// backward. Internal to lib/Reference.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LIB_REFERENCE_RECURRENCERUNNER_H
#define LINREC_LIB_REFERENCE_RECURRENCERUNNER_H

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Reference/Array.h"
#include "linrec/Reference/WindowAttention.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Error.h"

#include <cmath>
#include <deque>
#include <numeric>

namespace linrec::reference {

using namespace mlir;
using llvm::Error;
using llvm::Expected;

/// A window row's weights and the adjoint of its scores. `scores` are scale ⟨q, k_j⟩, `gw` the
/// adjoint of each weight (⟨g, v_j⟩), `gsum` the adjoint of shifted_exp's denominator. Sets
/// `weights` (relu(s), softmax(s) or e^{s − m}) and returns the scores' adjoint; the max shift
/// m is differentiated as the max (through the arg-max score; it cancels for softmax).
inline std::vector<double> windowScoresAdjoint(WindowWeighting weighting,
                                               const std::vector<double> &scores,
                                               const std::vector<double> &gw, double gsum,
                                               std::vector<double> &weights) {
  size_t n = scores.size();
  std::vector<double> gs(n, 0.0);
  weights.assign(n, 0.0);
  if (weighting == WindowWeighting::Relu) {
    for (size_t j = 0; j < n; ++j) {
      weights[j] = std::max(scores[j], 0.0);
      gs[j] = scores[j] > 0 ? gw[j] : 0.0;
    }
    return gs;
  }
  size_t argmax = 0;
  for (size_t j = 1; j < n; ++j)
    if (scores[j] > scores[argmax])
      argmax = j;
  double sum = 0;
  for (size_t j = 0; j < n; ++j)
    sum += (weights[j] = std::exp(scores[j] - scores[argmax]));
  if (weighting == WindowWeighting::Softmax) {
    double dot = 0;
    for (size_t j = 0; j < n; ++j)
      dot += (weights[j] /= sum) * gw[j];
    for (size_t j = 0; j < n; ++j)
      gs[j] = weights[j] * (gw[j] - dot);
    return gs;
  }
  double shift = 0; // shifted_exp: e_j = e^{s_j − m}, their sum a second result
  for (size_t j = 0; j < n; ++j) {
    gs[j] = weights[j] * (gw[j] + gsum);
    shift -= gs[j];
  }
  gs[argmax] += shift;
  return gs;
}

/// Whether the token at `position` in running order (`offset` from its sequence's start)
/// starts a block of `block` tokens: its first in running order, the last of the block in a
/// reverse recurrence (or the sequence's last token).
inline bool startsBlock(int64_t position, int64_t offset, int64_t block, bool reverse) {
  if (!reverse)
    return position % block == 0;
  return position == 0 || offset % block == block - 1;
}

inline Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

using Slot = std::vector<double>;

enum class StepKind {
  // per-token arithmetic (Element: a one-element vector's element)
  Binary, Unary, Constant, Broadcast, Reduction, Element, CompareF, SelectValue,
  Shuffle,
  Decay, Delta, Write, WriteHadamard, Read, ReadProduct, SelectState, FeatureMap, HedgehogMap,
  PolynomialMap, L2Norm, WindowRead, Project // linrec
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

inline double stableSigmoid(double x) {
  double e = std::exp(-std::abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
inline double logSigmoid(double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::abs(x))); }
inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
inline double elu(double x) { return x > 0 ? x : std::expm1(x); }

inline double (*binaryFunction(Operation *op))(double, double) {
  return llvm::TypeSwitch<Operation *, double (*)(double, double)>(op)
      .Case([](arith::AddFOp) { return [](double a, double b) { return a + b; }; })
      .Case([](arith::SubFOp) { return [](double a, double b) { return a - b; }; })
      // Index arithmetic (offsets), exact in a double within the i32 range.
      .Case([](arith::AddIOp) { return [](double a, double b) { return a + b; }; })
      .Case([](arith::SubIOp) { return [](double a, double b) { return a - b; }; })
      .Case([](arith::MulIOp) { return [](double a, double b) { return a * b; }; })
      .Case([](arith::DivUIOp) { return [](double a, double b) { return std::floor(a / b); }; })
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

inline double (*unaryFunction(Operation *op))(double) {
  return llvm::TypeSwitch<Operation *, double (*)(double)>(op)
      .Case([](arith::NegFOp) { return [](double a) { return -a; }; })
      // Conversions between float widths (a per-head f64 parameter broadcast into f32).
      .Case([](arith::ExtFOp) { return [](double a) { return a; }; })
      // Integers (an index turned into a float) are exact in a double.
      .Case<arith::IndexCastOp, arith::SIToFPOp>([](auto) { return [](double a) { return a; }; })
      .Case([](arith::TruncFOp op) -> double (*)(double) {
        if (op.getType().isF32())
          return [](double a) { return static_cast<double>(static_cast<float>(a)); };
        return nullptr;
      })
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

inline double applyFeatureMap(FeatureMapKind kind, double x) {
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

inline bool comparePredicate(arith::CmpFPredicate p, double a, double b) {
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

/// An integer comparison of index or integer values (held exactly in doubles).
inline bool compareIntegers(arith::CmpIPredicate p, double a, double b) {
  using P = arith::CmpIPredicate;
  switch (p) {
  case P::eq: return a == b;
  case P::ne: return a != b;
  case P::slt: case P::ult: return a < b;
  case P::sle: case P::ule: return a <= b;
  case P::sgt: case P::ugt: return a > b;
  case P::sge: case P::uge: return a >= b;
  }
  return false;
}

inline int64_t slotSize(Type type) {
  if (auto state = dyn_cast<StateType>(type))
    return state.getKeyDim() * state.getValueDim();
  if (auto vec = dyn_cast<VectorType>(type))
    return vec.getNumElements();
  return 1;
}

/// The elements of a float/int/bool constant attribute, expanded to `count` values.
inline std::optional<Slot> constantValues(Attribute attr, int64_t count) {
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
    Expected<std::vector<Array>> prepared = prepare();
    if (!prepared)
      return prepared.takeError();
    std::vector<Array> &results = *prepared;
    for (int64_t seq = 0; seq < numSequences; ++seq)
      for (int64_t h = 0; h < heads; ++h)
        if (Error e = runSequence(seq, h, results))
          return std::move(e);
    return results;
  }

protected:
  /// Compiles the body, binds B, T, H and the sequences, and allocates the results.
  Expected<std::vector<Array>> prepare() {
    if (Error e = compileBody())
      return std::move(e);
    if (Error e = bindShapes())
      return std::move(e);
    return allocateResults();
  }

  RecurrenceOp op;
  ArrayRef<Array> operands;
  llvm::DenseMap<Value, unsigned> slotOf;
  std::vector<Slot> slots;
  std::vector<Step> steps;
  int64_t batch = 0, tokens = 0, heads = 0, numSequences = 0;
  std::vector<int64_t> seqStart, seqEnd; // per sequence, the token range (in row `rowOf`)
  std::vector<int64_t> stateSlots; // per sequence, its row of the states
  int64_t stateRows = 0;           // the states' leading dim (sequences, or pool slots)
  bool varlen = false;
  /// When set, runSequence appends each token's slots (the adjoint replays them).
  std::vector<std::vector<Slot>> *tape = nullptr;

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
                .Case([](vector::ExtractOp) { return StepKind::Element; })
                .Case([](arith::CmpFOp) { return StepKind::CompareF; })
                .Case([](arith::SelectOp) { return StepKind::SelectValue; })
                .Case([](DecayOp) { return StepKind::Decay; })
                .Case([](DeltaOp) { return StepKind::Delta; })
                .Case([](WriteOp) { return StepKind::Write; })
                .Case([](WriteHadamardOp) { return StepKind::WriteHadamard; })
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
    unsigned expected = numInputs() + numParams() + numInits() + (op.getCuSeqlens() ? 1 : 0) +
                        (op.getStateIndices() ? 1 : 0);
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
      const Array &offsets = operands[numInputs() + numParams() + numInits()];
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

    // Each sequence's row of the initial and final states: its own, or its pool slot.
    stateRows = numSequences;
    stateSlots.resize(numSequences);
    std::iota(stateSlots.begin(), stateSlots.end(), int64_t(0));
    if (Value indices = op.getStateIndices()) {
      const Array &slots = operands.back();
      if (Error e = checkStatic(slots, indices, "state_indices"))
        return e;
      if (slots.numElements() != numSequences)
        return makeError("state_indices has " + llvm::Twine(slots.numElements()) +
                         " entries for " + llvm::Twine(numSequences) + " sequences");
      stateRows = numInits() ? init(0).shape[0] : 0;
      std::vector<bool> taken(stateRows, false);
      for (int64_t n = 0; n < numSequences; ++n) {
        double slot = slots.data[n];
        if (!(slot >= 0 && slot < stateRows))
          return makeError("state_indices[" + llvm::Twine(n) + "] = " +
                           llvm::Twine(static_cast<int64_t>(slot)) +
                           " is outside the state pool's " + llvm::Twine(stateRows) + " slots");
        if (taken[static_cast<int64_t>(slot)])
          return makeError("state_indices[" + llvm::Twine(n) + "] = " +
                           llvm::Twine(static_cast<int64_t>(slot)) +
                           " repeats a slot: two sequences cannot share a state");
        taken[static_cast<int64_t>(slot)] = true;
        stateSlots[n] = static_cast<int64_t>(slot);
      }
    }
    for (unsigned i = 0; i < numInits(); ++i) {
      if (Error e = checkStatic(init(i), op.getInits()[i], "init #" + llvm::Twine(i)))
        return e;
      auto state = cast<StateType>(op.getStateArgs()[i].getType());
      const Array &a = init(i);
      if (a.shape[0] != stateRows || a.shape[1] != heads)
        return makeError("init #" + llvm::Twine(i) + " has shape " + a.shapeString() +
                         " but there are " + llvm::Twine(stateRows) +
                         (op.getStateIndices() ? " pool slots"
                          : varlen             ? " sequences"
                                               : " batch rows") +
                         " and " + llvm::Twine(heads) + " heads");
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
    for (auto [i, arg] : llvm::enumerate(op.getStateArgs())) {
      auto state = cast<StateType>(arg.getType());
      std::vector<int64_t> shape = {stateRows, heads};
      llvm::append_range(shape, state.getShape());
      results.emplace_back(DType::F64, shape);
      if (op.getStateIndices()) // a pool: the slots no sequence runs on keep their state
        results.back().data = init(i).data;
    }
    return results;
  }

  Error runSequence(int64_t seq, int64_t h, std::vector<Array> &results) {
    unsigned numStates = op.getNumStates();
    for (unsigned s = 0; s < numStates; ++s) {
      Slot &state = slots[s];
      if (s < numInits())
        std::copy_n(init(s).data.begin() + (stateSlots[seq] * heads + h) * state.size(),
                    state.size(),
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
    // A reverse recurrence walks the sequence from its end; `position` counts the tokens in
    // the order they run, and delays look back in that order.
    bool reverse = op.getReverse();
    int64_t length = seqEnd[seq] - seqStart[seq];
    for (int64_t position = 0; position < length; ++position) {
      int64_t t = reverse ? seqEnd[seq] - 1 - position : seqStart[seq] + position;
      int64_t token = (row * tokens + t) * heads + h;
      for (unsigned i = 0; i < numInputs(); ++i) {
        Slot &slot = slots[numStates + i];
        // A delayed input reads the row `delay` tokens back, zeros before the sequence start.
        int64_t delay = op.getInputDelay(i);
        if (position - delay < 0) {
          std::fill(slot.begin(), slot.end(), 0.0);
          continue;
        }
        int64_t source = token + (reverse ? delay : -delay) * heads;
        std::copy_n(input(i).data.begin() + source * slot.size(), slot.size(), slot.begin());
      }
      // A block-start read keeps the state as it is before the first token of each block
      // in running order (blocks count from the sequence start, in reverse too).
      for (Step &step : steps)
        if (auto read = dyn_cast<ReadOp>(step.op); read && read.getBlockStart() &&
                                                   startsBlock(position, t - seqStart[seq],
                                                               *read.getBlockStart(), reverse))
          step.blockSnapshot = slots[step.blockState];
      for (Step &step : steps)
        if (Error e = execute(step, seq, h, position))
          return e;
      if (tape) // every value of the token, its state arguments the state before it
        tape->push_back(slots);
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
                results[numOutputs + s].data.begin() +
                    (stateSlots[seq] * heads + h) * slots[s].size());
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
    case StepKind::Element: // a one-element vector's element
      out[0] = in(0)[0];
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
    case StepKind::WriteHadamard: {
      auto write = cast<WriteHadamardOp>(step.op);
      out = in(0);
      const Slot &k = in(1), *value = write.getValue() ? &in(2) : nullptr;
      const Slot &x = in(write.getValue() ? 3 : 2);
      int64_t dv = write.getState().getType().getValueDim();
      for (size_t i = 0; i < k.size(); ++i)
        for (int64_t j = 0; j < dv; ++j)
          out[i * dv + j] += k[i] * (value ? (*value)[j] : 1.0) * x[i * dv + j];
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
        for (int64_t j = 0; j < dv; ++j) {
          if (read.getTransposed()) // S (scale·u): u has dv entries, the result dk
            out[i] += s[i * dv + j] * (scale * q[j]);
          else
            out[j] += s[i * dv + j] * (scale * q[i]);
        }
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


} // namespace linrec::reference

#endif // LINREC_LIB_REFERENCE_RECURRENCERUNNER_H
