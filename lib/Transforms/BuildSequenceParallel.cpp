//===- BuildSequenceParallel.cpp - a layer's part summary and its resume --===//
//
// Sequence parallelism (LASP-2) splits a layer's tokens into contiguous parts, one per rank.
// Every state of the recurrences linrec summarizes is affine in its initial state: after a
// part, S = L(S_start) + c, with c what the part adds from its own initial state and L the
// part's transition. Summaries compose associatively, so each rank reduces its part to one
// (L, c) whose size does not depend on the part's length, the ranks exchange them, and each
// resumes its part from the state the summaries before it combine to.
//
// For @f the pass writes @f_summary (c and L of every state) and @f_resume (f, every
// recurrence starting from its own initial state plus a carry). L is represented by what
// determines it: the sums of the part's log-decays for diagonal decays (scalar, key and value
// axis: L(S) = e^{Σγ} diag(e^{Σα}) S diag(e^{Σω})), computed by running sums (the token scan),
// and the dk × dk matrix P with L(S) = P S for a delta rule, computed as the state of the same
// transitions with zero writes from the identity (the chunked delta kernel).
//
//===----------------------------------------------------------------------===//

#include "AdjointTensors.h"
#include "RecurrenceRewrite.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECBUILDSEQUENCEPARALLEL
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

namespace {

/// What one state's step does to it: decays, then an optional delta transition, then one
/// write (which adds a term independent of the state).
struct StateChain {
  StateType type;
  SmallVector<Value> scalarDecays, keyDecays, valueDecays;
  Value deltaKey, deltaBeta; // null without a delta transition
  bool decays() const {
    return !scalarDecays.empty() || !keyDecays.empty() || !valueDecays.empty();
  }
};

/// The name prefix of state `s` of the `r`-th recurrence: "r0.s1".
std::string statePrefix(unsigned r, unsigned s) {
  return "r" + std::to_string(r) + ".s" + std::to_string(s);
}

} // namespace

/// The body ops that depend on a state (reads, and what is computed from them).
static DenseSet<Operation *> stateDependentOps(RecurrenceOp op) {
  SetVector<Operation *> slice;
  for (BlockArgument state : op.getStateArgs())
    getForwardSlice(state, &slice);
  return DenseSet<Operation *>(slice.begin(), slice.end());
}

/// Reads state #i's chain; an error naming what makes its part not a summary of fixed size.
static FailureOr<StateChain> readChain(RecurrenceOp op, unsigned i,
                                       const DenseSet<Operation *> &stateDependent) {
  BlockArgument arg = op.getStateArgs()[i];
  Value yielded = op.getYield().getStates()[i];
  StateChain chain;
  chain.type = cast<StateType>(arg.getType());
  auto fail = [&](Operation *at, const Twine &why) {
    return at->emitOpError("has no sequence-parallel summary: state #")
           << i << " " << why;
  };
  bool written = false;
  for (Value state = arg; state != yielded;) {
    bool forked;
    Operation *next = nextStateOp(state, forked);
    if (forked)
      return fail(next, "forks (a select or a second update)");
    if (!next)
      return fail(op, "does not reach the yielded state");
    if (auto decay = dyn_cast<DecayOp>(next)) {
      if (chain.deltaKey || written)
        return fail(next, "decays after a delta transition or a write");
      std::optional<DecayAxis> axis = decay.getAxis();
      (!axis ? chain.scalarDecays
             : *axis == DecayAxis::Key ? chain.keyDecays : chain.valueDecays)
          .push_back(decay.getLogDecay());
      state = decay.getResult();
    } else if (auto delta = dyn_cast<DeltaOp>(next)) {
      if (chain.deltaKey || written)
        return fail(next, "takes a second delta transition or one after its write");
      chain.deltaKey = delta.getKey();
      chain.deltaBeta = delta.getBeta();
      state = delta.getResult();
    } else if (auto write = dyn_cast<WriteOp>(next)) {
      if (written)
        return fail(next, "is written twice in one step");
      if (write.getMask())
        return fail(next, "has a masked write (no sequence-parallel form yet)");
      written = true;
      state = write.getResult();
    } else {
      // A Hadamard write multiplies by another state: the part is not affine in the states.
      return fail(next, "is updated by '" + next->getName().getStringRef() +
                            "' (no sequence-parallel form)");
    }
  }
  if (chain.deltaKey && !chain.valueDecays.empty())
    return fail(op, "is a delta rule with a value-axis decay (no sequence-parallel form yet)");
  SmallVector<Value> drivers(chain.scalarDecays);
  llvm::append_range(drivers, chain.keyDecays);
  llvm::append_range(drivers, chain.valueDecays);
  drivers.append({chain.deltaKey, chain.deltaBeta});
  for (Value driver : drivers)
    if (driver && driver.getDefiningOp() && stateDependent.contains(driver.getDefiningOp()))
      return fail(driver.getDefiningOp(), "has a transition that depends on a state");
  return chain;
}

/// Refuses what makes a part's outputs depend on tokens before it other than through the
/// states (window reads, block starts, delays, reversed time, state pools).
static LogicalResult checkSummarizable(RecurrenceOp op) {
  auto fail = [&](Operation *at, const Twine &why) {
    return at->emitOpError("has no sequence-parallel summary: ") << why;
  };
  if (op.getReverse())
    return fail(op, "a reverse recurrence");
  if (op.getStateIndices())
    return fail(op, "state_indices (state pools serve decoding, not long sequences)");
  for (unsigned i = 0; i < op.getInputs().size(); ++i)
    if (op.getInputDelay(i) != 0)
      return fail(op, "a delayed input (its first tokens come from the part before; no "
                      "sequence-parallel form yet)");
  for (Operation &bodyOp : op.getBodyBlock()) {
    if (isa<WindowReadOp>(bodyOp))
      return fail(&bodyOp, "a window read (no sequence-parallel form yet)");
  }
  return success();
}

/// The final-state tensor type of a `state` of the same sequences and heads as `like` (a
/// final state of the recurrence).
static RankedTensorType finalStateType(Type like, StateType state) {
  auto tensor = cast<RankedTensorType>(like);
  SmallVector<int64_t> shape = {tensor.getDimSize(0), tensor.getDimSize(1)};
  llvm::append_range(shape, state.getShape());
  return RankedTensorType::get(shape, state.getElementType());
}

/// A recurrence over `op`'s inputs and params with `states` (starting from `inits`, a prefix)
/// and no outputs: its body clones `op`'s ops that no state depends on, then `fill` yields the
/// next states from the state arguments and the mapping of `op`'s body values.
static RecurrenceOp buildProbe(OpBuilder &b, RecurrenceOp op, ArrayRef<StateType> states,
                               ValueRange inits,
                               function_ref<SmallVector<Value>(OpBuilder &, IRMapping &,
                                                               ValueRange)> fill,
                               const DenseSet<Operation *> &stateDependent) {
  Location loc = op.getLoc();
  SmallVector<Type> resultTypes;
  Type like = op.getFinalStates()[0].getType();
  for (StateType state : states)
    resultTypes.push_back(finalStateType(like, state));
  auto probe = RecurrenceOp::create(b, loc, resultTypes, op.getInputs(), op.getParams(), inits,
                                    op.getCuSeqlens());
  auto *block = new Block();
  probe.getBody().push_back(block);
  IRMapping mapping;
  for (StateType state : states)
    block->addArgument(state, loc);
  for (BlockArgument arg : llvm::concat<BlockArgument>(op.getInputArgs(), op.getParamArgs()))
    mapping.map(arg, block->addArgument(arg.getType(), loc));
  OpBuilder bb = OpBuilder::atBlockBegin(block);
  for (Operation &bodyOp : op.getBodyBlock())
    if (!isa<YieldOp>(bodyOp) && !stateDependent.contains(&bodyOp))
      bb.clone(bodyOp, mapping);
  SmallVector<Value> next = fill(bb, mapping, block->getArguments().take_front(states.size()));
  YieldOp::create(bb, loc, next, ValueRange{});
  return probe;
}

static Value sumOf(OpBuilder &b, Location loc, ArrayRef<Value> values, IRMapping &mapping) {
  Value sum = mapping.lookup(values.front());
  for (Value v : values.drop_front())
    sum = arith::AddFOp::create(b, loc, sum, mapping.lookup(v));
  return sum;
}

namespace {
/// One summary result: what it is and the value it returns.
struct SummaryResult {
  std::string name;
  Value value;
};
} // namespace

/// The summary of `op`'s states into `results` (`identities` gets one argument per delta rule,
/// created by `newIdentity`).
static LogicalResult
summarizeRecurrence(OpBuilder &b, RecurrenceOp op, unsigned index,
                    SmallVectorImpl<SummaryResult> &results,
                    function_ref<Value(RankedTensorType, StringRef)> newIdentity) {
  if (failed(checkSummarizable(op)))
    return failure();
  DenseSet<Operation *> stateDependent = stateDependentOps(op);
  SmallVector<StateChain> chains;
  for (unsigned i = 0; i < op.getNumStates(); ++i) {
    FailureOr<StateChain> chain = readChain(op, i, stateDependent);
    if (failed(chain))
      return failure();
    chains.push_back(*chain);
  }
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  for (auto [i, finalState] : llvm::enumerate(op.getFinalStates()))
    results.push_back({statePrefix(index, i) + ".offset", finalState});

  // Delta rules: P from the identity, the same transitions and zero writes.
  SmallVector<unsigned> deltas;
  SmallVector<StateType> deltaStates;
  SmallVector<Value> identities;
  for (auto [i, chain] : llvm::enumerate(chains)) {
    if (!chain.deltaKey)
      continue;
    int64_t dk = chain.type.getKeyDim();
    auto state = StateType::get(ctx, {dk, dk}, f32);
    deltas.push_back(i);
    deltaStates.push_back(state);
    identities.push_back(newIdentity(finalStateType(op.getFinalStates()[0].getType(), state),
                                     statePrefix(index, i) + ".identity"));
  }
  if (!deltas.empty()) {
    RecurrenceOp probe = buildProbe(
        b, op, deltaStates, identities,
        [&](OpBuilder &bb, IRMapping &mapping, ValueRange args) {
          SmallVector<Value> next;
          for (auto [i, P] : llvm::zip(deltas, args)) {
            const StateChain &chain = chains[i];
            Value S = P;
            for (Value g : chain.scalarDecays)
              S = DecayOp::create(bb, loc, S.getType(), S, mapping.lookup(g), DecayAxisAttr());
            for (Value g : chain.keyDecays)
              S = DecayOp::create(bb, loc, S.getType(), S, mapping.lookup(g),
                                  DecayAxisAttr::get(ctx, DecayAxis::Key));
            Value k = mapping.lookup(chain.deltaKey), beta = mapping.lookup(chain.deltaBeta);
            S = DeltaOp::create(bb, loc, S.getType(), S, k, beta);
            // The chunked delta rule solves for the corrections of a write: one of zeros.
            Value zeros = arith::ConstantOp::create(
                bb, loc, DenseElementsAttr::get(cast<VectorType>(k.getType()), 0.0f));
            S = WriteOp::create(bb, loc, S.getType(), S, k, zeros, beta, Value());
            next.push_back(S);
          }
          return next;
        },
        stateDependent);
    for (auto [i, finalState] : llvm::zip(deltas, probe.getFinalStates()))
      results.push_back({statePrefix(index, i) + ".transition", finalState});
  }

  // Diagonal decays: the part's log-decay sums, as running sums (1 × n states).
  struct Sum {
    unsigned state;
    const char *axis;
    SmallVector<Value> decays;
    int64_t size;
  };
  SmallVector<Sum> sums;
  for (auto [i, chain] : llvm::enumerate(chains)) {
    if (chain.deltaKey || !chain.decays())
      continue;
    if (!chain.scalarDecays.empty())
      sums.push_back({static_cast<unsigned>(i), "scalar_log_decay", chain.scalarDecays, 1});
    if (!chain.keyDecays.empty())
      sums.push_back(
          {static_cast<unsigned>(i), "key_log_decay", chain.keyDecays, chain.type.getKeyDim()});
    if (!chain.valueDecays.empty())
      sums.push_back({static_cast<unsigned>(i), "value_log_decay", chain.valueDecays,
                      chain.type.getValueDim()});
  }
  if (!sums.empty()) {
    SmallVector<StateType> sumStates;
    for (const Sum &sum : sums)
      sumStates.push_back(StateType::get(ctx, {1, sum.size}, f32));
    RecurrenceOp probe = buildProbe(
        b, op, sumStates, ValueRange{},
        [&](OpBuilder &bb, IRMapping &mapping, ValueRange args) {
          SmallVector<Value> next;
          auto row = VectorType::get({1}, f32);
          Value one = arith::ConstantOp::create(bb, loc, DenseElementsAttr::get(row, 1.0f));
          for (auto [sum, S] : llvm::zip(sums, args)) {
            Value x = sumOf(bb, loc, sum.decays, mapping);
            if (!isa<VectorType>(x.getType()))
              x = vector::BroadcastOp::create(bb, loc, row, x);
            next.push_back(WriteOp::create(bb, loc, S.getType(), S, one, x, Value(), Value()));
          }
          return next;
        },
        stateDependent);
    for (auto [sum, finalState] : llvm::zip(sums, probe.getFinalStates()))
      results.push_back({statePrefix(index, sum.state) + "." + sum.axis, finalState});
  }
  return success();
}

/// The tokens [begin, end) of a [B, T, ...] tensor.
static Value sliceTokens(OpBuilder &b, Location loc, Value x, int64_t begin, int64_t end) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)), strides(type.getRank(), b.getIndexAttr(1)), sizes;
  for (int64_t d : type.getShape())
    sizes.push_back(b.getIndexAttr(d));
  offsets[1] = b.getIndexAttr(begin);
  sizes[1] = b.getIndexAttr(end - begin);
  return tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides);
}

/// `op` run over its tokens [begin, end) only (the tokens before are a part's halo: the
/// layer's windows and delays read them, its recurrences start after them): its inputs
/// sliced, its outputs over those tokens.
static FailureOr<RecurrenceOp> sliceRecurrence(OpBuilder &b, RecurrenceOp op, int64_t begin,
                                               int64_t end) {
  int64_t tokens = cast<RankedTensorType>(op.getInputs()[0].getType()).getDimSize(1);
  if (end < 0)
    end = tokens;
  if (begin == 0 && end == tokens)
    return op;
  if (op.getCuSeqlens())
    return op.emitOpError("has no sequence-parallel form with a halo: cu_seqlens (a part's "
                          "halo would belong to another sequence)");
  if (begin < 0 || begin > end || end > tokens)
    return op.emitOpError("cannot start at token ") << begin << " and end at " << end
                                                    << " of its " << tokens;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op);
  Location loc = op.getLoc();
  SmallVector<Value> inputs;
  for (Value input : op.getInputs())
    inputs.push_back(sliceTokens(b, loc, input, begin, end));
  SmallVector<Type> types;
  for (Value output : op.getOutputs()) {
    auto type = cast<RankedTensorType>(output.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[1] = end - begin;
    types.push_back(RankedTensorType::get(shape, type.getElementType()));
  }
  for (Value finalState : op.getFinalStates())
    types.push_back(finalState.getType());
  auto sliced = RecurrenceOp::create(b, loc, types, inputs, op.getParams(), op.getInits(),
                                     op.getCuSeqlens());
  copyAttributes(op, sliced);
  sliced.getBody().takeBody(op.getBody());
  return sliced;
}

/// A copy of `func` named `name`, its argument names and result names included.
static func::FuncOp cloneFunction(OpBuilder &b, func::FuncOp func, StringRef name) {
  auto copy = cast<func::FuncOp>(b.clone(*func));
  copy.setName(name);
  return copy;
}

/// Appends an argument named `name` of `type` to `func`.
static Value appendArgument(func::FuncOp func, Type type, StringRef name) {
  unsigned index = func.getNumArguments();
  if (failed(func.insertArgument(index, type, DictionaryAttr(), func.getLoc())))
    return {};
  func.setArgAttr(index, "linrec.name", StringAttr::get(func.getContext(), name));
  return func.getArgument(index);
}

static LogicalResult checkFunction(func::FuncOp func) {
  for (Operation &op : func.getBody().front())
    if (isa<ModelOpInterface>(op))
      return op.emitOpError("is a named model op: run linrec-normalize before "
                            "linrec-build-sequence-parallel");
  return success();
}

static LogicalResult buildSummary(func::FuncOp func, StringRef name, int64_t begin,
                                  int64_t end) {
  OpBuilder b(func);
  b.setInsertionPointAfter(func);
  func::FuncOp summary = cloneFunction(b, func, name);
  Block &entry = summary.getBody().front();
  entry.getTerminator()->erase();
  summary.removeResAttrsAttr();
  // The layer's outputs are not part of the summary: what computes only them goes.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(entry)))
    if (!isa<RecurrenceOp>(op) && op.use_empty() && isPure(&op))
      op.erase();
  SmallVector<SummaryResult> results;
  SmallVector<RecurrenceOp> recurrences(entry.getOps<RecurrenceOp>());
  for (auto [index, op] : llvm::enumerate(recurrences)) {
    FailureOr<RecurrenceOp> sliced = sliceRecurrence(b, op, begin, end);
    if (failed(sliced)) {
      summary.erase();
      return failure();
    }
    if (*sliced != op) {
      // (`op`'s body moved into `sliced`: its results are counted from `sliced`'s.)
      unsigned numOutputs = sliced->getNumOutputs();
      for (unsigned j = 0; j < op->getNumResults(); ++j) {
        if (j >= numOutputs) {
          op->getResult(j).replaceAllUsesWith(sliced->getOperation()->getResult(j));
          continue;
        }
        if (!op->getResult(j).use_empty()) {
          InFlightDiagnostic diag = op.emitOpError(
              "has outputs that another recurrence reads (no sequence-parallel form with a "
              "halo yet)");
          summary.erase();
          return diag;
        }
      }
      op.erase();
      op = recurrences[index] = *sliced;
    }
    b.setInsertionPointAfter(op);
    auto newIdentity = [&](RankedTensorType type, StringRef argName) {
      return appendArgument(summary, type, argName);
    };
    if (failed(summarizeRecurrence(b, op, index, results, newIdentity))) {
      summary.erase();
      return failure();
    }
  }
  b.setInsertionPointToEnd(&entry);
  SmallVector<Value> values;
  SmallVector<Type> types;
  for (const SummaryResult &r : results) {
    values.push_back(r.value);
    types.push_back(r.value.getType());
  }
  func::ReturnOp::create(b, func.getLoc(), values);
  summary.setFunctionType(FunctionType::get(func.getContext(),
                                            summary.getArgumentTypes(), types));
  for (auto [i, r] : llvm::enumerate(results))
    summary.setResultAttr(i, "linrec.name", b.getStringAttr(r.name));
  // The layer's outputs are not part of the summary: its recurrences drop them.
  for (RecurrenceOp op : recurrences) {
    RecurrenceOp trimmed = dropUnusedOutputs(b, op);
    for (Operation &bodyOp : llvm::make_early_inc_range(llvm::reverse(trimmed.getBodyBlock())))
      if (!bodyOp.hasTrait<OpTrait::IsTerminator>() && bodyOp.use_empty() && isPure(&bodyOp))
        bodyOp.erase();
  }
  return success();
}

static LogicalResult buildResume(func::FuncOp func, StringRef name, int64_t begin) {
  OpBuilder b(func);
  b.setInsertionPointAfter(func);
  func::FuncOp resume = cloneFunction(b, func, name);
  Block &entry = resume.getBody().front();
  SmallVector<RecurrenceOp> recurrences(entry.getOps<RecurrenceOp>());
  for (auto [index, op] : llvm::enumerate(recurrences)) {
    if (failed(checkSummarizable(op))) {
      resume.erase();
      return failure();
    }
    b.setInsertionPoint(op);
    SmallVector<Value> inits;
    for (auto [i, finalState] : llvm::enumerate(op.getFinalStates())) {
      Value carry = appendArgument(resume, finalState.getType(),
                                   statePrefix(index, i) + ".carry");
      inits.push_back(i < op.getInits().size()
                          ? adjoint::add(b, op.getLoc(), op.getInits()[i], carry)
                          : carry);
    }
    auto resumed = RecurrenceOp::create(b, op.getLoc(), op->getResultTypes(), op.getInputs(),
                                        op.getParams(), inits, op.getCuSeqlens());
    copyAttributes(op, resumed);
    resumed.getBody().takeBody(op.getBody());
    op->replaceAllUsesWith(resumed->getResults());
    op->erase();
    // Its outputs over the halo are zeros (the caller drops the halo's outputs).
    FailureOr<RecurrenceOp> sliced = sliceRecurrence(b, resumed, begin, -1);
    if (failed(sliced)) {
      resume.erase();
      return failure();
    }
    if (*sliced != resumed) {
      b.setInsertionPointAfter(*sliced);
      unsigned numOutputs = sliced->getNumOutputs();
      for (unsigned j = 0; j < resumed->getNumResults(); ++j) {
        Value to = sliced->getOperation()->getResult(j);
        resumed->getResult(j).replaceAllUsesWith(
            j < numOutputs ? adjoint::padTokens(b, sliced->getLoc(), to, begin, 0) : to);
      }
      resumed.erase();
    }
  }
  resume.setFunctionType(FunctionType::get(func.getContext(), resume.getArgumentTypes(),
                                           func.getResultTypes()));
  return success();
}

namespace {
struct LinrecBuildSequenceParallelPass
    : linrec::impl::LinrecBuildSequenceParallelBase<LinrecBuildSequenceParallelPass> {
  using LinrecBuildSequenceParallelBase::LinrecBuildSequenceParallelBase;
  void runOnOperation() override {
    SmallVector<func::FuncOp> functions;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isDeclaration() && func.isPublic() &&
          (function.empty() || func.getName() == function))
        functions.push_back(func);
    for (func::FuncOp func : functions) {
      // (Each goes right after @f: the resume first, so the summary comes before it.)
      if (failed(checkFunction(func)) ||
          failed(buildResume(func, (func.getName() + "_resume").str(), recurrenceBegin)) ||
          failed(buildSummary(func, (func.getName() + "_summary").str(), recurrenceBegin,
                              summaryEnd)))
        return signalPassFailure();
      // A halo's slices move up to the layer's arguments through the per-token ops (feature
      // maps, projections), which then compute the part's tokens only and stay fusable into
      // the recurrences.
      if (recurrenceBegin != 0 || summaryEnd >= 0) {
        RewritePatternSet patterns(&getContext());
        linalg::populateBubbleUpExtractSliceOpPatterns(patterns);
        tensor::populateMergeConsecutiveInsertExtractSlicePatterns(patterns);
        FrozenRewritePatternSet frozen(std::move(patterns));
        for (StringRef suffix : {"_summary", "_resume"})
          if (auto f = getOperation().lookupSymbol<func::FuncOp>((func.getName() + suffix).str()))
            (void)applyPatternsGreedily(f, frozen);
      }
    }
  }
};
} // namespace
