//===- ChunkedSchedule.cpp - the chunked algorithm as a GPU schedule ------===//
//
// The GPU form of the chunk-parallel algorithm (docs/GPU-codegen.md; the CPU form and its formulas
// are in LinrecToCPU/ChunkedKernel.cpp). One program per work item (sequence, head, value
// tile) walks the chunks with its state tile in workgroup memory ("fused chunk" schedule).
// Each chunk is a sequence of phases; a phase is a thread loop over independent elements:
//
//   prologue   token i:      the body's per-token ops → K, V (β-folded), β, decays, Q
//   cumulative column d:     b_i = Σ_{i' <= i} g_{i'} (in place, with compensation terms:
//                            codegen::addToDecaySum)
//   transpose  (d, i):       Kᵀ and the key decays transposed (conflict-free column reads)
//   delta      (i, j):       G_ij = Σ_d K_id K_jd e^{b_i − b_j} (j < i)
//              (i, v):       U_iv = V_iv − Σ_d K_id e^{b_id} S_dv
//              column v:     U_i ← β_i (U_i − Σ_{j<i} G_ij U_j), in 16-row blocks: inside a
//                            block by columns, then the later rows subtract the block at once
//   read       (i, j):       A_ij = Σ_d Q_id K_jd e^{b_id − b_jd} (j <= i)
//              (i, v):       O_iv = Σ_d Q_id e^{b_id} S_dv + Σ_{j<=i} A_ij U_jv  (value decay:
//                            ⊙ e^{bv_i}, ⊙ e^{bv_i − bv_j})
//   update     (d, v):       S_dv ← e^{b_last,d} S_dv + Σ_j K_jd e^{b_last,d − b_jd} U_jv
//   window     (i, j), ...:  a window read's term (WindowTerm.h): the chunk's queries against
//                            the span of keys their windows reach (recomputed from the body's
//                            values, history included), masked, weighted, times the values
//   epilogue   token i:      the body's ops after the reads, then the outputs
//
// Every exponent is <= 0 where it is evaluated (masked entries are never computed), so
// nothing overflows however strong the decays are. The last chunk is zero-padded: padded
// tokens have zero keys, values, betas and decays.
//
// Variants (options of linrec-lower-gpu): two-phase — a state pass (prologue, delta, update;
// each chunk-start state saved to a workspace) then an output pass with a program per (work
// item, chunk) (prologue, delta, read, epilogue); tensor cores — the (i, v), (d, v) and (i, j)
// products above become f16 tile matmuls with f32 accumulation (linalg.matmul, ldmatrix +
// mma.sync once mapped), the key-decay attention through 16-row sub-chunks (off-diagonal blocks
// factored through the sub-chunk's first row, diagonal blocks exact).
//
//===----------------------------------------------------------------------===//

#include "ChunkedSchedule.h"
#include "ScheduleBuilder.h"
#include "WindowTerm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <functional>
#include <memory>

using namespace mlir;

namespace linrec::gpusched {
namespace {

using codegen::WorkItem;

/// Rows of a sub-chunk of the key-decay attention (the tensor cores' tile height).
constexpr int64_t kSubChunk = 16;

/// The workgroup tiles of one state.
struct StateTiles {
  const StateUpdate *update;
  int64_t dk, dv;            // dv: the value columns of this program
  int64_t fullDv;            // the state's whole value dim
  Value state;               // dk x dv
  Value keys, keysT;         // C x dk, dk x C
  Value values;              // C x fullDv (β-folded for plain writes; 1 for a normalizer)
  Value betas;               // C (delta)
  // Cumulative decays are pairs hi + lo (codegen::decayDifference): the tiles named for the
  // decays hold hi, the *Lo tiles lo.
  Value scalarDecay, scalarDecayLo; // C (only without key decays)
  Value keyDecay, keyDecayT;        // C x dk, dk x C (scalar decays folded in)
  Value keyDecayLoT;                // dk x C
  Value valueDecay, valueDecayLo;   // C x fullDv
  Value solved;              // C x dv: U (delta)
  Value attention;           // C x C: A per read, G for the delta rule
  SmallVector<Value> queries, results; // per read: C x dk (scaled), C x dv
  // Tensor-core operands (f16) and scratch; null without tensor cores.
  Value stateH;                 // dk x dv: S
  Value rowsH;                  // C x dk: decayed queries or keys
  Value columnsH;               // dk x C: Kᵀ, or (K ⊙ e^{b_last − b})ᵀ
  Value attentionH;             // C x C: A
  Value solvedH;                // C x dv: U
  Value product;                // C x dv f32: (K ⊙ e^{b}) S (delta)
  // Key decays: a 16-row sub-chunk's decayed queries, the decayed keys before it, and their
  // scores (the off-diagonal blocks of the attention, factored through the sub-chunk's first
  // row).
  Value blockRowsH;             // 16 x dk
  Value blockColumnsH;          // dk x (C − 16)
  Value blockScores;            // 16 x (C − 16) f32
};

/// The tiles of one window read: its term (queries, keys, values, weights) and results.
struct WindowTiles {
  WindowReadOp op;
  std::unique_ptr<WindowTerm> term;
  int64_t dk, dv;
  Value out;          // C x dv
  Value denominators; // C (shifted_exp)
};

class ChunkedSchedule : ScheduleBuilder {
public:
  ChunkedSchedule(codegen::KernelEmitter &e, bool twoPhase, bool tensorCores)
      : ScheduleBuilder(e), e(e), C(e.chunkSize), twoPhase(twoPhase), tensorCores(tensorCores) {
    for (WindowReadOp op : e.analysis.windows) {
      WindowTiles w;
      w.op = op;
      w.dk = op.getQuery().getType().getDimSize(0);
      w.dv = op.getValue().getType().getDimSize(0);
      w.term = std::make_unique<WindowTerm>(e, op.getWindow(), op.getSize(), op.getWeighting(),
                                            C, w.dk, w.dv);
      windows.push_back(std::move(w));
    }
  }

  void emit() {
    if (twoPhase)
      emitTwoPhase();
    else
      emitFused();
  }

private:
  /// What a chunk computes: everything in the fused schedule; in the two-phase schedule the
  /// state pass only advances the states and the output pass only reads them.
  struct ChunkWork {
    bool reads = true;
    bool update = true;
  };

  /// The program per work item walks its chunks, reading and advancing its states.
  void emitFused() {
    Value begin = e.kernel.getArgument(e.kernel.getNumArguments() - 2);
    Value end = e.kernel.getArgument(e.kernel.getNumArguments() - 1);
    blocks(begin, end, [&](Value w) {
      WorkItem item = startProgram(w);
      e.forEachChunk(item, C, [&](Value c, Value first, Value count) {
        emitChunk(item, first, count, ChunkWork{});
      });
      for (StateTiles &s : states)
        storeState(e, s.update->index, item, s.state, column0);
    });
  }

  /// A state pass (a program per work item walks its chunks advancing the states, saving each
  /// chunk-start state to a workspace), then an output pass with a program per (work item,
  /// chunk) that reads its chunk from the saved state: more parallelism when B·H is small.
  void emitTwoPhase() {
    Value begin = e.kernel.getArgument(e.kernel.getNumArguments() - 2);
    Value end = e.kernel.getArgument(e.kernel.getNumArguments() - 1);
    Value tokens = memref::DimOp::create(b, e.input(0), 1);
    Value maxChunks = arith::MaxUIOp::create(
        b, e.index(1), arith::CeilDivUIOp::create(b, tokens, e.index(C)));
    Value programs = arith::MulIOp::create(b, subIndex(end, begin), maxChunks);
    // One chunk-start state per (work item, chunk) and state.
    SmallVector<Value> workspaces;
    for (const StateUpdate &u : e.analysis.states) {
      int64_t dv = u.type.getValueDim() / e.valueTiles;
      auto type = MemRefType::get({ShapedType::kDynamic, u.type.getKeyDim(), dv}, b.getF32Type());
      workspaces.push_back(memref::AllocOp::create(b, type, ValueRange{programs}));
    }
    blocks(begin, end, [&](Value w) {
      WorkItem item = startProgram(w, /*loadStates=*/true, /*reads=*/false);
      Value base = arith::MulIOp::create(b, subIndex(w, begin), maxChunks);
      e.forEachChunk(item, C, [&](Value c, Value first, Value count) {
        for (auto [s, workspace] : llvm::zip(states, workspaces))
          copyState(s.state, workspace, addIndex(base, c), /*save=*/true);
        emitChunk(item, first, count, ChunkWork{/*reads=*/false, /*update=*/true});
      });
      for (StateTiles &s : states)
        storeState(e, s.update->index, item, s.state, column0);
    });
    blocks(e.index(0), programs, [&](Value p) {
      Value w = addIndex(begin, arith::DivUIOp::create(b, p, maxChunks));
      Value c = arith::RemUIOp::create(b, p, maxChunks);
      WorkItem item = startProgram(w, /*loadStates=*/false);
      Value first = addIndex(item.tokenBegin, arith::MulIOp::create(b, c, e.index(C)));
      // Uniform over the block: every thread takes the branch, barriers included.
      auto inSequence = scf::IfOp::create(b, ult(first, item.tokenEnd), /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(inSequence.thenBlock()->getTerminator());
      for (auto [s, workspace] : llvm::zip(states, workspaces))
        copyState(s.state, workspace, p, /*save=*/false);
      Value count = arith::MinUIOp::create(b, e.index(C), subIndex(item.tokenEnd, first));
      emitChunk(item, first, count, ChunkWork{/*reads=*/true, /*update=*/false});
    });
    for (Value workspace : workspaces)
      memref::DeallocOp::create(b, workspace);
  }

  /// A program's tiles and work item; its states start from the initial states. A program
  /// that reads (not the two-phase state pass) has the window reads' tiles too.
  WorkItem startProgram(Value w, bool loadStates = true, bool reads = true) {
    states.clear();
    for (const StateUpdate &u : e.analysis.states)
      states.push_back(allocate(u));
    if (reads)
      for (WindowTiles &window : windows) {
        window.term->allocate(*this);
        window.out = tile({C, window.dv});
        if (window.op.getDenominator())
          window.denominators = tile({C});
      }
    WorkItem item = e.workItemAt(w);
    column0 = arith::MulIOp::create(b, item.valueTile, e.index(states.front().dv));
    if (loadStates)
      for (StateTiles &s : states)
        loadState(e, s.update->index, item, s.state, column0);
    return item;
  }

  /// workspace[slot] = tile (save) or tile = workspace[slot].
  void copyState(Value tile, Value workspace, Value slot, bool save) {
    auto shape = cast<MemRefType>(tile.getType()).getShape();
    threads(shape[0], shape[1], [&](Value d, Value v) {
      if (save)
        e.store(at(tile, {d, v}), workspace, {slot, d, v});
      else
        e.store(at(workspace, {slot, d, v}), tile, {d, v});
    });
  }

  codegen::KernelEmitter &e;
  int64_t C;
  bool twoPhase;
  /// The chunk's products as f16 tensor-core matmuls (f32 accumulation) where they factor:
  /// the reads' and the delta rule's products with the state, the state update, and the
  /// intra-chunk attention without key decays (whose pairwise decays stay exact, in f32).
  bool tensorCores;
  std::vector<StateTiles> states;
  std::vector<WindowTiles> windows; // the body's window reads
  Value column0; // the first value column of the program

  StateTiles allocate(const StateUpdate &u) {
    StateTiles s;
    s.update = &u;
    s.dk = u.type.getKeyDim();
    s.fullDv = u.type.getValueDim();
    s.dv = s.fullDv / e.valueTiles;
    s.state = tile({s.dk, s.dv});
    s.keys = tile({C, s.dk});
    s.keysT = tile({s.dk, C});
    s.values = tile({C, s.fullDv});
    if (u.delta) {
      s.betas = tile({C});
      s.solved = tile({C, s.dv});
    }
    // With key decays, scalar decays fold into them (e^{g} diag(e^{gk}) = diag(e^{g + gk})).
    // The lo parts in f16: at most half an f32 ulp of b (6e−5 at |b| ~ 1000), they keep an
    // absolute resolution near 6e−8 there, and cost half the workgroup memory.
    Type f16 = b.getF16Type();
    if (!u.scalarDecays.empty() && u.keyDecays.empty()) {
      s.scalarDecay = tile({C});
      s.scalarDecayLo = tile({C}, f16);
    }
    if (!u.keyDecays.empty()) {
      s.keyDecay = tile({C, s.dk});
      s.keyDecayT = tile({s.dk, C});
      s.keyDecayLoT = tile({s.dk, C}, f16);
    }
    if (!u.valueDecays.empty()) {
      s.valueDecay = tile({C, s.fullDv});
      s.valueDecayLo = tile({C, s.fullDv}, f16);
    }
    s.attention = tile({C, C});
    for (size_t r = 0; r < u.reads.size(); ++r) {
      s.queries.push_back(tile({C, s.dk}));
      s.results.push_back(tile({C, s.dv}));
    }
    if (usesTensorCores(s)) {
      Type f16 = b.getF16Type();
      s.stateH = tile({s.dk, s.dv}, f16);
      s.rowsH = tile({C, s.dk}, f16);
      s.columnsH = tile({s.dk, C}, f16);
      s.attentionH = tile({C, C}, f16);
      s.solvedH = tile({C, s.dv}, f16);
      if (u.delta)
        s.product = tile({C, s.dv});
      if (s.keyDecay && factorsKeyDecays()) {
        s.blockRowsH = tile({kSubChunk, s.dk}, f16);
        s.blockColumnsH = tile({s.dk, C - kSubChunk}, f16);
        s.blockScores = tile({kSubChunk, C - kSubChunk});
      }
    }
    return s;
  }

  //===--------------------------------------------------------------------===//
  // Decays
  //===--------------------------------------------------------------------===//

  /// b_i[d], the cumulative key-side log-decay of row i at key d (scalar decays included);
  /// null without decays. `d` may be null for scalar-only decays.
  Value keyExponent(StateTiles &s, Value i, Value d) {
    if (s.keyDecay)
      return at(s.keyDecayT, {d, i});
    if (s.scalarDecay)
      return at(s.scalarDecay, {i});
    return {};
  }
  /// U_jv of the chunk: the solved rows (delta) or the β-scaled values.
  Value solvedAt(StateTiles &s, Value j, Value v) {
    if (s.solved)
      return at(s.solved, {j, v});
    return at(s.values, {j, addIndex(column0, v)});
  }
  Value valueExponent(StateTiles &s, Value i, Value v) {
    return at(s.valueDecay, {i, addIndex(column0, v)});
  }
  /// b_i − b_j of the key side at key d (d unused for scalar decays), from the pairs; null
  /// without decays.
  Value keyExponentDifference(StateTiles &s, Value i, Value j, Value d) {
    if (s.keyDecay)
      return codegen::decayDifference(b, at(s.keyDecayT, {d, i}), at(s.keyDecayLoT, {d, i}),
                                      at(s.keyDecayT, {d, j}), at(s.keyDecayLoT, {d, j}));
    if (s.scalarDecay)
      return codegen::decayDifference(b, at(s.scalarDecay, {i}), at(s.scalarDecayLo, {i}),
                                      at(s.scalarDecay, {j}), at(s.scalarDecayLo, {j}));
    return {};
  }
  Value valueExponentDifference(StateTiles &s, Value i, Value j, Value v) {
    Value column = addIndex(column0, v);
    return codegen::decayDifference(b, at(s.valueDecay, {i, column}),
                                    at(s.valueDecayLo, {i, column}),
                                    at(s.valueDecay, {j, column}),
                                    at(s.valueDecayLo, {j, column}));
  }

  //===--------------------------------------------------------------------===//
  // One chunk
  //===--------------------------------------------------------------------===//

  void emitChunk(const WorkItem &item, Value first, Value count, ChunkWork work) {
    emitPrologue(item, first, count, work);
    for (StateTiles &s : states) {
      emitCumulativeDecays(s);
      emitTransposes(s);
      if (usesTensorCores(s))
        convertState(s);
      if (s.update->delta)
        emitDeltaSolve(s);
      if (work.reads)
        for (size_t r = 0; r < s.update->reads.size(); ++r)
          emitRead(s, r);
      if (work.update)
        emitStateUpdate(s);
    }
    if (work.reads) {
      for (WindowTiles &window : windows)
        emitWindow(window, item, first, count);
      emitEpilogue(item, first, count);
    }
  }

  //===--------------------------------------------------------------------===//
  // Window reads
  //===--------------------------------------------------------------------===//

  /// The window term of the chunk's queries. Positions count from the sequence start; the
  /// span's keys and values are the body's values at its tokens, recomputed (the history too).
  void emitWindow(WindowTiles &window, const WorkItem &item, Value first, Value count) {
    WindowTerm &term = *window.term;
    WindowReadOp op = window.op;
    Value firstPosition = subIndex(first, item.tokenBegin);
    Value keyStart = term.keyStart(firstPosition);
    Value numKeys = subIndex(addIndex(firstPosition, count), keyStart);
    Value firstKey = addIndex(item.tokenBegin, keyStart);
    loadWindowRows(op.getQuery(), term.queries, C, item, first, count,
                   op.getScale().convertToDouble(), /*transposed=*/false);
    loadWindowRows(op.getKey(), term.keysT, term.span(), item, firstKey, numKeys, 1.0,
                   /*transposed=*/true);
    loadWindowRows(op.getValue(), term.values, term.span(), item, firstKey, numKeys, 1.0,
                   /*transposed=*/false);
    term.emitWeights(firstPosition, count, keyStart, [&](Value i, Value total) {
      e.store(total, window.denominators, {i});
    });
    term.emitOutputs(count, [&](Value i, Value v, Value o) { e.store(o, window.out, {i, v}); });
  }

  /// Row j < n of `tile` (`rows` x width, or width x `rows` when transposed) = scale · `value`
  /// at token `token0 + j`; zeros past n. An undelayed input row is copied element by
  /// element (consecutive threads on consecutive columns), anything else computed a row per
  /// thread.
  void loadWindowRows(Value value, Value tile, int64_t rows, const WorkItem &item, Value token0,
                      Value n, double scale, bool transposed) {
    int64_t width = cast<VectorType>(value.getType()).getDimSize(0);
    auto position = [&](Value j, Value d) -> SmallVector<Value> {
      return transposed ? SmallVector<Value>{d, j} : SmallVector<Value>{j, d};
    };
    if (std::optional<unsigned> input = inputOf(value)) {
      Value memory = e.input(*input);
      threads(rows, width, [&](Value j, Value d) {
        Value x = where(ult(j, n), [&] {
          Value element =
              at(memory, {item.row, e.memoryToken(item, addIndex(token0, j)), item.head, d});
          return scale == 1.0 ? element : mul(element, e.f32(scale));
        });
        e.store(x, tile, position(j, d));
      });
      return;
    }
    threads(rows, [&](Value j) {
      ifThenElse(
          ult(j, n),
          [&] {
            Value row = computeAt({value}, item, addIndex(token0, j)).lookup(value);
            if (scale != 1.0)
              row = mul(row, splat(e.f32(scale), width));
            if (!transposed) {
              e.store(row, tile, {j, e.index(0)});
              return;
            }
            for (int64_t d = 0; d < width; ++d)
              e.store(vector::ExtractOp::create(b, row, ArrayRef<int64_t>{d}), tile,
                      {e.index(d), j});
          },
          [&] {
            if (!transposed) {
              e.store(e.zeros(e.vectorOf(width)), tile, {j, e.index(0)});
              return;
            }
            for (int64_t d = 0; d < width; ++d)
              e.store(e.f32(0.0), tile, {e.index(d), j});
          });
    });
  }

  /// One per-token quantity of the chunk: `compute` emits its value at a token (null: zeros,
  /// for a state that is never written), stored as row i of `buffer` (C x n, or C).
  struct TokenRow {
    Value buffer;
    std::function<Value(const WorkItem &, Value)> compute;
    /// Set when the quantity is an input row itself (times `scale`): copied element by
    /// element instead, consecutive threads on consecutive columns (coalesced loads).
    std::optional<unsigned> input;
    double scale = 1.0;
  };

  /// The input # of body value `v` if it is an input row argument.
  std::optional<unsigned> inputOf(Value v) {
    for (auto [i, arg] : llvm::enumerate(e.op.getInputArgs()))
      if (arg == v && isa<VectorType>(arg.getType()) && e.op.getInputDelay(i) == 0)
        return i;
    return std::nullopt; // computed, or delayed (mapTokenArguments reads those rows)
  }

  /// Token i of the chunk: the body's per-token ops, or zeros past the sequence's end. Each
  /// stored quantity is its own phase, so that a thread holds one token row at a time (the
  /// row loads of different quantities cannot be hoisted past each other's stores).
  void emitPrologue(const WorkItem &item, Value first, Value count, ChunkWork work) {
    for (StateTiles &s : states)
      for (const TokenRow &row : tokenRows(s)) {
        if (!work.reads && llvm::is_contained(s.queries, row.buffer))
          continue; // the state pass reads nothing
        if (row.input) {
          emitRowCopy(row, item, first, count);
          continue;
        }
        threads(C, [&](Value i) {
          Value zero = e.index(0);
          auto type = cast<MemRefType>(row.buffer.getType());
          SmallVector<Value> at = {i};
          if (type.getRank() == 2)
            at.push_back(zero);
          Value zeros = type.getRank() == 2 ? e.zeros(e.vectorOf(type.getDimSize(1)))
                                            : e.f32(0.0);
          if (!row.compute) {
            e.store(zeros, row.buffer, at);
            return;
          }
          ifThenElse(
              ult(i, count),
              [&] { e.store(row.compute(item, addIndex(first, i)), row.buffer, at); },
              [&] { e.store(zeros, row.buffer, at); });
        });
      }
  }

  /// buffer[i][d] = scale · input[row, first + i, head, d], or 0 past the sequence's end.
  /// Rows of f32 inputs whose width is a multiple of 4 go 4 floats per thread: 16-byte loads
  /// (the buffers are contiguous [B, T, H, D] allocations, so rows start 16-byte aligned).
  void emitRowCopy(const TokenRow &row, const WorkItem &item, Value first, Value count) {
    int64_t width = cast<MemRefType>(row.buffer.getType()).getDimSize(1);
    Value input = e.input(*row.input);
    bool wide = width % 4 == 0 && cast<MemRefType>(input.getType()).getElementType().isF32();
    int64_t lanes = wide ? 4 : 1;
    threads(C, width / lanes, [&](Value i, Value quad) {
      Value d = arith::MulIOp::create(b, quad, e.index(lanes));
      ifThenElse(
          ult(i, count),
          [&] {
            SmallVector<Value> at = {item.row, e.memoryToken(item, addIndex(first, i)),
                                     item.head, d};
            Value x = wide ? vector::LoadOp::create(b, e.vectorOf(4), input, at,
                                                    /*nontemporal=*/false, llvm::Align(16))
                                 .getResult()
                           : this->at(input, at);
            if (row.scale != 1.0)
              x = mul(x, wide ? splat(e.f32(row.scale), 4) : e.f32(row.scale));
            e.store(x, row.buffer, {i, d});
          },
          [&] { e.store(wide ? e.zeros(e.vectorOf(4)) : e.f32(0.0), row.buffer, {i, d}); });
    });
  }

  /// The body values `values` at `token`, cloned with only the token rows they read.
  IRMapping computeAt(ArrayRef<Value> values, const WorkItem &item, Value token) {
    IRMapping mapping;
    e.cloneSliceAt(values, mapping, item, token);
    return mapping;
  }

  Value logDecay(ArrayRef<Value> values, IRMapping &mapping) {
    return codegen::chunkLogDecay(b, values, mapping);
  }

  SmallVector<TokenRow> tokenRows(StateTiles &s) {
    const StateUpdate &u = s.update[0];
    SmallVector<TokenRow> rows;
    if (!u.key) {
      rows.push_back({s.keys, nullptr});
      rows.push_back({s.values, nullptr});
    } else {
      rows.push_back({s.keys,
                      [this, &u](const WorkItem &item, Value token) {
                        return computeAt({u.key}, item, token).lookup(u.key);
                      },
                      inputOf(u.key)});
      // A plain write adds β k vᵀ: fold β into the value row. The delta rule keeps β apart.
      int64_t width = s.fullDv;
      rows.push_back({s.values, [this, &u, width](const WorkItem &item, Value token) {
                        SmallVector<Value> needed;
                        for (Value v : {u.value, u.beta})
                          if (v)
                            needed.push_back(v);
                        IRMapping values =
                            needed.empty() ? IRMapping() : computeAt(needed, item, token);
                        Value value = u.value ? values.lookup(u.value) : splat(e.f32(1.0), 1);
                        if (u.beta && !u.delta)
                          value = mul(value, splat(values.lookup(u.beta), width));
                        return value;
                      },
                      u.beta && !u.delta ? std::nullopt : inputOf(u.value)});
      if (u.delta)
        rows.push_back({s.betas, [this, &u](const WorkItem &item, Value token) {
                          return computeAt({u.beta}, item, token).lookup(u.beta);
                        }});
    }
    if (s.scalarDecay)
      rows.push_back({s.scalarDecay, [this, &u](const WorkItem &item, Value token) {
                        IRMapping decays = computeAt(u.scalarDecays, item, token);
                        return logDecay(u.scalarDecays, decays);
                      }});
    if (s.keyDecay) {
      int64_t dk = s.dk;
      rows.push_back({s.keyDecay, [this, &u, dk](const WorkItem &item, Value token) {
                        SmallVector<Value> needed(u.keyDecays);
                        llvm::append_range(needed, u.scalarDecays);
                        IRMapping decays = computeAt(needed, item, token);
                        Value decay = logDecay(u.keyDecays, decays);
                        if (!u.scalarDecays.empty())
                          decay = add(decay, splat(logDecay(u.scalarDecays, decays), dk));
                        return decay;
                      }});
    }
    if (s.valueDecay)
      rows.push_back({s.valueDecay, [this, &u](const WorkItem &item, Value token) {
                        IRMapping decays = computeAt(u.valueDecays, item, token);
                        return logDecay(u.valueDecays, decays);
                      }});
    for (auto [r, constRead] : llvm::enumerate(u.reads)) {
      ReadOp read = constRead;
      int64_t dk = s.dk;
      rows.push_back({s.queries[r], [this, read, dk](const WorkItem &item, Value token) mutable {
                        Value query = computeAt({read.getQuery()}, item, token)
                                          .lookup(read.getQuery());
                        if (std::optional<APFloat> scale = read.getScale())
                          query = mul(query, splat(e.f32(scale->convertToDouble()), dk));
                        return query;
                      },
                      inputOf(read.getQuery()),
                      read.getScale() ? read.getScale()->convertToDouble() : 1.0});
    }
    return rows;
  }

  /// b_i = Σ_{i' <= i} g_{i'}, in place, one column per thread, as the pair hi (in place) and
  /// lo (codegen::addToDecaySum).
  void emitCumulativeDecays(StateTiles &s) {
    using Indices = function_ref<SmallVector<Value>(Value)>;
    auto scan = [&](Value hi, Indices hiAt, Value lo, Indices loAt) {
      Value zero = e.f32(0.0);
      e.forLoopCarry(e.index(0), e.index(C), 1, ValueRange{zero, zero},
                     [&](Value i, ValueRange sums) -> SmallVector<Value> {
                       auto [sum, error] =
                           codegen::addToDecaySum(b, sums[0], sums[1], at(hi, hiAt(i)));
                       e.store(sum, hi, hiAt(i));
                       e.store(error, lo, loAt(i));
                       return {sum, error};
                     });
    };
    if (s.scalarDecay)
      threads(1, [&](Value) {
        auto rowAt = [](Value i) { return SmallVector<Value>{i}; };
        scan(s.scalarDecay, rowAt, s.scalarDecayLo, rowAt);
      });
    if (s.keyDecay)
      threads(s.dk, [&](Value d) {
        scan(s.keyDecay, [&](Value i) { return SmallVector<Value>{i, d}; }, s.keyDecayLoT,
             [&](Value i) { return SmallVector<Value>{d, i}; });
      });
    if (s.valueDecay)
      threads(s.fullDv, [&](Value v) {
        auto elementAt = [&](Value i) { return SmallVector<Value>{i, v}; };
        scan(s.valueDecay, elementAt, s.valueDecayLo, elementAt);
      });
  }

  /// Kᵀ (and the key decays transposed): the attention phases read keys by column.
  void emitTransposes(StateTiles &s) {
    threads(s.dk, C, [&](Value d, Value i) {
      e.store(at(s.keys, {i, d}), s.keysT, {d, i});
      if (s.keyDecay)
        e.store(at(s.keyDecay, {i, d}), s.keyDecayT, {d, i});
    });
  }

  /// Tensor cores for this state's products: matrix states without value decays.
  bool usesTensorCores(const StateTiles &s) const {
    return tensorCores && s.update->type.isMatrix() && s.update->valueDecays.empty();
  }

  /// solvedH = U (the solved rows, or the β-folded values of this program's columns).
  void convertSolved(StateTiles &s) {
    threads(C, s.dv, [&](Value j, Value v) { e.store(solvedAt(s, j, v), s.solvedH, {j, v}); });
  }

  /// tile = 0 (a matmul's accumulator).
  void clear(Value buffer) {
    auto shape = cast<MemRefType>(buffer.getType()).getShape();
    threads(shape[0], shape[1], [&](Value i, Value j) { e.store(e.f32(0.0), buffer, {i, j}); });
  }

  /// stateH = S, in f16, once per chunk before its products with the state.
  void convertState(StateTiles &s) {
    threads(s.dk, s.dv, [&](Value d, Value v) { e.store(at(s.state, {d, v}), s.stateH, {d, v}); });
  }

  /// target += (left ⊙ e^{b}) S on the tensor cores.
  void matmulFromState(StateTiles &s, Value left, Value target) {
    threads(C, s.dk, [&](Value i, Value d) {
      Value x = at(left, {i, d});
      if (Value exponent = keyExponent(s, i, d))
        x = mul(x, exp(exponent));
      e.store(x, s.rowsH, {i, d});
    });
    matmul(s.rowsH, s.stateH, target);
  }

  /// Whether attention entry (i, j) is kept: j <= i (j < i if strict), or for a read at the
  /// starts of blocks of `readBlock` tokens (no decays: RecurrenceAnalysis), the keys before
  /// the query's block, j < ⌊i/readBlock⌋·readBlock.
  Value keeps(Value i, Value j, bool strict, int64_t readBlock) {
    if (readBlock) {
      Value width = e.index(readBlock);
      return ult(j, arith::MulIOp::create(b, arith::DivUIOp::create(b, i, width), width));
    }
    return strict ? ult(j, i) : ule(j, i);
  }

  /// attention = tril(left Kᵀ ⊙ e^{b_i − b_j}) on the tensor cores (no key decays).
  void emitAttentionMatmul(StateTiles &s, Value left, bool strict, int64_t readBlock) {
    threads(C, s.dk, [&](Value i, Value d) {
      e.store(at(left, {i, d}), s.rowsH, {i, d});
      e.store(at(s.keys, {i, d}), s.columnsH, {d, i});
    });
    clear(s.attention);
    matmul(s.rowsH, s.columnsH, s.attention);
    threads(C, C, [&](Value i, Value j) {
      Value keep = keeps(i, j, strict, readBlock);
      Value score = where(keep, [&] {
        Value dot = at(s.attention, {i, j});
        if (s.scalarDecay)
          dot = mul(dot, exp(keyExponentDifference(s, i, j, Value())));
        return dot;
      });
      e.store(score, s.attention, {i, j});
    });
  }

  /// Key-decay attention in 16-row sub-chunks: for a sub-chunk starting at row r and keys j < r,
  /// e^{b_i − b_j} = e^{b_i − b_r} e^{b_r − b_j} with both exponents <= 0, so those blocks are a
  /// tensor-core product of decayed queries and decayed keys; the diagonal blocks stay exact.
  bool factorsKeyDecays() const { return C % kSubChunk == 0 && C > kSubChunk; }

  void emitFactoredKeyDecayAttention(StateTiles &s, Value left, bool strict) {
    // (No block-start reads here: RecurrenceAnalysis runs those of decaying states as scans.)
    // The diagonal blocks, entry by entry (j in i's sub-chunk); the other entries are below.
    threads(C, C, [&](Value i, Value j) {
      Value rowBlock = arith::DivUIOp::create(b, i, e.index(kSubChunk));
      Value columnBlock = arith::DivUIOp::create(b, j, e.index(kSubChunk));
      Value diagonal = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rowBlock, columnBlock);
      Value above = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, columnBlock, rowBlock);
      ifThenElse(
          arith::OrIOp::create(b, diagonal, above),
          [&] {
            Value keep = strict ? ult(j, i) : ule(j, i);
            Value score = where(keep, [&] {
              return sum(s.dk, [&](Value d) {
                Value term = mul(at(left, {i, d}), at(s.keysT, {d, j}));
                return mul(term, exp(keyExponentDifference(s, i, j, d)));
              });
            });
            e.store(score, s.attention, {i, j});
          },
          [] {});
    });
    int64_t width = C - kSubChunk;
    for (int64_t r = kSubChunk; r < C; r += kSubChunk) {
      Value first = e.index(r);
      threads(kSubChunk, s.dk, [&](Value i, Value d) {
        Value row = addIndex(first, i);
        Value exponent = keyExponentDifference(s, row, first, d);
        e.store(mul(at(left, {row, d}), exp(exponent)), s.blockRowsH, {i, d});
      });
      threads(s.dk, width, [&](Value d, Value j) {
        Value key = where(ult(j, first), [&] {
          Value exponent = keyExponentDifference(s, first, j, d);
          return mul(at(s.keysT, {d, j}), exp(exponent));
        });
        e.store(key, s.blockColumnsH, {d, j});
      });
      clear(s.blockScores);
      matmul(s.blockRowsH, s.blockColumnsH, s.blockScores);
      threads(kSubChunk, r, [&](Value i, Value j) {
        e.store(at(s.blockScores, {i, j}), s.attention, {addIndex(first, i), j});
      });
    }
  }

  /// attention_ij = Σ_d left_id K_jd e^{b_id − b_jd} where keeps(i, j), else 0.
  void emitAttention(StateTiles &s, Value left, bool strict, int64_t readBlock = 0) {
    if (usesTensorCores(s) && !s.keyDecay)
      return emitAttentionMatmul(s, left, strict, readBlock);
    if (usesTensorCores(s) && s.blockScores) // key decays: no block-start reads
      return emitFactoredKeyDecayAttention(s, left, strict);
    threads(C, C, [&](Value i, Value j) {
      Value keep = keeps(i, j, strict, readBlock);
      Value score = where(keep, [&] {
        Value dot = sum(s.dk, [&](Value d) {
          Value term = mul(at(left, {i, d}), at(s.keysT, {d, j}));
          if (s.keyDecay)
            term = mul(term, exp(keyExponentDifference(s, i, j, d)));
          return term;
        });
        if (s.scalarDecay)
          dot = mul(dot, exp(keyExponentDifference(s, i, j, Value())));
        return dot;
      });
      e.store(score, s.attention, {i, j});
    });
  }

  /// Σ_d left_id e^{b_id} S_dv: the contribution of the chunk-start state.
  Value fromState(StateTiles &s, Value left, Value i, Value v) {
    return sum(s.dk, [&](Value d) {
      Value x = at(left, {i, d});
      if (Value exponent = keyExponent(s, i, d))
        x = mul(x, exp(exponent));
      return mul(x, at(s.state, {d, v}));
    });
  }

  /// The delta rule's U by forward substitution (the WY/UT form: T = A⁻¹ diag(β), U = T V).
  void emitDeltaSolve(StateTiles &s) {
    emitAttention(s, s.keys, /*strict=*/true); // G
    if (usesTensorCores(s)) {
      clear(s.product);
      matmulFromState(s, s.keys, s.product);
      threads(C, s.dv, [&](Value i, Value v) {
        Value value = at(s.values, {i, addIndex(column0, v)});
        e.store(sub(value, at(s.product, {i, v})), s.solved, {i, v});
      });
    } else {
      threads(C, s.dv, [&](Value i, Value v) {
        Value value = at(s.values, {i, addIndex(column0, v)});
        e.store(sub(value, fromState(s, s.keys, i, v)), s.solved, {i, v});
      });
    }
    // Forward substitution in blocks of 16 rows: inside a block by columns, then every later
    // row subtracts the block's finished rows at once (a phase over rows x columns).
    int64_t block = C % kSubChunk == 0 ? kSubChunk : C;
    for (int64_t r0 = 0; r0 < C; r0 += block) {
      threads(s.dv, [&](Value v) {
        e.forLoop(r0, r0 + block, [&](Value i) {
          Value u = e.forLoopCarry(e.index(r0), i, at(s.solved, {i, v}), [&](Value j, Value acc) {
            return sub(acc, mul(at(s.attention, {i, j}), at(s.solved, {j, v})));
          });
          e.store(mul(u, at(s.betas, {i})), s.solved, {i, v});
        });
      });
      if (int64_t later = C - r0 - block; later > 0)
        threads(later, s.dv, [&](Value i, Value v) {
          Value rowIndex = addIndex(e.index(r0 + block), i);
          Value merged = sum(e.index(r0), e.index(r0 + block), [&](Value j) {
            return mul(at(s.attention, {rowIndex, j}), at(s.solved, {j, v}));
          });
          e.store(sub(at(s.solved, {rowIndex, v}), merged), s.solved, {rowIndex, v});
        });
    }
  }

  /// O = (Q ⊙ e^{b}) S [⊙ e^{bv}] + A U [⊙ e^{bv_i − bv_j}]: the chunk's reads of S_t; a
  /// read of S'_t (before the token's delta and write) masks A strictly. A block-start read
  /// masks A to the keys before the query's block, and is Q S alone when its blocks are the
  /// chunk.
  void emitRead(StateTiles &s, size_t r) {
    Value queries = s.queries[r];
    ReadOp read = s.update->reads[r];
    int64_t readBlock = read.getBlockStart().value_or(0);
    bool intraChunk = readBlock < C;
    if (intraChunk)
      emitAttention(s, queries, /*strict=*/read.seesStateBeforeWrite(), readBlock);
    if (usesTensorCores(s)) {
      Value out = s.results[r];
      clear(out);
      matmulFromState(s, queries, out);
      if (!intraChunk)
        return;
      convertSolved(s);
      threads(C, C, [&](Value i, Value j) { e.store(at(s.attention, {i, j}), s.attentionH, {i, j}); });
      matmul(s.attentionH, s.solvedH, out);
      return;
    }
    threads(C, s.dv, [&](Value i, Value v) {
      Value out = fromState(s, queries, i, v);
      Value bvi = s.valueDecay ? valueExponent(s, i, v) : Value();
      if (bvi)
        out = mul(out, exp(bvi));
      if (!intraChunk) {
        e.store(out, s.results[r], {i, v});
        return;
      }
      Value mixed = sum(e.index(0), addIndex(i, e.index(1)), [&](Value j) {
        Value term = mul(at(s.attention, {i, j}), solvedAt(s, j, v));
        if (bvi)
          term = mul(term, exp(valueExponentDifference(s, i, j, v)));
        return term;
      });
      e.store(add(out, mixed), s.results[r], {i, v});
    });
  }

  /// S ← e^{b_last} ⊙ S [⊙ e^{bv_last}] + (K ⊙ e^{b_last − b})ᵀ (U [⊙ e^{bv_last − bv}]).
  void emitStateUpdate(StateTiles &s) {
    if (!s.update->key && s.update->keyDecays.empty() && s.update->scalarDecays.empty() &&
        s.update->valueDecays.empty())
      return; // a state that is only read
    Value last = e.index(C - 1);
    if (usesTensorCores(s)) {
      // S ← e^{b_last} ⊙ S, then += (K ⊙ e^{b_last − b})ᵀ U on the tensor cores.
      if (s.keyDecay || s.scalarDecay)
        threads(s.dk, s.dv, [&](Value d, Value v) {
          e.store(mul(at(s.state, {d, v}), exp(keyExponent(s, last, d))), s.state, {d, v});
        });
      threads(s.dk, C, [&](Value d, Value j) {
        Value k = at(s.keys, {j, d});
        if (Value exponent = keyExponentDifference(s, last, j, d))
          k = mul(k, exp(exponent));
        e.store(k, s.columnsH, {d, j});
      });
      convertSolved(s);
      matmul(s.columnsH, s.solvedH, s.state);
      return;
    }
    threads(s.dk, s.dv, [&](Value d, Value v) {
      Value keyLast = keyExponent(s, last, d);
      Value valueLast = s.valueDecay ? valueExponent(s, last, v) : Value();
      Value decayed = at(s.state, {d, v});
      if (keyLast)
        decayed = mul(decayed, exp(keyLast));
      if (valueLast)
        decayed = mul(decayed, exp(valueLast));
      Value written = sum(C, [&](Value j) {
        Value k = at(s.keys, {j, d});
        if (keyLast)
          k = mul(k, exp(keyExponentDifference(s, last, j, d)));
        Value u = solvedAt(s, j, v);
        if (valueLast)
          u = mul(u, exp(valueExponentDifference(s, last, j, v)));
        return mul(k, u);
      });
      e.store(add(decayed, written), s.state, {d, v});
    });
  }

  /// Token i of the chunk: the body's ops after the reads, then the outputs.
  void emitEpilogue(const WorkItem &item, Value first, Value count) {
    SmallVector<Value> outputs(e.op.getYield().getOutputs());
    // Outputs that are reads of matrix states (always so with value tiles): stored element
    // by element, consecutive threads on consecutive columns (coalesced), rather than a row
    // per thread.
    SmallVector<std::pair<unsigned, Value>> readOutputs; // (output #, results tile)
    for (auto [j, out] : llvm::enumerate(outputs))
      for (StateTiles &s : states)
        for (auto [r, read] : llvm::enumerate(s.update->reads))
          if (ReadOp(read).getResult() == out && s.update->type.isMatrix())
            readOutputs.push_back({unsigned(j), s.results[r]});
    if (readOutputs.size() == outputs.size()) {
      for (auto [output, tile] : readOutputs) {
        unsigned j = output;
        Value results = tile;
        int64_t width = cast<MemRefType>(results.getType()).getDimSize(1);
        threads(C, width, [&](Value i, Value v) {
          ifThenElse(
              ult(i, count),
              [&] {
                e.store(at(results, {i, v}), e.output(j),
                        {item.row, e.memoryToken(item, addIndex(first, i)), item.head,
                         addIndex(column0, v)});
              },
              [] {});
        });
      }
      return;
    }
    // A thread computes a token's outputs from whole rows. One output at a time, so that only
    // that output's slice is live: a backward body's outputs (gradients of q, k, v, β and
    // gate terms) all at once hold more rows than a thread has registers. What outputs share
    // is recomputed, a few row operations against the chunk's matmuls.
    threads(C, [&](Value i) {
      ifThenElse(
          ult(i, count),
          [&] {
            Value token = addIndex(first, i);
            for (auto [j, out] : llvm::enumerate(outputs)) {
              IRMapping mapping = loadedReads(i);
              e.cloneSliceAt({out}, mapping, item, token);
              e.storeOutput(j, mapping.lookup(out), item, token);
            }
          },
          [] {});
    });
  }

  /// Token i's reads and window terms, loaded from their tiles (the loads an output's slice
  /// does not use fold away).
  IRMapping loadedReads(Value i) {
    IRMapping mapping;
    for (WindowTiles &window : windows) {
      mapping.map(window.op.getResult(),
                  e.load(e.vectorOf(window.dv), window.out, {i, e.index(0)}));
      if (Value denominator = window.op.getDenominator())
        mapping.map(denominator, at(window.denominators, {i}));
    }
    for (StateTiles &s : states)
      for (auto [r, constRead] : llvm::enumerate(s.update->reads)) {
        ReadOp read = constRead;
        Value value = e.load(e.vectorOf(s.dv), s.results[r], {i, e.index(0)});
        if (!s.update->type.isMatrix())
          value = vector::ExtractOp::create(b, value, ArrayRef<int64_t>{0});
        mapping.map(read.getResult(), value);
      }
    return mapping;
  }
};

} // namespace

void emitChunkedSchedule(codegen::KernelEmitter &emitter, bool twoPhase, bool tensorCores) {
  ChunkedSchedule(emitter, twoPhase, tensorCores).emit();
}

} // namespace linrec::gpusched
