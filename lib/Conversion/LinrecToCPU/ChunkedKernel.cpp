//===- ChunkedKernel.cpp - the chunk-parallel form of a recurrence --------===//
//
// Per (sequence, head), chunk by chunk of C tokens (docs/CPU-codegen.md, "The chunked kernel"), with b = the cumulative
// log-decay inside the chunk (every exponent below is <= 0, so nothing overflows):
//
//   prologue: the body's per-token ops give Q (scaled), K, V (times β), β and the decays
//   A   = (Q Kᵀ ⊙ e^{b_i − b_j})_{j<=i}              intra-chunk attention, per read
//   U   = V, or for the delta rule the forward substitution
//         U_i = β_i (V_i − (e^{b_i} ⊙ K_i) S − Σ_{j<i} (K_i Kᵀ_j ⊙ e^{b_i − b_j}) U_j)
//   O   = (Q ⊙ e^{b}) S + A U                           (value decay: ⊙ e^{bv_i − bv_j})
//   S  ← e^{b_last} ⊙ S + (K ⊙ e^{b_last − b})ᵀ U   (b_last − b summed from the end)
//   epilogue: the body's ops after the reads turn O into the token's outputs.
//
// A window read (hybrid layers) adds its term from the same prologue rows (ChunkWindow.h).
//
// Key-vector decays (gla, kda) are the one exception to "exponents <= 0": a chunk whose |b|
// stays below kMaxFactoredExponent computes A as (Q ⊙ e^{b})(K ⊙ e^{−b})ᵀ, bounded by that
// check; other chunks use 16-row sub-chunks whose exponents are all <= 0.
//
// The last chunk is zero-padded: padded tokens have zero keys, values, betas and decays, so
// they change nothing and their outputs are not stored.
//
//===----------------------------------------------------------------------===//

#include "ChunkWindow.h"
#include "CpuKernels.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec::cpu {
namespace {

/// The chunk buffers of one state.
struct StateBuffers {
  const StateUpdate *update;
  int64_t dk, dv;             // dv: the width of this work item's value tile
  int64_t fullDv;             // the state's whole value dim
  Value fullValues;           // C x fullDv, written by the prologue
  // The cumulative decays b (below) are pairs of floats, b = hi + lo (codegen::addToDecaySum):
  // the buffers named for the decays hold hi, the *Lo buffers lo.
  Value fullValueDecay, fullValueDecayLo; // C x fullDv, cumulative (null without value decays)
  Value state;                // dk x dv: the current head's view of groupStates
  Value groupStates;          // (heads per item · dk) x dv
  Value keys, keysT;          // C x dk, dk x C
  Value values;               // C x dv view of fullValues (β-scaled for plain writes; 1 for
                              // a normalizer)
  Value betas;                // C (delta)
  Value scalarDecay, scalarDecayLo;    // C, cumulative (null without scalar decays)
  Value keyDecay, keyDecayT;           // C x dk, dk x C, cumulative (null without key decays)
  Value keyDecayLo, keyDecayLoT;       // their lo parts
  Value valueDecay, valueDecayLo;      // C x dv views of fullValueDecay(Lo)
  // The decays from each token to the chunk's last, t_i = b_last − b_i (emitDecaysToEnd): C;
  // C x dk and dk x C; C x fullDv and its value tile.
  Value scalarToEnd, keyToEnd, keyToEndT, fullValueToEnd, valueToEnd;
  Value decayBound;           // f32 per chunk (key decays): the largest |b|
  Value solved;               // C x dv: U
  Value keysDecayedT;         // dk x C: (K ⊙ e^{b_last − b})ᵀ; before the state update of a
                              // factored chunk, (K ⊙ e^{−b})ᵀ
  Value factored;             // i1 per chunk (key decays): |b| < kMaxFactoredExponent
  Value scaled;               // C x dk scratch: Q ⊙ e^{b}, K ⊙ e^{b}
  Value valuesDecayed;        // C x dv scratch (value decay)
  Value valueMix;             // C x dv scratch: A (U ⊙ e^{−bv}) (value decay)
  Value attention;            // C x C: A (per read), then G (delta)
  Value blockQueries;         // 16 x dk scratch of the sub-chunk attention (key decays)
  SmallVector<Value> queries; // per read: C x dk, scaled (transposed: C x dv)
  SmallVector<Value> results; // per read: C x dv (transposed: C x dk)
  // Transposed reads (S u): Sᵀ at the chunk's start, Vᵀ (dv x C; the delta rule's Uᵀ), Xᵀ
  // with a separate write, and C x dk scratch for the key-decayed mix.
  Value stateT, valuesT, writeValuesT, keyMix;
  // A delta rule whose write takes its own key c (StateUpdate::writeKey): C, Cᵀ, the decayed
  // Cᵀ of the state update, and X (β_w-scaled values; `values` then holds the solve's
  // right-hand side −strict(K Cᵀ ⊙ Γ) X). With key decays, a factored chunk's (C ⊙ e^{−b})ᵀ.
  Value writeKeys, writeKeysT, writeKeysDecayedT, writeKeysFactoredT;
  Value fullWriteValues, writeValues;
};

/// Rows per sub-chunk of the key-decay attention: its diagonal blocks are exact, the blocks
/// below factor through the sub-chunk's first row.
constexpr int64_t kSubChunk = 16;

/// Tokens ahead of the prologue's loads that their rows are prefetched to L1 (2, 4 and 8
/// measured alike: simple_gla and gated_delta 1-3% faster).
constexpr int64_t kNearPrefetch = 4;

/// The largest |exponent| a factored product e^{b_i} e^{−b_j} may use. The two factors round
/// their exponents apart (|b| · 2⁻²⁴ each), so a pair's weight carries (|b_i| + |b_j|) · 2⁻²⁴
/// relative error however close b_i and b_j are: tokens after a strong decay in the chunk
/// would lose digits the reference keeps. Below 16 that stays under 2e−6 (and e^{±88}, the
/// f32 limit, is far away); stronger chunks take forms whose exponents are the differences
/// b_i − b_j themselves (sub-chunks, exact sums, the decays to the chunk's end).
constexpr double kMaxFactoredExponent = 16.0;

class ChunkedKernel {
public:
  explicit ChunkedKernel(KernelEmitter &e) : e(e), b(e.b), C(e.chunkSize) {}

  void emit() {
    for (const StateUpdate &u : e.analysis.states)
      states.push_back(allocate(u));
    for (WindowReadOp window : e.analysis.windows)
      windows.emplace_back(e, window, C);
    for (Operation &bodyOp : e.op.getBodyBlock())
      if (auto project = dyn_cast<ProjectOp>(bodyOp); project && isPerToken(project))
        projections.push_back(allocate(project));
    e.forEachWorkItem([&](const WorkItem &group) {
      // A sequence starts with an empty window history (zeros: 0 · garbage could be NaN).
      for (ChunkWindow &w : windows)
        w.clearHistory();
      column0 = arith::MulIOp::create(b, group.valueTile, e.index(states.front().dv));
      for (StateBuffers &s : states)
        selectValueTile(s);
      // The heads of the group advance chunk by chunk together, each with its own state.
      forEachHead(group, [&](const WorkItem &item) {
        for (StateBuffers &s : states)
          e.loadInitialState(s.update->index, item, s.state, column0);
      });
      e.forEachChunk(group, C, [&](Value, Value first, Value count) {
        forEachHead(group, [&](const WorkItem &item) {
          // What the kernel loads next: the group's next head in this chunk, or its first head
          // in the next chunk (the rows to prefetch while this head computes).
          Value nextHead = arith::AddIOp::create(b, item.head, e.index(1));
          Value groupEnd = arith::AddIOp::create(b, group.head, group.numHeads);
          Value wraps = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, nextHead, groupEnd);
          WorkItem next = item;
          next.head = arith::SelectOp::create(b, wraps, group.head, nextHead);
          Value nextFirst = arith::SelectOp::create(
              b, wraps, arith::AddIOp::create(b, first, e.index(C)), first);
          emitChunk(item, first, count, next, nextFirst);
        });
        if (std::optional<APFloat> eps = e.op.getHeadsNormEps())
          emitHeadsNorm(group, first, count, eps->convertToDouble());
      });
      forEachHead(group, [&](const WorkItem &item) {
        for (StateBuffers &s : states)
          e.storeFinalState(s.update->index, item, s.state, column0);
      });
    });
    e.freeAll();
  }

private:
  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  int64_t C;
  std::vector<StateBuffers> states;
  std::vector<ChunkWindow> windows; // the body's window reads
  Value column0; // the first value column of the current work item

  /// A projection u = xᵀW of the chunk's tokens as one matmul: X (C x D, the tokens' inputs)
  /// times the head's W (D x F). Per token, u costs D loads of W's rows; the register-tiled
  /// matmul loads each row once per tile of tokens.
  struct ChunkProjection {
    ProjectOp op;
    Value inputs;  // C x D (zero rows past the sequence's end)
    Value outputs; // C x F
  };
  std::vector<ChunkProjection> projections;

  /// Whether `project`'s input comes from the token's arguments alone: not from the states,
  /// a read or a window read (an output's projection of a read stays per token), and not
  /// from another projection (simpler: those stay per token too).
  bool isPerToken(ProjectOp project) {
    SetVector<Operation *> slice;
    BackwardSliceOptions options;
    options.inclusive = false;
    options.filter = [&](Operation *op) { return op->getBlock() == &e.op.getBodyBlock(); };
    (void)getBackwardSlice(project.getInput(), &slice, options);
    auto stateArg = [&](Value v) { return llvm::is_contained(e.op.getStateArgs(), v); };
    return llvm::none_of(slice, [&](Operation *op) {
      return isa<ProjectOp, ReadOp, ReadProductOp, WindowReadOp>(op) ||
             llvm::any_of(op->getOperands(), stateArg) ||
             llvm::any_of(op->getResultTypes(), [](Type t) { return isa<StateType>(t); });
    }) && !stateArg(project.getInput());
  }

  ChunkProjection allocate(ProjectOp project) {
    ArrayRef<int64_t> weight = project.getWeight().getType().getShape();
    return {project, e.alloc({C, weight[0]}), e.alloc({C, weight[1]})};
  }

  /// Maps the projections' results at token i of the chunk to their rows.
  void mapProjections(IRMapping &mapping, Value i) {
    for (ChunkProjection &p : projections)
      mapping.map(p.op.getResult(),
                  e.load(p.op.getResult().getType(), p.outputs, {i, e.index(0)}));
  }

  /// The chunk's projections: their input rows (zeros past `count`), then the matmuls.
  void emitProjections(const WorkItem &item, Value first, Value count) {
    for (ChunkProjection &p : projections) {
      int64_t rows = cast<MemRefType>(p.inputs.getType()).getDimSize(1);
      e.forLoop(count, e.index(C), [&](Value i) {
        e.store(e.zeros(e.vectorOf(rows)), p.inputs, {i, e.index(0)});
      });
      e.forLoop(e.index(0), count, [&](Value i) {
        IRMapping mapping;
        e.mapTokenArguments(mapping, item, arith::AddIOp::create(b, first, i));
        e.cloneSlice({p.op.getInput()}, mapping);
        e.store(mapping.lookup(p.op.getInput()), p.inputs, {i, e.index(0)});
      });
      IRMapping weights;
      e.mapTokenArguments(weights, item, first,
                          [&](Value arg) { return arg == p.op.getWeight(); });
      e.matmul(p.inputs, weights.lookup(p.op.getWeight()), p.outputs, /*accumulate=*/false);
    }
  }

  /// The chunk's rows of output #0, normalized over every head of the group (all of them:
  /// LowerToCPU groups the heads): x / (‖x‖₂/√(H·D) + eps) per token, while the rows the
  /// epilogues just stored are in the cache.
  void emitHeadsNorm(const WorkItem &group, Value first, Value count, double eps) {
    Value out = e.output(0);
    auto type = cast<MemRefType>(out.getType());
    int64_t heads = type.getDimSize(2), width = type.getDimSize(3);
    VectorType rowType = e.vectorOf(width);
    e.forLoop(e.index(0), count, [&](Value i) {
      Value token = arith::AddIOp::create(b, first, i);
      Value row = e.memoryToken(group, token);
      auto at = [&](Value h) { return SmallVector<Value>{group.row, row, h, e.index(0)}; };
      Value squares = e.forLoopCarry(e.index(0), e.index(heads), e.zeros(rowType),
                                     [&](Value h, Value acc) {
                                       Value x = e.load(rowType, out, at(h));
                                       return vector::FMAOp::create(b, x, x, acc).getResult();
                                     });
      Value sum = vector::ReductionOp::create(b, vector::CombiningKind::ADD, squares);
      Value rms = math::SqrtOp::create(b, arith::DivFOp::create(b, sum, e.f32(double(heads * width))));
      Value inverse = arith::DivFOp::create(b, e.f32(1.0), add(rms, e.f32(eps)));
      e.forLoop(0, heads, [&](Value h) {
        e.store(mul(e.load(rowType, out, at(h)), splat(inverse, width)), out, at(h));
      });
    });
  }

  /// Runs `body` for each head of the group, with every state pointing at that head's buffer.
  void forEachHead(const WorkItem &group, function_ref<void(const WorkItem &)> body) {
    e.forLoop(e.index(0), group.numHeads, [&](Value local) {
      WorkItem item = group;
      item.head = arith::AddIOp::create(b, group.head, local);
      item.numHeads = e.index(1);
      for (StateBuffers &s : states) {
        if (e.headsPerItem == 1) {
          s.state = s.groupStates;
          continue;
        }
        Value row0 = arith::MulIOp::create(b, local, e.index(s.dk));
        s.state = e.view(s.groupStates, row0, b.getIndexAttr(0), s.dk, s.dv);
      }
      body(item);
    });
  }

  /// Points the value buffers at this work item's columns.
  void selectValueTile(StateBuffers &s) {
    if (e.valueTiles == 1)
      return;
    auto tile = [&](Value full) { return e.view(full, b.getIndexAttr(0), column0, C, s.dv); };
    s.values = tile(s.fullValues);
    if (!s.update->delta)
      s.solved = s.values;
    if (s.fullWriteValues)
      s.writeValues = tile(s.fullWriteValues);
    if (s.fullValueDecay) {
      s.valueDecay = tile(s.fullValueDecay);
      s.valueDecayLo = tile(s.fullValueDecayLo);
      s.valueToEnd = tile(s.fullValueToEnd);
    }
  }

  StateBuffers allocate(const StateUpdate &u) {
    StateBuffers s;
    s.update = &u;
    s.dk = u.type.getKeyDim();
    s.fullDv = u.type.getValueDim();
    s.dv = s.fullDv / e.valueTiles;
    s.groupStates = s.state = e.alloc({e.headsPerItem * s.dk, s.dv});
    s.keys = e.alloc({C, s.dk});
    s.keysT = e.alloc({s.dk, C});
    s.fullValues = s.values = e.alloc({C, s.fullDv});
    s.solved = s.values;
    if (u.delta) {
      s.betas = e.alloc({C});
      s.solved = e.alloc({C, s.dv});
    }
    if (u.writeKey) {
      s.writeKeys = e.alloc({C, s.dk});
      s.writeKeysT = e.alloc({s.dk, C});
      s.writeKeysDecayedT = e.alloc({s.dk, C});
      s.fullWriteValues = s.writeValues = e.alloc({C, s.fullDv});
      if (!u.keyDecays.empty())
        s.writeKeysFactoredT = e.alloc({s.dk, C});
    }
    // With key decays, scalar decays fold into them (e^{g} diag(e^{gk}) = diag(e^{g + gk})).
    if (!u.scalarDecays.empty() && u.keyDecays.empty()) {
      s.scalarDecay = e.alloc({C});
      s.scalarDecayLo = e.alloc({C});
      s.scalarToEnd = e.alloc({C});
    }
    if (!u.keyDecays.empty()) {
      s.keyDecay = e.alloc({C, s.dk});
      s.keyDecayT = e.alloc({s.dk, C});
      s.keyDecayLo = e.alloc({C, s.dk});
      s.keyDecayLoT = e.alloc({s.dk, C});
      s.keyToEnd = e.alloc({C, s.dk});
      s.keyToEndT = e.alloc({s.dk, C});
    }
    if (!u.valueDecays.empty()) {
      s.fullValueDecay = s.valueDecay = e.alloc({C, s.fullDv});
      s.fullValueDecayLo = s.valueDecayLo = e.alloc({C, s.fullDv});
      s.fullValueToEnd = s.valueToEnd = e.alloc({C, s.fullDv});
      s.valuesDecayed = e.alloc({C, s.dv});
      s.valueMix = e.alloc({C, s.dv});
    }
    s.keysDecayedT = e.alloc({s.dk, C});
    if (s.keyDecay)
      s.blockQueries = e.alloc({C % kSubChunk == 0 ? kSubChunk : C, s.dk});
    s.scaled = e.alloc({C, s.dk});
    s.attention = e.alloc({C, C});
    for (ReadOp read : u.reads) {
      bool transposed = read.getTransposed();
      s.queries.push_back(e.alloc({C, transposed ? s.dv : s.dk}));
      s.results.push_back(e.alloc({C, transposed ? s.dk : s.dv}));
    }
    if (hasTransposedRead(s)) {
      s.stateT = e.alloc({s.dv, s.dk});
      s.valuesT = e.alloc({s.dv, C});
      if (s.writeKeys)
        s.writeValuesT = e.alloc({s.dv, C});
      if (s.keyDecay)
        s.keyMix = e.alloc({C, s.dk});
    }
    return s;
  }

  static bool hasTransposedRead(const StateBuffers &s) {
    return llvm::any_of(s.update->reads, [](ReadOp read) { return read.getTransposed(); });
  }
  /// The width of read r's result rows: dv, or dk for a transposed read.
  static int64_t resultWidth(const StateBuffers &s, size_t r) {
    return ReadOp(s.update->reads[r]).getTransposed() ? s.dk : s.dv;
  }

  Value exp(Value x) { return math::ExpOp::create(b, x); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value splat(Value scalar, int64_t n) {
    return vector::BroadcastOp::create(b, e.vectorOf(n), scalar);
  }
  Value row(Value buffer, Value i, int64_t n) { return e.load(e.vectorOf(n), buffer, {i, e.index(0)}); }
  Value scalarAt(Value buffer, ValueRange indices) {
    return e.load(b.getF32Type(), buffer, indices);
  }
  Value logDecay(ArrayRef<Value> values, IRMapping &mapping) {
    return codegen::chunkLogDecay(b, values, mapping);
  }

  void emitChunk(const WorkItem &item, Value first, Value count, const WorkItem &next,
                 Value nextFirst) {
    for (StateBuffers &s : states)
      clearChunkBuffers(s);
    for (ChunkWindow &w : windows)
      w.clearPadding(count);
    emitProjections(item, first, count);
    emitPrologue(item, first, count);
    nextChunk = {&next, nextFirst, 0, 0};
    for (StateBuffers &s : states)
      nextChunk.parts += prefetchingMatmuls(s);
    for (StateBuffers &s : states) {
      // (Key decays transpose what their chunk needs: emitChunkFactors.)
      if (s.update->key && !s.keyDecay)
        e.transpose(s.keys, s.keysT);
      if (s.writeKeys)
        e.transpose(s.writeKeys, s.writeKeysT);
      emitCumulativeDecays(s);
      if (s.update->delta)
        emitDeltaSolve(s);
      if (s.stateT) {
        e.transpose(s.state, s.stateT);
        e.transpose(s.solved, s.valuesT);
        if (s.writeValuesT)
          e.transpose(s.writeValues, s.writeValuesT);
      }
      for (size_t r = 0; r < s.update->reads.size(); ++r) {
        if (ReadOp(s.update->reads[r]).getTransposed())
          emitTransposedRead(s, r);
        else
          emitRead(s, r);
      }
      emitStateUpdate(s);
    }
    nextChunk = {};
    for (ChunkWindow &w : windows)
      w.emit(item, first);
    emitEpilogue(item, first, count);
    for (ChunkWindow &w : windows)
      w.shiftHistory();
  }

  /// The next chunk's token rows, prefetched while this chunk computes. The prologue's loads
  /// are strided (one row per head and token) and miss every cache level. Prefetched in one
  /// burst they would gain little: the core drops prefetches while its few miss buffers are
  /// busy (measured: bursts of over ~24 lines lose most of the gain). So the chunk's large
  /// matmuls share the next chunk's tokens, a token or two per register tile.
  struct NextChunk {
    const WorkItem *item = nullptr;
    Value first;
    int64_t part = 0, parts = 0;
  } nextChunk;

  /// How many calls of matmulPrefetchingNextChunk the chunk makes for `s`.
  int64_t prefetchingMatmuls(const StateBuffers &s) {
    int64_t count = (s.update->delta ? 1 : 0) + 1;
    for (ReadOp read : s.update->reads)
      count += s.valueDecay || read.getTransposed() || !hasIntraChunkTerm(read) ? 1 : 2;
    return count;
  }

  /// A read at the start of blocks of the whole chunk sees the chunk-start state only.
  bool hasIntraChunkTerm(ReadOp read) {
    std::optional<int64_t> block = read.getBlockStart();
    return !block || *block < C;
  }

  void matmulPrefetchingNextChunk(Value a, Value bMat, Value c, bool accumulate,
                                  bool lowerTriangular = false) {
    if (!nextChunk.item || nextChunk.part >= nextChunk.parts) {
      e.matmul(a, bMat, c, accumulate, lowerTriangular);
      return;
    }
    int64_t lo = C * nextChunk.part / nextChunk.parts;
    int64_t hi = C * (nextChunk.part + 1) / nextChunk.parts;
    ++nextChunk.part;
    e.rowTileHook = [&, lo, hi](Value row0, int64_t rows, int64_t m) {
      // The tile [row0, row0 + rows) of m rows takes tokens lo + [row0, row0 + rows)·(hi − lo)/m.
      auto share = [&](Value row) -> Value {
        Value scaled = arith::MulIOp::create(b, row, e.index(hi - lo));
        return arith::AddIOp::create(b, e.index(lo),
                                     arith::DivUIOp::create(b, scaled, e.index(m)));
      };
      e.forLoop(share(row0), share(arith::AddIOp::create(b, row0, e.index(rows))),
                [&](Value t) {
                  e.prefetchTokenRows(*nextChunk.item,
                                      arith::AddIOp::create(b, nextChunk.first, t),
                                      e.chunkPrefetchLocality());
                });
    };
    e.matmul(a, bMat, c, accumulate, lowerTriangular);
    e.rowTileHook = nullptr;
  }

  void clearChunkBuffers(StateBuffers &s) {
    for (Value buffer :
         {s.keys, s.fullValues, s.betas, s.scalarDecay, s.keyDecay, s.fullValueDecay,
          s.writeKeys, s.fullWriteValues})
      if (buffer)
        e.fill(buffer, 0.0);
  }

  /// Token i of the chunk: run the body's per-token ops and store what the states need.
  void emitPrologue(const WorkItem &item, Value first, Value count) {
    SmallVector<Value> needed;
    for (const StateUpdate &u : e.analysis.states) {
      for (Value v : {u.key, u.value, u.beta, u.writeKey, u.writeBeta})
        if (v)
          needed.push_back(v);
      llvm::append_range(needed, u.scalarDecays);
      llvm::append_range(needed, u.keyDecays);
      llvm::append_range(needed, u.valueDecays);
      for (ReadOp r : u.reads)
        needed.push_back(r.getQuery());
    }
    for (WindowReadOp window : e.analysis.windows)
      llvm::append_range(needed, window->getOperands());
    e.forLoop(e.index(0), count, [&](Value i) {
      Value token = arith::AddIOp::create(b, first, i);
      e.prefetchInputRowsToL1(item, arith::AddIOp::create(b, token, e.index(kNearPrefetch)));
      IRMapping mapping;
      e.mapTokenArguments(mapping, item, token);
      e.checkTokenArguments(mapping);
      mapProjections(mapping, i);
      e.cloneSlice(needed, mapping);
      for (StateBuffers &s : states)
        storeTokenValues(s, mapping, i);
      for (ChunkWindow &w : windows)
        w.storeTokenRows(mapping, i);
    });
  }

  void storeTokenValues(StateBuffers &s, IRMapping &mapping, Value i) {
    const StateUpdate &u = *s.update;
    Value zero = e.index(0);
    if (u.writeKey) {
      // The delta's key and β, and the write's own key and β-scaled value.
      e.store(mapping.lookup(u.key), s.keys, {i, zero});
      e.store(mapping.lookup(u.beta), s.betas, {i});
      e.store(mapping.lookup(u.writeKey), s.writeKeys, {i, zero});
      Value value = mapping.lookup(u.value);
      if (u.writeBeta)
        value = mul(value, splat(mapping.lookup(u.writeBeta), s.fullDv));
      e.store(value, s.fullWriteValues, {i, zero});
    } else if (u.key) {
      e.store(mapping.lookup(u.key), s.keys, {i, zero});
      // A plain write adds β k vᵀ: fold β into the value row. The delta rule keeps β apart.
      Value value = u.value ? mapping.lookup(u.value) : e.f32(1.0);
      if (!u.value)
        value = splat(value, 1);
      if (u.beta && !u.delta)
        value = mul(value, splat(mapping.lookup(u.beta), s.fullDv));
      e.store(value, s.fullValues, {i, zero});
      if (u.delta)
        e.store(mapping.lookup(u.beta), s.betas, {i});
    }
    if (s.scalarDecay)
      e.store(logDecay(u.scalarDecays, mapping), s.scalarDecay, {i});
    if (s.keyDecay) {
      Value decay = logDecay(u.keyDecays, mapping);
      if (!u.scalarDecays.empty())
        decay = add(decay, splat(logDecay(u.scalarDecays, mapping), s.dk));
      e.store(decay, s.keyDecay, {i, zero});
    }
    if (s.fullValueDecay)
      e.store(logDecay(u.valueDecays, mapping), s.fullValueDecay, {i, zero});
    for (auto [r, constRead] : llvm::enumerate(u.reads)) {
      ReadOp read = constRead;
      Value query = mapping.lookup(read.getQuery());
      if (std::optional<APFloat> scale = read.getScale())
        query = mul(query, splat(e.f32(scale->convertToDouble()),
                                 read.getTransposed() ? s.fullDv : s.dk));
      e.store(query, s.queries[r], {i, zero});
    }
  }

  /// b_i = Σ_{i' <= i} g_{i'} in place, as hi + lo (emitPrefixSums); the decays to the
  /// chunk's end; the transposed key decays' factors (emitChunkFactors).
  void emitCumulativeDecays(StateBuffers &s) {
    if (s.scalarDecay)
      emitPrefixSums(s.scalarDecay, s.scalarDecayLo, 0);
    if (s.keyDecay)
      emitPrefixSums(s.keyDecay, s.keyDecayLo, s.dk);
    if (s.fullValueDecay)
      emitPrefixSums(s.fullValueDecay, s.fullValueDecayLo, s.fullDv);
    emitDecaysToEnd(s);
    if (s.keyDecay)
      emitChunkFactors(s);
  }

  /// Replaces the chunk's log-decays g (C x width; C when width is 0) by their prefix sums
  /// as pairs hi (in place) and lo (codegen::addToDecaySum).
  void emitPrefixSums(Value hi, Value lo, int64_t width) {
    Type type = width ? Type(e.vectorOf(width)) : b.getF32Type();
    auto at = [&](Value i) {
      return width ? SmallVector<Value>{i, e.index(0)} : SmallVector<Value>{i};
    };
    Value zero = e.zeros(type);
    e.forLoopCarry(e.index(0), e.index(C), 1, ValueRange{zero, zero},
                   [&](Value i, ValueRange sums) -> SmallVector<Value> {
                     auto [sum, error] =
                         codegen::addToDecaySum(b, sums[0], sums[1], e.load(type, hi, at(i)));
                     e.store(sum, hi, at(i));
                     e.store(error, lo, at(i));
                     return {sum, error};
                   });
  }

  Value decayDifference(Value hiI, Value loI, Value hiJ, Value loJ) {
    return codegen::decayDifference(b, hiI, loI, hiJ, loJ);
  }

  /// t_i = b_last − b_i, the decays from each token to the chunk's last (the state update's
  /// factors), from the pairs: rounded at the size of t, so a strong decay early in the chunk
  /// costs the later tokens' factors nothing.
  void emitDecaysToEnd(StateBuffers &s) {
    Value last = e.index(C - 1);
    if (s.scalarDecay) {
      Value hiLast = scalarAt(s.scalarDecay, {last}), loLast = scalarAt(s.scalarDecayLo, {last});
      e.forLoop(0, C, [&](Value i) {
        e.store(decayDifference(hiLast, loLast, scalarAt(s.scalarDecay, {i}),
                                scalarAt(s.scalarDecayLo, {i})),
                s.scalarToEnd, {i});
      });
    }
    for (auto [hi, lo, toEnd, width] :
         {std::tuple(s.keyDecay, s.keyDecayLo, s.keyToEnd, s.dk),
          std::tuple(s.fullValueDecay, s.fullValueDecayLo, s.fullValueToEnd, s.fullDv)}) {
      Value hiBuffer = hi, loBuffer = lo, to = toEnd;
      int64_t n = width;
      if (!hiBuffer)
        continue;
      Value hiLast = row(hiBuffer, last, n), loLast = row(loBuffer, last, n);
      e.forLoop(0, C, [&](Value i) {
        e.store(decayDifference(hiLast, loLast, row(hiBuffer, i, n), row(loBuffer, i, n)), to,
                {i, e.index(0)});
      });
    }
  }

  /// Key decays: e^{b_i − b_j} = e^{b_i} e^{−b_j}, so when every |b| of the chunk is small
  /// (GLA's gates decay by a few e-folds per chunk) the whole chunk's attention is one product
  /// (Q ⊙ e^{b}) (K ⊙ e^{−b})ᵀ with a causal mask: no sub-chunks, no decayed key block per
  /// block pair, a third of the exponentials, one transpose instead of two. Sets s.factored
  /// and, when it holds, keysDecayedT = (K ⊙ e^{−b})ᵀ; otherwise keysT and keyDecayT for the
  /// sub-chunk form, which strong decays (and NaN) take.
  void emitChunkFactors(StateBuffers &s) {
    auto largerMagnitude = [&](Value i, Value acc) -> Value {
      Value magnitude = math::AbsFOp::create(b, row(s.keyDecay, i, s.dk));
      return arith::MaximumFOp::create(b, acc, magnitude);
    };
    Value largest = e.forLoopCarry(e.index(0), e.index(C), e.zeros(e.vectorOf(s.dk)),
                                   largerMagnitude);
    Value bound = vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF, largest);
    s.decayBound = bound;
    s.factored = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, bound,
                                       e.f32(kMaxFactoredExponent));
    e.ifThenElse(
        s.factored,
        [&] {
          // (rows ⊙ e^{−b})ᵀ through s.scaled, free until emitDecayedRows.
          auto factorTransposed = [&](Value rows, Value to) {
            e.forLoop(0, C, [&](Value i) {
              Value decay = exp(arith::NegFOp::create(b, row(s.keyDecay, i, s.dk)));
              e.store(mul(row(rows, i, s.dk), decay), s.scaled, {i, e.index(0)});
            });
            e.transpose(s.scaled, to);
          };
          factorTransposed(s.keys, s.keysDecayedT);
          if (s.writeKeysFactoredT)
            factorTransposed(s.writeKeys, s.writeKeysFactoredT);
        },
        [&] {
          callOutlined("sub_chunk_transposes", s,
                       {s.keys, s.keysT, s.keyDecay, s.keyDecayT, s.keyDecayLo, s.keyDecayLoT},
                       kRarelyRun, [&](ValueRange args) {
                         for (size_t k = 0; k < args.size(); k += 2)
                           e.transpose(args[k], args[k + 1]);
                       });
        });
  }

  /// rows[i] ⊙ e^{b_i} (key and scalar decays) into s.scaled.
  void emitDecayedRows(StateBuffers &s, Value rows) {
    e.forLoop(0, C, [&](Value i) {
      Value x = row(rows, i, s.dk);
      if (s.keyDecay)
        x = mul(x, exp(row(s.keyDecay, i, s.dk)));
      if (s.scalarDecay)
        x = mul(x, splat(exp(scalarAt(s.scalarDecay, {i})), s.dk));
      e.store(x, s.scaled, {i, e.index(0)});
    });
  }

  /// attention[i][j] = Σ_d left[i,d] K[j,d] e^{b_i − b_j} for j <= i (j < i if strict),
  /// 0 above. With `readBlock` (block-start reads, no decays) the mask is
  /// j < ⌊i/readBlock⌋·readBlock. Key-vector decays (e^{b_i[d] − b_j[d]} differs per key dim)
  /// factor the whole chunk when its decays are small (emitChunkFactors; s.scaled holds
  /// left ⊙ e^{b}), else run sub-chunks.
  void emitAttention(StateBuffers &s, Value left, bool strict, int64_t readBlock = 0,
                     Value rightT = {}) {
    if (!s.keyDecay)
      return emitScalarDecayAttention(s, left, rightT ? rightT : s.keysT, strict, readBlock);
    assert(!readBlock && "block-start reads of decaying states run on the scan");
    assert((!rightT || rightT == s.writeKeysT) && "the right side is K or the write keys C");
    // With the write keys on the right: (left ⊙ e^{b})(C ⊙ e^{−b})ᵀ, or sub-chunks of C.
    bool writes = bool(rightT);
    Value inclusive = e.index(strict ? 0 : 1);
    // The delta rule's G and the read's A each call one shared copy of either form.
    e.ifThenElse(
        s.factored,
        [&] {
          callOutlined("factored_attention", s,
                       {s.scaled, writes ? s.writeKeysFactoredT : s.keysDecayedT, s.attention,
                        inclusive},
                       {},
                       [&](ValueRange args) {
                         StateBuffers inner = s;
                         inner.scaled = args[0];
                         inner.keysDecayedT = args[1];
                         inner.attention = args[2];
                         emitFactoredAttention(inner, args[3]);
                       });
        },
        [&] {
          callOutlined("sub_chunk_attention", s,
                       {left, s.attention, s.keyDecay, s.keyDecayT, s.keyDecayLo,
                        s.keyDecayLoT, writes ? s.writeKeysT : s.keysT,
                        writes ? s.writeKeys : s.keys, s.keysDecayedT, s.blockQueries,
                        inclusive},
                       kRarelyRun, [&](ValueRange args) {
                         StateBuffers inner = s;
                         inner.attention = args[1];
                         inner.keyDecay = args[2];
                         inner.keyDecayT = args[3];
                         inner.keyDecayLo = args[4];
                         inner.keyDecayLoT = args[5];
                         inner.keysT = args[6];
                         inner.keys = args[7];
                         inner.keysDecayedT = args[8];
                         inner.blockQueries = args[9];
                         emitSubChunkAttention(inner, args[0], args[10]);
                       });
        });
  }

  /// attention = left · rightT ⊙ e^{b_i − b_j} (scalar decays, if any) where j <= i (j < i
  /// if strict; j < ⌊i/readBlock⌋·readBlock with readBlock), 0 elsewhere.
  void emitScalarDecayAttention(StateBuffers &s, Value left, Value rightT, bool strict,
                                int64_t readBlock) {
    VectorType rowType = e.vectorOf(C);
    e.matmul(left, rightT, s.attention, /*accumulate=*/false);
    // Mask and scale each row: e^{b_i − b_j} where j <= i, 0 elsewhere (the exponent is
    // positive above the diagonal; select before multiplying so it never reaches O).
    Value positions = e.positions(C);
    bool below = strict || readBlock; // j < bound, or j <= bound
    e.forLoop(0, C, [&](Value i) {
      Value bound = i;
      if (readBlock) {
        Value width = e.index(readBlock);
        bound = arith::MulIOp::create(b, arith::DivUIOp::create(b, i, width), width);
      }
      Value keep = arith::CmpFOp::create(b, below ? arith::CmpFPredicate::OLT
                                                  : arith::CmpFPredicate::OLE,
                                         positions, splat(e.indexToF32(bound), C));
      Value weight = splat(e.f32(1.0), C);
      if (s.scalarDecay)
        weight = exp(decayDifference(splat(scalarAt(s.scalarDecay, {i}), C),
                                     splat(scalarAt(s.scalarDecayLo, {i}), C),
                                     e.load(rowType, s.scalarDecay, {e.index(0)}),
                                     e.load(rowType, s.scalarDecayLo, {e.index(0)})));
      weight = arith::SelectOp::create(b, keep, weight, e.zeros(rowType));
      e.store(mul(row(s.attention, i, C), weight), s.attention, {i, e.index(0)});
    });
  }

  /// Code for chunks that rarely need it (strong key decays): optimized for size, so LLVM
  /// spends little time on it (it would otherwise be a third of gla's compile time).
  static constexpr StringLiteral kRarelyRun[] = {"optsize"};

  /// Calls the private function `__linrec_<what>_<kernel>_<state>` of `args`, built by
  /// `emitBody` from its arguments on first use and shared by later calls (one copy of the
  /// code for LLVM to compile). It is never inlined; `attributes` are LLVM function attributes.
  void callOutlined(StringRef what, const StateBuffers &s, ValueRange args,
                    ArrayRef<StringLiteral> attributes, function_ref<void(ValueRange)> emitBody) {
    std::string name = ("__linrec_" + what + "_" + e.kernel.getSymName() + "_" +
                        Twine(s.update->index)).str();
    func::FuncOp function = outlinedFunctions.lookup(name);
    if (!function) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfter(e.kernel);
      function = func::FuncOp::create(
          b, name, b.getFunctionType(TypeRange(ValueRange(args).getTypes()), {}));
      function.setPrivate();
      SmallVector<Attribute> passthrough = {b.getStringAttr("noinline")};
      for (StringLiteral attribute : attributes)
        passthrough.push_back(b.getStringAttr(attribute));
      function->setAttr("passthrough", b.getArrayAttr(passthrough));
      Block *entry = function.addEntryBlock();
      b.setInsertionPointToStart(entry);
      emitBody(entry->getArguments());
      func::ReturnOp::create(b);
      outlinedFunctions[name] = function;
    }
    func::CallOp::create(b, function, args);
  }
  llvm::StringMap<func::FuncOp> outlinedFunctions;

  /// attention = (left ⊙ e^{b}) (K ⊙ e^{−b})ᵀ, masked to j < i + inclusive. Entries above the
  /// diagonal (up to e^{kMaxFactoredExponent} times the dot) are selected away, never scaled.
  void emitFactoredAttention(StateBuffers &s, Value inclusive) {
    e.matmul(s.scaled, s.keysDecayedT, s.attention, /*accumulate=*/false);
    emitCausalMask(s, e.index(0), C, inclusive);
  }

  /// Zeroes the entries above the diagonal of the width x width block of s.attention at
  /// (r, r): keeps j < i + inclusive. Selected, not multiplied: they may be huge.
  void emitCausalMask(StateBuffers &s, Value r, int64_t width, Value inclusive) {
    VectorType rowType = e.vectorOf(width);
    Value positions = e.positions(width);
    e.forLoop(0, width, [&](Value i) {
      Value bound = arith::AddIOp::create(b, i, inclusive);
      Value keep = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, positions,
                                         splat(e.indexToF32(bound), width));
      Value at = arith::AddIOp::create(b, r, i);
      Value values = e.load(rowType, s.attention, {at, r});
      e.store(arith::SelectOp::create(b, keep, values, e.zeros(rowType)), s.attention, {at, r});
    });
  }

  /// In sub-chunks of 16 rows with reference row r: for j < r <= i, e^{b_i − b_j} =
  /// e^{b_i − b_r} e^{b_r − b_j} with both exponents <= 0, so the block below the diagonal is
  /// a product of decayed queries and decayed keys; the diagonal block is computed entry by
  /// entry (exact) when the decay across it is too strong to factor.
  void emitSubChunkAttention(StateBuffers &s, Value left, Value inclusive) {
    e.fill(s.attention, 0.0);
    int64_t block = C % kSubChunk == 0 ? kSubChunk : C; // otherwise one exact block
    int64_t numBlocks = C / block;
    e.forLoop(0, numBlocks, [&](Value rowBlock) {
      Value r = arith::MulIOp::create(b, rowBlock, e.index(block));
      emitDecayedBlockQueries(s, left, r, block);
      e.forLoop(e.index(0), rowBlock, [&](Value colBlock) {
        emitOffDiagonalBlock(s, r, arith::MulIOp::create(b, colBlock, e.index(block)), block);
      });
      // The diagonal block factors through its first row too when the decay across the block
      // is bounded (kMaxFactoredExponent): the keys' factors e^{b_r − b_j} (j >= r) are then
      // small enough to round harmlessly. Stronger decays take the exact path.
      Value last = arith::AddIOp::create(b, r, e.index(block - 1));
      Value span = vector::ReductionOp::create(
          b, vector::CombiningKind::MAXIMUMF,
          sub(row(s.keyDecay, r, s.dk), row(s.keyDecay, last, s.dk)));
      Value bounded = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, span,
                                            e.f32(kMaxFactoredExponent));
      e.ifThenElse(
          bounded, [&] { emitFactoredDiagonalBlock(s, r, block, inclusive); },
          [&] { emitDiagonalBlock(s, left, r, block, inclusive); });
    });
  }

  /// attention[r : r+block, r : r+block] = blockQueries · (K ⊙ e^{b_r − b})ᵀ, then the causal
  /// mask (j < i + inclusive); entries above the diagonal never reach the output.
  void emitFactoredDiagonalBlock(StateBuffers &s, Value r, int64_t block, Value inclusive) {
    emitOffDiagonalBlock(s, r, r, block);
    emitCausalMask(s, r, block, inclusive);
  }

  /// blockQueries = left[r : r+block] ⊙ e^{b − b_r}.
  void emitDecayedBlockQueries(StateBuffers &s, Value left, Value r, int64_t block) {
    Value hiRef = row(s.keyDecay, r, s.dk), loRef = row(s.keyDecayLo, r, s.dk);
    e.forLoop(0, block, [&](Value i) {
      Value at = arith::AddIOp::create(b, i, r);
      Value exponent = decayDifference(row(s.keyDecay, at, s.dk), row(s.keyDecayLo, at, s.dk),
                                       hiRef, loRef);
      Value decayed = mul(row(left, at, s.dk), exp(exponent));
      e.store(decayed, s.blockQueries, {i, e.index(0)});
    });
  }

  /// attention[r : r+block, c : c+block] = blockQueries · (K[c : c+block] ⊙ e^{b_r − b})ᵀ,
  /// for a key block c < r.
  void emitOffDiagonalBlock(StateBuffers &s, Value r, Value c, int64_t block) {
    VectorType keysRow = e.vectorOf(block);
    e.forLoop(0, s.dk, [&](Value d) {
      Value exponent = decayDifference(splat(scalarAt(s.keyDecayT, {d, r}), block),
                                       splat(scalarAt(s.keyDecayLoT, {d, r}), block),
                                       e.load(keysRow, s.keyDecayT, {d, c}),
                                       e.load(keysRow, s.keyDecayLoT, {d, c}));
      e.store(mul(e.load(keysRow, s.keysT, {d, c}), exp(exponent)), s.keysDecayedT,
              {d, e.index(0)});
    });
    e.matmul(s.blockQueries, e.view(s.keysDecayedT, b.getIndexAttr(0), b.getIndexAttr(0), s.dk, block),
             e.view(s.attention, r, c, block, block), /*accumulate=*/false);
  }

  /// attention[i][j] = Σ_d left[i,d] K[j,d] e^{b_i[d] − b_j[d]} for r <= j < i + inclusive
  /// inside the sub-chunk [r, r + rows).
  void emitDiagonalBlock(StateBuffers &s, Value left, Value r, int64_t rows, Value inclusive) {
    e.forLoop(r, arith::AddIOp::create(b, r, e.index(rows)), [&](Value i) {
      Value q = row(left, i, s.dk);
      Value hiI = row(s.keyDecay, i, s.dk), loI = row(s.keyDecayLo, i, s.dk);
      Value end = arith::AddIOp::create(b, i, inclusive);
      e.forLoop(r, end, [&](Value j) {
        Value decay = exp(
            decayDifference(hiI, loI, row(s.keyDecay, j, s.dk), row(s.keyDecayLo, j, s.dk)));
        Value dot = vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                                mul(mul(q, row(s.keys, j, s.dk)), decay));
        e.store(dot, s.attention, {i, j});
      });
    });
  }

  /// A mix A · rhs whose right-hand side's columns decay: A (C x C), the cumulative decays
  /// (C x width), and two C x width scratch buffers.
  struct DecayedColumns {
    Value attention, decays, decaysLo;
    int64_t width;
    Value decayed, mixed;
  };
  DecayedColumns valueColumns(const StateBuffers &s) {
    return {s.attention, s.valueDecay, s.valueDecayLo, s.dv, s.valuesDecayed, s.valueMix};
  }
  DecayedColumns keyColumns(const StateBuffers &s) {
    return {s.attention, s.keyDecay, s.keyDecayLo, s.dk, s.scaled, s.keyMix};
  }

  /// target[i] += Σ_{j<=i} attention[i][j] · rhs[j] ⊙ e^{b_i − b_j}, b the columns' decays
  /// (value decays of a read; key decays of a transposed read). When every |b| of the chunk
  /// is below kMaxFactoredExponent (b cumulative from the chunk's start) the factors split,
  /// e^{b_i} ⊙ (A (rhs ⊙ e^{−b}))_i: one matmul and 2·C·width exponentials instead of
  /// C²·width/2 (the key decays' factored chunk, on the columns). Stronger decays (and NaN)
  /// take the exact sum.
  void emitDecayedMix(const DecayedColumns &c, Value rhs, Value target) {
    Value largest = e.forLoopCarry(
        e.index(0), e.index(C), e.zeros(e.vectorOf(c.width)), [&](Value i, Value acc) -> Value {
          Value magnitude = math::AbsFOp::create(b, row(c.decays, i, c.width));
          return arith::MaximumFOp::create(b, acc, magnitude);
        });
    Value bound = vector::ReductionOp::create(b, vector::CombiningKind::MAXIMUMF, largest);
    Value factored = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, bound,
                                           e.f32(kMaxFactoredExponent));
    e.ifThenElse(
        factored,
        [&] {
          e.forLoop(0, C, [&](Value j) {
            Value decay = exp(arith::NegFOp::create(b, row(c.decays, j, c.width)));
            e.store(mul(row(rhs, j, c.width), decay), c.decayed, {j, e.index(0)});
          });
          e.matmul(c.attention, c.decayed, c.mixed, /*accumulate=*/false, /*lowerTriangular=*/true);
          e.forLoop(0, C, [&](Value i) {
            Value mixed = vector::FMAOp::create(b, row(c.mixed, i, c.width),
                                                exp(row(c.decays, i, c.width)),
                                                row(target, i, c.width));
            e.store(mixed, target, {i, e.index(0)});
          });
        },
        [&] { emitExactDecayedMix(c, rhs, target); });
  }

  void emitExactDecayedMix(const DecayedColumns &c, Value rhs, Value target) {
    e.forLoop(0, C, [&](Value i) {
      Value hiI = row(c.decays, i, c.width), loI = row(c.decaysLo, i, c.width);
      Value acc = e.forLoopCarry(
          e.index(0), arith::AddIOp::create(b, i, e.index(1)), row(target, i, c.width),
          [&](Value j, Value sum) {
            Value weight = splat(scalarAt(c.attention, {i, j}), c.width);
            Value exponent = decayDifference(hiI, loI, row(c.decays, j, c.width),
                                             row(c.decaysLo, j, c.width));
            Value term = mul(row(rhs, j, c.width), exp(exponent));
            return vector::FMAOp::create(b, weight, term, sum).getResult();
          });
      e.store(acc, target, {i, e.index(0)});
    });
  }

  /// The delta rule's U by forward substitution (the WY/UT form: T = A⁻¹ diag(β), U = T V).
  /// With a separate write (c, x), U = −β S'ᵀk solves the same system with the right-hand
  /// side V = −strict(K Cᵀ ⊙ Γ) X: the earlier tokens' writes seen by this token's key.
  void emitDeltaSolve(StateBuffers &s) {
    // K ⊙ e^{b}: the factored attentions' left side and (K ⊙ e^{b}) S's (no attention below
    // writes s.scaled).
    emitDecayedRows(s, s.keys);
    if (s.writeKeys) {
      emitAttention(s, s.keys, /*strict=*/true, 0, s.writeKeysT);
      e.matmul(s.attention, s.writeValues, s.values, /*accumulate=*/false,
               /*lowerTriangular=*/true);
      e.forLoop(0, C, [&](Value i) {
        e.store(arith::NegFOp::create(b, row(s.values, i, s.dv)), s.values, {i, e.index(0)});
      });
    }
    matmulPrefetchingNextChunk(s.scaled, s.state, s.solved, /*accumulate=*/false); // (K ⊙ e^{b}) S
    emitAttention(s, s.keys, /*strict=*/true);                  // G
    e.forLoop(0, C, [&](Value i) {
      Value residual = sub(row(s.values, i, s.dv), row(s.solved, i, s.dv));
      Value u = e.forLoopCarry(e.index(0), i, residual, [&](Value j, Value acc) {
        Value g = splat(scalarAt(s.attention, {i, j}), s.dv);
        return sub(acc, mul(g, row(s.solved, j, s.dv)));
      });
      e.store(mul(u, splat(scalarAt(s.betas, {i}), s.dv)), s.solved, {i, e.index(0)});
    });
  }

  /// O = (Q ⊙ e^{b}) S [⊙ e^{bv}] + A U: the chunk's reads of S_t; a read of S'_t (before
  /// the token's delta and write) masks A strictly. A block-start read (no decays:
  /// RecurrenceAnalysis) is Q S + A U with A masked to the keys before the query's block,
  /// and Q S alone when its blocks are the chunk.
  void emitRead(StateBuffers &s, size_t r) {
    Value out = s.results[r];
    ReadOp read = s.update->reads[r];
    if (std::optional<int64_t> block = read.getBlockStart()) {
      matmulPrefetchingNextChunk(s.queries[r], s.state, out, /*accumulate=*/false);
      if (!hasIntraChunkTerm(read))
        return;
      emitAttention(s, s.queries[r], /*strict=*/true, *block);
      matmulPrefetchingNextChunk(s.attention, s.solved, out, /*accumulate=*/true,
                                 /*lowerTriangular=*/true);
      return;
    }
    emitDecayedRows(s, s.queries[r]);
    matmulPrefetchingNextChunk(s.scaled, s.state, out, /*accumulate=*/false);
    emitAttention(s, s.queries[r], /*strict=*/read.seesStateBeforeWrite());
    if (!s.valueDecay) {
      matmulPrefetchingNextChunk(s.attention, s.solved, out, /*accumulate=*/true,
                                 /*lowerTriangular=*/true);
      if (s.writeKeys) { // + (Q Cᵀ ⊙ Γ ⊙ M) X: the separate writes
        emitAttention(s, s.queries[r], read.seesStateBeforeWrite(), 0, s.writeKeysT);
        e.matmul(s.attention, s.writeValues, out, /*accumulate=*/true, /*lowerTriangular=*/true);
      }
      return;
    }
    e.forLoop(0, C, [&](Value i) {
      e.store(mul(row(out, i, s.dv), exp(row(s.valueDecay, i, s.dv))), out, {i, e.index(0)});
    });
    emitDecayedMix(valueColumns(s), s.solved, out);
  }

  /// P = (U Sᵀ) ⊙ e^{b} + (U Vᵀ ⊙ M) (K ⊙ e^{b_i − b_j}): the chunk's transposed reads
  /// p_i = S_i u_i = e^{b_i} ⊙ S u_i + Σ_{j<=i} (u_i · v_j) e^{b_i − b_j} ⊙ k_j, with S the
  /// chunk-start state (s.stateT holds it transposed, s.valuesT Vᵀ: the delta rule's solved
  /// U). The decays are outside the scores U Vᵀ: scalar ones weight them, key ones scale the
  /// mix's columns. A separate write adds (U Xᵀ ⊙ M)(C ⊙ e^{b_i − b_j}).
  void emitTransposedRead(StateBuffers &s, size_t r) {
    Value out = s.results[r];
    ReadOp read = s.update->reads[r];
    matmulPrefetchingNextChunk(s.queries[r], s.stateT, out, /*accumulate=*/false);
    if (s.keyDecay || s.scalarDecay)
      e.forLoop(0, C, [&](Value i) {
        Value decay = s.keyDecay ? exp(row(s.keyDecay, i, s.dk))
                                 : splat(exp(scalarAt(s.scalarDecay, {i})), s.dk);
        e.store(mul(row(out, i, s.dk), decay), out, {i, e.index(0)});
      });
    auto mixInto = [&](Value valuesT, Value keys) {
      emitScalarDecayAttention(s, s.queries[r], valuesT, read.seesStateBeforeWrite(), 0);
      if (s.keyDecay)
        emitDecayedMix(keyColumns(s), keys, out);
      else
        e.matmul(s.attention, keys, out, /*accumulate=*/true, /*lowerTriangular=*/true);
    };
    mixInto(s.valuesT, s.keys);
    if (s.writeValuesT)
      mixInto(s.writeValuesT, s.writeKeys);
  }

  /// S ← e^{b_last} ⊙ S [⊙ e^{bv_last}] + (K ⊙ e^{b_last − b})ᵀ (U [⊙ e^{bv_last − bv}])
  /// [+ (C ⊙ e^{b_last − b})ᵀ X with a separate write].
  void emitStateUpdate(StateBuffers &s) {
    Value last = e.index(C - 1);
    Value scalarLast = s.scalarDecay ? scalarAt(s.scalarDecay, {last}) : Value();
    Value valueLast = s.valueDecay ? row(s.valueDecay, last, s.dv) : Value();
    VectorType chunkRow = e.vectorOf(C);
    // A factored chunk has (K ⊙ e^{−b})ᵀ already, to scale by e^{b_last} per row; the others
    // (NaN included; their Kᵀ is there from emitChunkFactors) take the decays to the chunk's
    // end.
    if (s.keyDecay)
      e.ifThenElse(s.factored, [] {}, [&] { e.transpose(s.keyToEnd, s.keyToEndT); });
    e.forLoop(0, s.dk, [&](Value d) {
      // Row d of the state decays by e^{b_last[d]} (and e^{bv_last} along the row).
      Value factor = e.f32(1.0);
      Value keyExponent = e.f32(0.0);
      if (s.keyDecay)
        keyExponent = add(keyExponent, scalarAt(s.keyDecay, {last, d}));
      if (scalarLast)
        keyExponent = add(keyExponent, scalarLast);
      factor = exp(keyExponent);
      Value stateRow = mul(row(s.state, d, s.dv), splat(factor, s.dv));
      if (valueLast)
        stateRow = mul(stateRow, exp(valueLast));
      e.store(stateRow, s.state, {d, e.index(0)});
      // (K ⊙ e^{b_last − b})ᵀ row d: K[:, d] ⊙ e^{t[:, d]}, the decays to the chunk's end.
      auto decayKeys = [&] {
        Value exponent = e.zeros(chunkRow);
        if (s.keyDecay)
          exponent = e.load(chunkRow, s.keyToEndT, {d, e.index(0)});
        if (s.scalarDecay)
          exponent = e.load(chunkRow, s.scalarToEnd, {e.index(0)});
        Value weights = exp(exponent);
        e.store(mul(e.load(chunkRow, s.keysT, {d, e.index(0)}), weights), s.keysDecayedT,
                {d, e.index(0)});
        if (s.writeKeysT)
          e.store(mul(e.load(chunkRow, s.writeKeysT, {d, e.index(0)}), weights),
                  s.writeKeysDecayedT, {d, e.index(0)});
      };
      if (!s.keyDecay)
        return decayKeys();
      e.ifThenElse(
          s.factored,
          [&] {
            Value keys = e.load(chunkRow, s.keysDecayedT, {d, e.index(0)});
            e.store(mul(keys, splat(factor, C)), s.keysDecayedT, {d, e.index(0)});
            if (s.writeKeysFactoredT) {
              Value writeKeys = e.load(chunkRow, s.writeKeysFactoredT, {d, e.index(0)});
              e.store(mul(writeKeys, splat(factor, C)), s.writeKeysDecayedT, {d, e.index(0)});
            }
          },
          decayKeys);
    });
    Value rhs = s.solved;
    if (s.valueDecay) {
      e.forLoop(0, C, [&](Value j) {
        Value decay = exp(row(s.valueToEnd, j, s.dv));
        e.store(mul(row(s.solved, j, s.dv), decay), s.valuesDecayed, {j, e.index(0)});
      });
      rhs = s.valuesDecayed;
    }
    matmulPrefetchingNextChunk(s.keysDecayedT, rhs, s.state, /*accumulate=*/true);
    if (s.writeKeys) // + (C ⊙ e^{b_last − b})ᵀ X: the separate writes
      e.matmul(s.writeKeysDecayedT, s.writeValues, s.state, /*accumulate=*/true);
  }

  /// Token i of the chunk: the body's ops after the reads, then the outputs.
  void emitEpilogue(const WorkItem &item, Value first, Value count) {
    SmallVector<Value> outputs(e.op.getYield().getOutputs());
    if (e.valueTiles > 1) {
      // Every output is a read (valueTilesFor): store this work item's columns of it.
      e.forLoop(e.index(0), count, [&](Value i) {
        Value token = arith::AddIOp::create(b, first, i);
        for (auto [j, out] : llvm::enumerate(outputs))
          for (StateBuffers &s : states)
            for (auto [r, read] : llvm::enumerate(s.update->reads))
              if (ReadOp(read).getResult() == out)
                e.store(row(s.results[r], i, s.dv), e.output(j),
                        {item.row, e.memoryToken(item, token), item.head, column0});
      });
      return;
    }
    e.forLoop(e.index(0), count, [&](Value i) {
      Value token = arith::AddIOp::create(b, first, i);
      IRMapping mapping;
      e.mapTokenArguments(mapping, item, token);
      for (StateBuffers &s : states)
        for (auto [r, constRead] : llvm::enumerate(s.update->reads)) {
          ReadOp read = constRead;
          Value value = row(s.results[r], i, resultWidth(s, r));
          if (!s.update->type.isMatrix())
            value = vector::ExtractOp::create(b, value, ArrayRef<int64_t>{0});
          mapping.map(read.getResult(), value);
        }
      for (ChunkWindow &w : windows)
        w.mapResult(mapping, i);
      mapProjections(mapping, i);
      e.cloneSlice(outputs, mapping);
      e.storeOutputs(mapping, item, token);
    });
  }
};

} // namespace

void emitChunkedKernel(KernelEmitter &emitter) { ChunkedKernel(emitter).emit(); }

} // namespace linrec::cpu
