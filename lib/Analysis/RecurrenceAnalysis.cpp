//===- RecurrenceAnalysis.cpp - the state algebra of a recurrence ---------===//

#include "linrec/Analysis/RecurrenceAnalysis.h"

#include "mlir/Analysis/SliceAnalysis.h"

using namespace mlir;

namespace linrec {

Operation *nextStateOp(Value state, bool &forked) {
  Operation *next = nullptr;
  forked = false;
  for (OpOperand &use : state.getUses()) {
    Operation *user = use.getOwner();
    // A Hadamard write's factor reads the state.
    auto hadamard = dyn_cast<WriteHadamardOp>(user);
    if (isa<ReadOp, ReadProductOp, YieldOp>(user) ||
        (hadamard && &use == &hadamard.getFactorMutable()))
      continue;
    if (next && next != user)
      forked = true;
    next = user;
  }
  return next;
}

namespace {
/// Walks the chain of state ops from a state argument to its yielded value.
struct ChainReader {
  StateUpdate &update;
  std::string &reason;

  bool fail(const Twine &why) {
    reason = ("state #" + Twine(update.index) + ": " + why).str();
    return false;
  }

  bool read(Value state, Value yielded) {
    enum { Decays, Delta, Written } phase = Decays;
    while (true) {
      for (Operation *user : state.getUsers()) {
        if (auto r = dyn_cast<ReadOp>(user))
          update.reads.push_back(r);
        if (auto r = dyn_cast<ReadProductOp>(user); r && !llvm::is_contained(update.productReads, r))
          update.productReads.push_back(r);
      }
      if (state == yielded) {
        // The chunked delta rule solves for the corrections its write adds (WY form).
        if (phase == Delta)
          return fail("a delta transition without a write (the token scan runs it)");
        return true;
      }
      bool forked;
      Operation *op = nextStateOp(state, forked);
      if (forked)
        return fail("its chain forks (a select or a second use)");
      if (!op)
        return fail("its chain does not reach the yielded value");
      if (auto decay = dyn_cast<DecayOp>(op)) {
        if (phase != Decays)
          return fail("decays after a delta or write");
        std::optional<DecayAxis> axis = decay.getAxis();
        (!axis ? update.scalarDecays
               : *axis == DecayAxis::Key ? update.keyDecays : update.valueDecays)
            .push_back(decay.getLogDecay());
        state = decay.getResult();
      } else if (auto delta = dyn_cast<DeltaOp>(op)) {
        if (phase != Decays)
          return fail("a second delta transition, or one after the write");
        update.delta = true;
        update.key = delta.getKey();
        update.beta = delta.getBeta();
        phase = Delta;
        state = delta.getResult();
      } else if (auto write = dyn_cast<WriteOp>(op)) {
        if (phase == Written)
          return fail("two writes in one step");
        if (write.getMask())
          return fail("a masked write");
        if (phase == Delta && (write.getKey() != update.key || write.getBeta() != update.beta)) {
          if (!update.valueDecays.empty())
            return fail("the delta transition and the write use different keys or betas, "
                        "with a value-dim decay");
          if (!write.getValue())
            return fail("a normalizer's delta transition");
          update.writeKey = write.getKey();
          update.writeBeta = write.getBeta();
          update.value = write.getValue();
          phase = Written;
          state = write.getResult();
          continue;
        }
        update.key = write.getKey();
        update.value = write.getValue();
        update.beta = write.getBeta();
        phase = Written;
        state = write.getResult();
      } else if (isa<WriteHadamardOp>(op)) {
        return fail("a Hadamard write (the token scan runs it)");
      } else {
        return fail("'" + op->getName().getStringRef() + "' on the state");
      }
    }
  }
};
} // namespace

/// Block-start reads in chunks of a multiple of the block: the chunk-start state is then the
/// state at a block start, and a query's block starts inside its chunk. With decays it would
/// also need each block's cumulative decay; the token scan reads those.
static bool readBlocksFitChunks(RecurrenceOp op, RecurrenceAnalysis &result) {
  for (const StateUpdate &s : result.states)
    for (ReadOp read : s.reads) {
      std::optional<int64_t> block = read.getBlockStart();
      if (!block)
        continue;
      if (op.getReverse()) {
        // Its blocks count from the sequence's start, its chunks from the end.
        result.reason = "a block-start read in a reverse recurrence (no chunked form yet)";
        return false;
      }
      if (s.writeKey) {
        result.reason = "state #" + std::to_string(s.index) +
                        ": a block-start read of a delta rule with its own write key (no "
                        "chunked form yet)";
        return false;
      }
      if (!s.scalarDecays.empty() || !s.keyDecays.empty() || !s.valueDecays.empty()) {
        result.reason = "state #" + std::to_string(s.index) +
                        ": a block-start read of a decaying state (no chunked form yet)";
        return false;
      }
      if (result.readBlock && result.readBlock != *block) {
        result.reason = "block-start reads of different block sizes";
        return false;
      }
      if (*block > RecurrenceAnalysis::kMaxReadBlock) {
        result.reason = "a block-start read of blocks over " +
                        std::to_string(RecurrenceAnalysis::kMaxReadBlock) + " tokens";
        return false;
      }
      result.readBlock = *block;
    }
  return true;
}

/// Transposed reads S u of states whose decays are scalar or along the key axis: the chunked
/// kernel's intra-chunk term is then (U Vᵀ ⊙ M) (K ⊙ e^{−b}) scaled by e^{b} (V the delta
/// rule's solved values), the key decays outside the scores. A value-axis decay would be
/// inside them (the token scan runs it).
static bool transposedReadsChunkable(RecurrenceAnalysis &result) {
  for (const StateUpdate &s : result.states) {
    if (llvm::none_of(s.reads, [](ReadOp read) { return read.getTransposed(); }))
      continue;
    std::string state = "state #" + std::to_string(s.index);
    if (!s.valueDecays.empty()) {
      result.reason = state + ": a transposed read of a state with a value-dim decay (no "
                              "chunked form yet)";
      return false;
    }
  }
  return true;
}

bool RecurrenceAnalysis::runningSumsOnly() const {
  return !states.empty() && llvm::all_of(states, [](const StateUpdate &s) {
    return !s.delta && s.type.getShape()[0] == 1;
  });
}

int64_t RecurrenceAnalysis::chunkSizeFor(int64_t requested) const {
  if (algorithm == Algorithm::ChunkedProduct)
    return std::min(requested, kMaxProductChunk);
  if (!readBlock)
    return requested;
  return readBlock * std::max<int64_t>(1, requested / readBlock);
}

/// Whether `op`'s body reads a product of states (linrec.read_product).
static bool readsProducts(RecurrenceOp op) {
  return llvm::any_of(op.getBodyBlock(),
                      [](Operation &bodyOp) { return isa<ReadProductOp>(bodyOp); });
}

RecurrenceAnalysis RecurrenceAnalysis::analyze(RecurrenceOp op) {
  RecurrenceAnalysis result;
  YieldOp yield = op.getYield();
  // Windows first: the kernels check them whatever the algorithm.
  for (Operation &bodyOp : op.getBodyBlock())
    if (auto window = dyn_cast<WindowReadOp>(bodyOp))
      result.windows.push_back(window);
  bool products = readsProducts(op);
  bool anyDelta = false;
  for (auto [i, arg] : llvm::enumerate(op.getStateArgs())) {
    StateUpdate update;
    update.index = i;
    update.type = cast<StateType>(arg.getType());
    if (!ChainReader{update, result.reason}.read(arg, yield.getStates()[i]))
      return result;
    if (!update.type.getElementType().isF32()) {
      result.reason = "state #" + std::to_string(i) + ": a state of another float type than "
                      "f32 (the token scan runs it)";
      return result;
    }
    if (update.delta && !update.valueDecays.empty()) {
      result.reason = "state #" + std::to_string(i) +
                      ": a delta rule with a value-dim decay (no chunked form yet)";
      return result;
    }
    anyDelta |= update.delta;
    result.states.push_back(std::move(update));
  }
  if (products)
    return analyzeProducts(op, result);
  if (!readBlocksFitChunks(op, result) || !transposedReadsChunkable(result))
    return result;

  if (!driversIndependentOfReads(op, result))
    return result;
  result.algorithm = anyDelta ? Algorithm::ChunkedDelta : Algorithm::ChunkedDiagonal;
  return result;
}

/// The chunked product form takes plain writes and product reads only.
RecurrenceAnalysis &RecurrenceAnalysis::analyzeProducts(RecurrenceOp op,
                                                        RecurrenceAnalysis &result) {
  auto fail = [&](const Twine &why) -> RecurrenceAnalysis & {
    result.reason = ("reads a product of states; no chunked form: " + why).str();
    return result;
  };
  for (const StateUpdate &s : result.states) {
    std::string state = "state #" + std::to_string(s.index);
    if (s.delta || !s.scalarDecays.empty() || !s.keyDecays.empty() || !s.valueDecays.empty())
      return fail(state + " decays or has a delta transition");
    if (!s.reads.empty())
      return fail(state + " is also read alone");
    if (!s.key)
      return fail(state + " is never written");
  }
  if (!result.windows.empty())
    return fail("a window read");
  if (!driversIndependentOfReads(op, result))
    return result;
  result.productChunkable = true;
  result.reason = "reads a product of states: the token scan costs less on the CPU than the "
                  "chunked product form (mark the recurrence chunked_product to run that)";
  return result;
}

/// The per-token values that drive the states must not depend on any state or read: the
/// chunked forms compute them for a whole chunk before they touch the state.
bool RecurrenceAnalysis::driversIndependentOfReads(RecurrenceOp op, RecurrenceAnalysis &result) {
  SetVector<Operation *> stateDependent;
  // (Window reads too: the chunked kernel computes them after the prologue.)
  for (Operation &bodyOp : op.getBodyBlock())
    if (isa<ReadOp, ReadProductOp, WindowReadOp>(bodyOp)) {
      getForwardSlice(&bodyOp, &stateDependent);
      stateDependent.insert(&bodyOp); // after: the slice removes its root
    }
  for (const StateUpdate &s : result.states) {
    SmallVector<Value> drivers = {s.key, s.value, s.beta, s.writeKey, s.writeBeta};
    llvm::append_range(drivers, s.scalarDecays);
    llvm::append_range(drivers, s.keyDecays);
    llvm::append_range(drivers, s.valueDecays);
    for (ReadOp r : s.reads)
      drivers.push_back(r.getQuery());
    for (ReadProductOp r : s.productReads)
      drivers.push_back(r.getQuery());
    for (Value v : drivers)
      if (v && v.getDefiningOp() && stateDependent.contains(v.getDefiningOp())) {
        result.reason = "a key, value, gate or query depends on a read of the state or a window";
        return false;
      }
  }
  for (WindowReadOp window : result.windows)
    for (Value v : window->getOperands())
      if (v.getDefiningOp() && stateDependent.contains(v.getDefiningOp())) {
        result.reason =
            "a window read's query, key or value depends on a read of the state or a window";
        return false;
      }
  return true;
}

} // namespace linrec
