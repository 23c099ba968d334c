//===- RecurrenceAdjoint.cpp - the float64 adjoint of a recurrence --------===//
//
// Reverse mode through the token recurrence, step by step: per (sequence, head) the forward
// runs once recording every token's slots, then the tokens run in reverse and each body step
// adds its vector-Jacobian product to the adjoints of its operands. The adjoints of the state
// arguments are the state cotangents carried to the token before (dS); at the sequence start
// they are the initial states' gradients. A window read's adjoint reaches the keys and values
// of the earlier tokens in its window, a block-start read's the state at its block's start
// (both held until the replay gets there). This is the ground truth the derived backward
// kernels are checked against, as the interpreter is for the forward.
//
//===----------------------------------------------------------------------===//

#include "FunctionEvaluation.h"
#include "RecurrenceRunner.h"
#include "linrec/Reference/Interpreter.h"

namespace linrec {
namespace reference {
namespace {

class RecurrenceAdjoint : public RecurrenceRunner {
public:
  RecurrenceAdjoint(RecurrenceOp op, ArrayRef<Array> operands, ArrayRef<Array> cotangents)
      : RecurrenceRunner(op, operands), cotangents(cotangents) {}

  Expected<std::vector<Array>> run() {
    if (op.getStateIndices())
      return makeError("a recurrence with state_indices (state pools) has no adjoint: pools "
                       "serve decoding, training keeps one state per sequence");
    Expected<std::vector<Array>> prepared = prepare();
    if (!prepared)
      return prepared.takeError();
    std::vector<Array> &results = *prepared;
    if (cotangents.size() != results.size())
      return makeError("the adjoint takes a cotangent per result (" +
                       llvm::Twine(results.size()) + "), got " +
                       llvm::Twine(cotangents.size()));
    for (auto [i, c] : llvm::enumerate(cotangents))
      if (c.shape != results[i].shape)
        return makeError("cotangent #" + llvm::Twine(i) + " has shape " + c.shapeString() +
                         " but result #" + llvm::Twine(i) + " has " +
                         results[i].shapeString());
    std::vector<Array> gradients;
    for (const Array &operand : operands)
      gradients.emplace_back(DType::F64, operand.shape);
    if (op.getCuSeqlens()) // an index: no gradient
      gradients.back() = Array(DType::F64, {0});
    for (int64_t seq = 0; seq < numSequences; ++seq)
      for (int64_t h = 0; h < heads; ++h)
        if (Error e = backwardSequence(seq, h, results, gradients))
          return std::move(e);
    return gradients;
  }

private:
  ArrayRef<Array> cotangents;
  /// Per slot, the adjoint of its value at the token being replayed.
  std::vector<Slot> adjoints;
  /// The sequence's recorded tokens (RecurrenceRunner::tape).
  std::vector<std::vector<Slot>> record;
  /// Per window-read step, the adjoints its later queries sent to each earlier token's key
  /// and value (by token offset; empty: none).
  std::vector<std::vector<Slot>> pendingKey, pendingValue;
  /// Per block-start read step, the adjoint of the state at its block's start.
  std::vector<Slot> pendingSnapshot;

  Error backwardSequence(int64_t seq, int64_t h, std::vector<Array> &results,
                         std::vector<Array> &gradients) {
    record.clear();
    tape = &record;
    Error forward = runSequence(seq, h, results);
    tape = nullptr;
    if (forward)
      return forward;
    unsigned numStates = op.getNumStates();
    YieldOp yield = op.getYield();
    unsigned numOutputs = yield.getOutputs().size();
    // dS after the last token: the final states' cotangents.
    std::vector<Slot> carry(numStates);
    for (unsigned s = 0; s < numStates; ++s) {
      const Array &c = cotangents[numOutputs + s];
      size_t n = slots[s].size();
      carry[s].assign(c.data.begin() + (seq * heads + h) * n,
                      c.data.begin() + (seq * heads + h + 1) * n);
    }
    int64_t row = varlen ? 0 : seq;
    size_t length = record.size();
    pendingKey.assign(steps.size(), {});
    pendingValue.assign(steps.size(), {});
    pendingSnapshot.assign(steps.size(), {});
    for (auto [i, step] : llvm::enumerate(steps)) {
      if (step.kind == StepKind::WindowRead) {
        pendingKey[i].assign(length, Slot());
        pendingValue[i].assign(length, Slot());
      }
      if (blockOf(step))
        pendingSnapshot[i].assign(slots[step.blockState].size(), 0.0);
    }
    for (int64_t t = seqEnd[seq]; t-- > seqStart[seq];) {
      int64_t offset = t - seqStart[seq];
      slots = record[offset];
      adjoints.assign(slots.size(), Slot());
      for (auto [i, slot] : llvm::enumerate(slots))
        adjoints[i].assign(slot.size(), 0.0);
      // What later queries' windows sent to this token's keys and values.
      for (auto [i, step] : llvm::enumerate(steps))
        if (step.kind == StepKind::WindowRead) {
          addTo(adjoints[step.operands[1]], pendingKey[i][offset]);
          addTo(adjoints[step.operands[2]], pendingValue[i][offset]);
        }
      int64_t token = (row * tokens + t) * heads + h;
      for (auto [o, out] : llvm::enumerate(yield.getOutputs())) {
        Slot &g = adjoints[slotOf.at(out)];
        for (size_t d = 0; d < g.size(); ++d)
          g[d] += cotangents[o].data[token * g.size() + d];
      }
      for (auto [s, state] : llvm::enumerate(yield.getStates())) {
        Slot &g = adjoints[slotOf.at(state)];
        for (size_t d = 0; d < g.size(); ++d)
          g[d] += carry[s][d];
      }
      for (size_t i = steps.size(); i-- > 0;)
        backward(steps[i], i, offset);
      // A block's first token: the state its block-start reads saw is this token's state
      // argument.
      for (auto [i, step] : llvm::enumerate(steps))
        if (int64_t block = blockOf(step); block && offset % block == 0) {
          addTo(adjoints[step.blockState], pendingSnapshot[i]);
          std::fill(pendingSnapshot[i].begin(), pendingSnapshot[i].end(), 0.0);
        }
      for (unsigned s = 0; s < numStates; ++s)
        carry[s] = adjoints[s];
      for (unsigned i = 0; i < numInputs(); ++i) {
        int64_t delay = op.getInputDelay(i);
        if (t - delay < seqStart[seq])
          continue; // the zeros before the sequence start are constants
        const Slot &g = adjoints[numStates + i];
        int64_t source = token - delay * heads;
        for (size_t d = 0; d < g.size(); ++d)
          gradients[i].data[source * g.size() + d] += g[d];
      }
      for (unsigned p = 0; p < numParams(); ++p) {
        const Slot &g = adjoints[numStates + numInputs() + p];
        for (size_t d = 0; d < g.size(); ++d)
          gradients[numInputs() + p].data[h * g.size() + d] += g[d];
      }
    }
    for (unsigned s = 0; s < numInits(); ++s) {
      Array &g = gradients[numInputs() + numParams() + s];
      size_t n = carry[s].size();
      for (size_t d = 0; d < n; ++d)
        g.data[(seq * heads + h) * n + d] += carry[s][d];
    }
    return Error::success();
  }

  /// The block size of a block-start read, else 0.
  static int64_t blockOf(const Step &step) {
    if (auto read = dyn_cast<ReadOp>(step.op))
      return read.getBlockStart().value_or(0);
    return 0;
  }

  static void addTo(Slot &to, const Slot &from) {
    for (size_t i = 0; i < from.size(); ++i)
      to[i] += from[i];
  }

  /// Adds the vector-Jacobian product of step #index (its result's adjoint) at token `offset`
  /// to its operands'.
  void backward(const Step &step, size_t index, int64_t offset) {
    const Slot &gout = adjoints[step.result];
    auto in = [&](unsigned i) -> const Slot & { return slots[step.operands[i]]; };
    auto grad = [&](unsigned i) -> Slot & { return adjoints[step.operands[i]]; };
    const Slot &out = slots[step.result];
    switch (step.kind) {
    case StepKind::Binary:
      return binary(step.op, in(0), in(1), gout, grad(0), grad(1));
    case StepKind::Unary:
      for (size_t i = 0; i < gout.size(); ++i)
        grad(0)[i] += gout[i] * unaryDerivative(step.op, in(0)[i], out[i]);
      return;
    case StepKind::Constant:
    case StepKind::CompareF:
      return;
    case StepKind::Broadcast:
      for (double g : gout)
        grad(0)[0] += g;
      return;
    case StepKind::Element:
      grad(0)[0] += gout[0];
      return;
    case StepKind::Reduction:
      return reduction(cast<vector::ReductionOp>(step.op), step, gout[0], out[0]);
    case StepKind::SelectValue:
      for (size_t i = 0; i < gout.size(); ++i) {
        double c = in(0).size() == 1 ? in(0)[0] : in(0)[i];
        (c != 0 ? grad(1) : grad(2))[i] += gout[i];
      }
      return;
    case StepKind::Shuffle: {
      auto shuffle = cast<vector::ShuffleOp>(step.op);
      size_t first = in(0).size();
      for (auto [i, position] : llvm::enumerate(shuffle.getMask()))
        if (position < int64_t(first))
          grad(0)[position] += gout[i];
        else
          grad(1)[position - first] += gout[i];
      return;
    }
    case StepKind::Decay:
      return decayAdjoint(cast<DecayOp>(step.op), in(1), gout, out, grad(0), grad(1));
    case StepKind::Delta:
      return deltaAdjoint(cast<DeltaOp>(step.op), in(0), in(1), in(2)[0], gout, grad(0),
                          grad(1), grad(2));
    case StepKind::Write:
      return writeAdjoint(cast<WriteOp>(step.op), step, gout);
    case StepKind::WriteHadamard: {
      // out = S + (k vᵀ) ⊙ X
      bool hasValue = static_cast<bool>(cast<WriteHadamardOp>(step.op).getValue());
      unsigned factor = hasValue ? 3 : 2;
      const Slot &k = in(1), &x = in(factor);
      int64_t dv = static_cast<int64_t>(gout.size() / k.size());
      addTo(grad(0), gout);
      for (size_t i = 0; i < k.size(); ++i)
        for (int64_t j = 0; j < dv; ++j) {
          size_t e = i * dv + j;
          double v = hasValue ? in(2)[j] : 1.0;
          grad(1)[i] += gout[e] * v * x[e];
          if (hasValue)
            grad(2)[j] += gout[e] * k[i] * x[e];
          grad(factor)[e] += gout[e] * k[i] * v;
        }
      return;
    }
    case StepKind::Read: {
      auto read = cast<ReadOp>(step.op);
      auto state = read.getState().getType();
      int64_t dk = state.getKeyDim(), dv = state.getValueDim();
      double scale = read.getScale() ? read.getScale()->convertToDouble() : 1.0;
      int64_t block = blockOf(step);
      // A block-start read sees the state at its block's first token, recorded there.
      const Slot &s = block ? record[offset - offset % block][step.blockState] : in(0);
      Slot &gs = block ? pendingSnapshot[index] : grad(0);
      const Slot &q = in(1);
      if (read.getTransposed()) { // out_i = Σ_j s_ij scale u_j
        for (int64_t i = 0; i < dk; ++i)
          for (int64_t j = 0; j < dv; ++j) {
            gs[i * dv + j] += gout[i] * scale * q[j];
            grad(1)[j] += scale * s[i * dv + j] * gout[i];
          }
        return;
      }
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j) {
          gs[i * dv + j] += gout[j] * scale * q[i];
          grad(1)[i] += scale * s[i * dv + j] * gout[j];
        }
      return;
    }
    case StepKind::ReadProduct: {
      auto state = cast<ReadProductOp>(step.op).getFirst().getType();
      int64_t rows = state.getKeyDim(), dv = state.getValueDim();
      const Slot &s1 = in(0), &s2 = in(1), &q = in(2);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < dv; ++j) {
          double g = gout[j];
          grad(0)[i * dv + j] += g * s2[i * dv + j] * q[i];
          grad(1)[i * dv + j] += g * s1[i * dv + j] * q[i];
          grad(2)[i] += g * s1[i * dv + j] * s2[i * dv + j];
        }
      return;
    }
    case StepKind::SelectState: {
      Slot &g = in(0)[0] != 0 ? grad(1) : grad(2);
      for (size_t i = 0; i < gout.size(); ++i)
        g[i] += gout[i];
      return;
    }
    case StepKind::FeatureMap:
      return featureMapAdjoint(cast<FeatureMapOp>(step.op).getKind(), in(0), out, gout,
                               grad(0));
    case StepKind::HedgehogMap: {
      bool softmax = cast<HedgehogMapOp>(step.op).getKind() == FeatureMapKind::Softmax;
      size_t features = in(0).size();
      for (int sign : {1, -1}) {
        const double *y = out.data() + (sign > 0 ? 0 : features);
        const double *g = gout.data() + (sign > 0 ? 0 : features);
        double dot = 0;
        if (softmax)
          for (size_t i = 0; i < features; ++i)
            dot += g[i] * y[i];
        for (size_t i = 0; i < features; ++i)
          grad(0)[i] += sign * y[i] * (g[i] - dot); // softmax: y(g − ⟨g, y⟩); exp: y g
      }
      return;
    }
    case StepKind::PolynomialMap:
      return polynomialAdjoint(cast<PolynomialMapOp>(step.op).getDegree(), in(0), gout,
                               grad(0));
    case StepKind::L2Norm: {
      // y = x r, r = (Σx² + eps)^{−1/2}: dx = r g − r³ x ⟨g, x⟩.
      double eps = cast<L2NormOp>(step.op).getEps().convertToDouble(), sum = 0, dot = 0;
      const Slot &x = in(0);
      for (size_t i = 0; i < x.size(); ++i) {
        sum += x[i] * x[i];
        dot += gout[i] * x[i];
      }
      double r = 1 / std::sqrt(sum + eps);
      for (size_t i = 0; i < x.size(); ++i)
        grad(0)[i] += r * gout[i] - r * r * r * x[i] * dot;
      return;
    }
    case StepKind::Project: {
      const Slot &x = in(0), &w = in(1);
      size_t features = gout.size();
      for (size_t d = 0; d < x.size(); ++d)
        for (size_t f = 0; f < features; ++f) {
          grad(0)[d] += gout[f] * w[d * features + f];
          grad(1)[d * features + f] += x[d] * gout[f];
        }
      return;
    }
    case StepKind::WindowRead:
      return windowReadAdjoint(cast<WindowReadOp>(step.op), step, index, offset);
    }
  }

  /// o = Σ_j w_j v_j over the window's tokens j, scores s_j = scale ⟨q, k_j⟩
  /// (windowScoresAdjoint: the weights and the scores' adjoint).
  void windowReadAdjoint(WindowReadOp window, const Step &step, size_t index, int64_t offset) {
    int64_t start = windowStart(window.getWindow(), window.getSize(), offset);
    double scale = window.getScale().convertToDouble();
    const Slot &q = slots[step.operands[0]], &g = adjoints[step.result];
    std::vector<const Slot *> keys, values;
    for (int64_t j = std::max<int64_t>(start, 0); j <= offset; ++j) {
      keys.push_back(&record[j][step.operands[1]]);
      values.push_back(&record[j][step.operands[2]]);
    }
    size_t n = keys.size();
    std::vector<double> scores(n), weights, gw(n, 0.0);
    for (size_t j = 0; j < n; ++j) {
      double dot = 0;
      for (size_t d = 0; d < q.size(); ++d)
        dot += q[d] * (*keys[j])[d];
      scores[j] = scale * dot;
      for (size_t d = 0; d < g.size(); ++d)
        gw[j] += g[d] * (*values[j])[d]; // ∂o/∂w_j · g
    }
    double gsum = window.getNumResults() == 2 ? adjoints[step.secondResult][0] : 0.0;
    std::vector<double> gs =
        windowScoresAdjoint(window.getWeighting(), scores, gw, gsum, weights);
    Slot &gq = adjoints[step.operands[0]];
    for (size_t j = 0; j < n; ++j) {
      int64_t token = offset - int64_t(n - 1 - j);
      bool here = token == offset;
      Slot &gk = here ? adjoints[step.operands[1]] : pendingKey[index][token];
      Slot &gv = here ? adjoints[step.operands[2]] : pendingValue[index][token];
      if (gk.empty())
        gk.assign(keys[j]->size(), 0.0);
      if (gv.empty())
        gv.assign(values[j]->size(), 0.0);
      for (size_t d = 0; d < q.size(); ++d) {
        gq[d] += scale * gs[j] * (*keys[j])[d];
        gk[d] += scale * gs[j] * q[d];
      }
      for (size_t d = 0; d < g.size(); ++d)
        gv[d] += weights[j] * g[d];
    }
  }

  static void binary(Operation *op, const Slot &a, const Slot &b, const Slot &g, Slot &ga,
                     Slot &gb) {
    for (size_t i = 0; i < g.size(); ++i) {
      double x = a[i], y = b[i], d = g[i];
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](arith::AddFOp) { ga[i] += d, gb[i] += d; })
          .Case([&](arith::SubFOp) { ga[i] += d, gb[i] -= d; })
          .Case([&](arith::MulFOp) { ga[i] += d * y, gb[i] += d * x; })
          .Case([&](arith::DivFOp) { ga[i] += d / y, gb[i] -= d * (x / y) / y; })
          .Case<arith::MaximumFOp, arith::MaxNumFOp>(
              [&](auto) { (x >= y ? ga : gb)[i] += d; })
          .Case<arith::MinimumFOp, arith::MinNumFOp>(
              [&](auto) { (x <= y ? ga : gb)[i] += d; })
          .Case([&](math::PowFOp) {
            ga[i] += d * y * std::pow(x, y - 1);
            if (x > 0)
              gb[i] += d * std::pow(x, y) * std::log(x);
          })
          .Default([](Operation *) {}); // logical ops: no gradient
    }
  }

  /// f'(x) of the unary step, given x and f(x).
  static double unaryDerivative(Operation *op, double x, double fx) {
    return llvm::TypeSwitch<Operation *, double>(op)
        .Case([](arith::NegFOp) { return -1.0; })
        .Case([&](math::ExpOp) { return fx; })
        .Case([&](math::Exp2Op) { return fx * std::log(2.0); })
        .Case([&](math::ExpM1Op) { return fx + 1; })
        .Case([&](math::LogOp) { return 1 / x; })
        .Case([&](math::Log1pOp) { return 1 / (1 + x); })
        .Case([&](math::Log2Op) { return 1 / (x * std::log(2.0)); })
        .Case([&](math::SqrtOp) { return 0.5 / fx; })
        .Case([&](math::RsqrtOp) { return -0.5 * fx * fx * fx; })
        .Case([&](math::TanhOp) { return 1 - fx * fx; })
        .Case([&](math::AbsFOp) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; })
        .Case([&](math::SinOp) { return std::cos(x); })
        .Case([&](math::CosOp) { return -std::sin(x); })
        .Case([&](math::ErfOp) { return 2 / std::sqrt(M_PI) * std::exp(-x * x); })
        .Default([](Operation *) { return 0.0; });
  }

  void reduction(vector::ReductionOp reduction, const Step &step, double g, double result) {
    using K = vector::CombiningKind;
    K kind = reduction.getKind();
    const Slot &x = slots[step.operands[0]];
    Slot &gx = adjoints[step.operands[0]];
    bool hasAcc = bool(reduction.getAcc());
    if (kind == K::ADD) {
      for (double &v : gx)
        v += g;
      if (hasAcc)
        adjoints[step.operands[1]][0] += g;
      return;
    }
    if (kind == K::MUL) {
      // The product of the others, without dividing (a zero factor is fine).
      for (size_t i = 0; i < x.size(); ++i) {
        double others = hasAcc ? slots[step.operands[1]][0] : 1.0;
        for (size_t j = 0; j < x.size(); ++j)
          if (j != i)
            others *= x[j];
        gx[i] += g * others;
      }
      if (hasAcc) {
        double all = 1;
        for (double v : x)
          all *= v;
        adjoints[step.operands[1]][0] += g * all;
      }
      return;
    }
    // max / min: the first element equal to the result takes the gradient.
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i] == result) {
        gx[i] += g;
        return;
      }
    if (hasAcc)
      adjoints[step.operands[1]][0] += g;
  }

  void decayAdjoint(DecayOp decayOp, const Slot &logDecay, const Slot &gout, const Slot &out,
                    Slot &gs, Slot &gg) {
    // out = s ⊙ e^{g}: ds = dout ⊙ e^{g}, dg = Σ dout ⊙ out over what g scales.
    auto state = decayOp.getState().getType();
    int64_t dk = state.getKeyDim(), dv = state.getValueDim();
    std::optional<DecayAxis> axis = decayOp.getAxis();
    for (int64_t i = 0; i < dk; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        int64_t at = !axis ? 0 : *axis == DecayAxis::Key ? i : j;
        gs[i * dv + j] += gout[i * dv + j] * std::exp(logDecay[at]);
        gg[at] += gout[i * dv + j] * out[i * dv + j];
      }
  }

  void deltaAdjoint(DeltaOp delta, const Slot &s, const Slot &k, double beta, const Slot &gout,
                    Slot &gs, Slot &gk, Slot &gbeta) {
    // out = S − β k uᵀ with u = Sᵀk.
    auto state = delta.getState().getType();
    int64_t dk = state.getKeyDim(), dv = state.getValueDim();
    std::vector<double> u(dv, 0.0), gu(dv, 0.0);
    for (int64_t i = 0; i < dk; ++i)
      for (int64_t j = 0; j < dv; ++j)
        u[j] += k[i] * s[i * dv + j];
    for (int64_t i = 0; i < dk; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        double g = gout[i * dv + j];
        gs[i * dv + j] += g;
        gu[j] -= beta * g * k[i];
        gk[i] -= beta * g * u[j];
        gbeta[0] -= g * k[i] * u[j];
      }
    for (int64_t i = 0; i < dk; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        gs[i * dv + j] += k[i] * gu[j];
        gk[i] += s[i * dv + j] * gu[j];
      }
  }

  void writeAdjoint(WriteOp write, const Step &step, const Slot &gout) {
    // out = S + β k vᵀ (v = 1 for a vector state), unless masked off.
    Slot &gs = adjoints[step.operands[0]];
    for (size_t i = 0; i < gout.size(); ++i)
      gs[i] += gout[i];
    unsigned next = 2;
    int valueAt = write.getValue() ? int(next++) : -1;
    int betaAt = write.getBeta() ? int(next++) : -1;
    if (write.getMask() && slots[step.operands[next]][0] == 0)
      return;
    const Slot &k = slots[step.operands[1]];
    double beta = betaAt >= 0 ? slots[step.operands[betaAt]][0] : 1.0;
    int64_t dv = write.getState().getType().getValueDim();
    Slot &gk = adjoints[step.operands[1]];
    for (size_t i = 0; i < k.size(); ++i)
      for (int64_t j = 0; j < dv; ++j) {
        double g = gout[i * dv + j];
        double v = valueAt >= 0 ? slots[step.operands[valueAt]][j] : 1.0;
        gk[i] += beta * g * v;
        if (valueAt >= 0)
          adjoints[step.operands[valueAt]][j] += beta * g * k[i];
        if (betaAt >= 0)
          adjoints[step.operands[betaAt]][0] += g * k[i] * v;
      }
  }

  static void featureMapAdjoint(FeatureMapKind kind, const Slot &x, const Slot &y,
                                const Slot &g, Slot &gx) {
    if (kind == FeatureMapKind::Softmax) {
      double dot = 0;
      for (size_t i = 0; i < x.size(); ++i)
        dot += g[i] * y[i];
      for (size_t i = 0; i < x.size(); ++i)
        gx[i] += y[i] * (g[i] - dot);
      return;
    }
    for (size_t i = 0; i < x.size(); ++i) {
      double v = x[i], d = 0;
      switch (kind) {
      case FeatureMapKind::Identity:
        d = 1;
        break;
      case FeatureMapKind::Relu:
        d = v > 0;
        break;
      case FeatureMapKind::Elu:
      case FeatureMapKind::EluPlusOne:
        d = v > 0 ? 1 : std::exp(v);
        break;
      case FeatureMapKind::Exp:
        d = y[i];
        break;
      case FeatureMapKind::Sigmoid:
        d = y[i] * (1 - y[i]);
        break;
      case FeatureMapKind::LogSigmoid:
        d = stableSigmoid(-v);
        break;
      case FeatureMapKind::Softplus:
        d = stableSigmoid(v);
        break;
      case FeatureMapKind::Softmax:
        break;
      }
      gx[i] += g[i] * d;
    }
  }

  /// out = [c_0, c_1 x, c_2 x⊗x, …] (the last factor fastest): each term's gradient is the sum,
  /// over its factors, of the product of the others.
  static void polynomialAdjoint(int64_t degree, const Slot &x, const Slot &g, Slot &gx) {
    size_t n = x.size(), at = 1; // the constant term has no gradient
    double factorial = 1;
    for (int64_t p = 1; p <= degree; ++p) {
      factorial *= double(p);
      double coefficient = std::pow(factorial, -1.0 / 3.0);
      std::vector<size_t> index(p, 0);
      size_t terms = 1;
      for (int64_t f = 0; f < p; ++f)
        terms *= n;
      for (size_t term = 0; term < terms; ++term, ++at) {
        for (int64_t f = 0; f < p; ++f) {
          double others = coefficient;
          for (int64_t o = 0; o < p; ++o)
            if (o != f)
              others *= x[index[o]];
          gx[index[f]] += g[at] * others;
        }
        for (int64_t f = p; f-- > 0;) // next multi-index, the last factor fastest
          if (++index[f] < n)
            break;
          else
            index[f] = 0;
      }
    }
  }
};

} // namespace

/// x / (‖x‖₂/√W + eps) per token over all heads (W = H·D) at `x`: adds its adjoint for `g`.
void headsRmsNormAdjoint(const Array &x, const Array &g, double eps, Array &gx) {
  int64_t width = x.shape[2] * x.shape[3];
  for (int64_t token = 0; token < x.shape[0] * x.shape[1]; ++token) {
    const double *row = x.data.data() + token * width, *grow = g.data.data() + token * width;
    double *out = gx.data.data() + token * width, sum = 0, dot = 0;
    for (int64_t i = 0; i < width; ++i) {
      sum += row[i] * row[i];
      dot += grow[i] * row[i];
    }
    double r = std::sqrt(sum / double(width)), d = r + eps;
    for (int64_t i = 0; i < width; ++i)
      out[i] += grow[i] / d - (r > 0 ? row[i] * dot / (double(width) * r * d * d) : 0.0);
  }
}

} // namespace reference

llvm::Expected<std::vector<Array>>
interpretRecurrenceGradient(RecurrenceOp op, llvm::ArrayRef<Array> operands,
                            llvm::ArrayRef<Array> cotangents) {
  if (op.getReverse()) // backward recurrences are not differentiated again
    return reference::makeError("the adjoint of a reverse recurrence is not derived");
  std::optional<llvm::APFloat> eps = op.getHeadsNormEps();
  if (!eps)
    return reference::RecurrenceAdjoint(op, operands, cotangents).run();
  // The norm over heads follows the recurrence: its adjoint first, at the unnormalized output.
  llvm::Expected<std::vector<Array>> raw = reference::RecurrenceRunner(op, operands).run();
  if (!raw)
    return raw.takeError();
  if (cotangents.empty() || cotangents[0].shape != (*raw)[0].shape)
    return reference::makeError("the adjoint takes a cotangent per result, the first shaped " +
                                (*raw)[0].shapeString());
  std::vector<Array> inner(cotangents.begin(), cotangents.end());
  inner[0] = Array(DType::F64, (*raw)[0].shape);
  reference::headsRmsNormAdjoint((*raw)[0], cotangents[0], eps->convertToDouble(), inner[0]);
  return reference::RecurrenceAdjoint(op, operands, inner).run();
}

} // namespace linrec
