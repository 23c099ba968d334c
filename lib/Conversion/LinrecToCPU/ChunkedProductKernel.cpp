//===- ChunkedProductKernel.cpp - chunked reads of products of states -----===//
//
// Tensor attention keeps one state per key stream and reads their Hadamard product:
// o_t = (A_t ⊙ B_t)ᵀ q_t with A_t = A_0 + Σ_{j≤t} a_j x_jᵀ, B_t = B_0 + Σ_{j≤t} b_j y_jᵀ (A_0,
// B_0 the states at the chunk start; a, b the keys, x, y the values of the chunk's tokens).
// Expanding the product gives four terms, each computed per chunk of C tokens:
//
//   (A_0 ⊙ B_0)ᵀ q_t                              the chunk-start states' product
//   Σ_{j≤t} x_j ⊙ ((q_t ⊙ a_j)ᵀ B_0)               in-chunk keys of A against B_0
//   Σ_{j≤t} y_j ⊙ ((q_t ⊙ b_j)ᵀ A_0)               in-chunk keys of B against A_0
//   Σ_{j≤t} x_j ⊙ Σ_{i≤t} ((q_t ⊙ a_j)ᵀ b_i) y_i   the exact in-chunk pairs
//
// With Taylor features the pair weight (q_t ⊙ a_j)ᵀ b_i is P_g(z_{t,j,i}) itself: the in-chunk
// term is the closed form of the spec over the chunk's pairs. Per query t the rows
// R_j = q_t ⊙ a_j (j ≤ t, zero above) give both in-chunk terms of A's keys as matmuls:
// R · B_0 and (R · bᵀ, masked to i ≤ t) · y; reads with the same query and keys (a numerator
// and its denominator) share R and the pair weights. That is about 2C·(2r·E + r·C + C·E) FLOPs per
// token and read for r features and E value columns, against about 7·r·E for the token scan,
// so on the CPU the
// scan stays the default; this form runs when a recurrence is marked chunked_product, and is
// the chunk-parallel form a GPU schedule can spread over chunks.
//
//===----------------------------------------------------------------------===//

#include "CpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec::cpu {
namespace {

class ChunkedProductKernel {
public:
  explicit ChunkedProductKernel(KernelEmitter &e) : e(e), b(e.b), C(e.chunkSize) {}

  void emit() {
    for (const StateUpdate &u : e.analysis.states)
      states.push_back(allocate(u));
    for (Operation &bodyOp : e.op.getBodyBlock())
      if (auto read = dyn_cast<ReadProductOp>(bodyOp))
        products.push_back(allocate(read));
    e.forEachWorkItem([&](const WorkItem &item) {
      for (StateBuffers &s : states)
        e.loadInitialState(s.update->index, item, s.state);
      e.forEachChunk(item, C,
                     [&](Value, Value first, Value count) { emitChunk(item, first, count); });
      for (StateBuffers &s : states)
        e.storeFinalState(s.update->index, item, s.state);
    });
    e.freeAll();
  }

private:
  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  int64_t C;

  /// One state: r key rows of E value columns (E = 1 for a normalizer).
  struct StateBuffers {
    const StateUpdate *update;
    int64_t r, width;
    Value state;  // r x E
    Value keys;   // C x r (zero rows past the sequence's end)
    Value keysT;  // r x C
    Value values; // C x E (β folded in)
  };
  std::vector<StateBuffers> states;

  /// One read_product (A ⊙ B)ᵀ q.
  struct ProductBuffers {
    ReadProductOp op;
    StateBuffers *first, *second;
    Value queries;   // C x r
    Value result;    // C x E
    Value product;   // r x E: A_0 ⊙ B_0
    Value pairRows;  // C x r: q_t ⊙ a_j for j <= t, zero above
    Value crossRead; // C x E: pairRows · (B_0, then the in-chunk pairs)
    Value weights;   // C x C: the in-chunk pair weights of one query
  };
  std::vector<ProductBuffers> products;

  StateBuffers allocate(const StateUpdate &u) {
    StateBuffers s;
    s.update = &u;
    s.r = u.type.getKeyDim();
    s.width = u.type.getValueDim();
    s.state = e.alloc({s.r, s.width});
    s.keys = e.alloc({C, s.r});
    s.keysT = e.alloc({s.r, C});
    s.values = e.alloc({C, s.width});
    return s;
  }

  ProductBuffers allocate(ReadProductOp read) {
    auto stateOf = [&](Value yielded) {
      unsigned index = e.op.getStateArgOf(yielded).getArgNumber();
      return &*llvm::find_if(states, [&](const StateBuffers &s) {
        return s.update->index == index;
      });
    };
    ProductBuffers p;
    p.op = read;
    p.first = stateOf(read.getFirst());
    p.second = stateOf(read.getSecond());
    int64_t r = p.first->r, width = p.first->width;
    p.queries = e.alloc({C, r});
    p.result = e.alloc({C, width});
    p.product = e.alloc({r, width});
    p.pairRows = e.alloc({C, r});
    p.crossRead = e.alloc({C, width});
    p.weights = e.alloc({C, C});
    return p;
  }

  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value row(Value buffer, Value i, int64_t n) {
    return e.load(e.vectorOf(n), buffer, {i, e.index(0)});
  }
  Value splat(Value scalar, int64_t n) {
    return vector::BroadcastOp::create(b, e.vectorOf(n), scalar);
  }

  void emitChunk(const WorkItem &item, Value first, Value count) {
    for (StateBuffers &s : states) {
      // Keys past the sequence's end stay zero: their pairs and writes then vanish.
      e.fill(s.keys, 0.0);
      e.fill(s.values, 0.0);
    }
    for (ProductBuffers &p : products)
      e.fill(p.queries, 0.0); // (their rows past the end are read, never stored)
    emitPrologue(item, first, count);
    for (StateBuffers &s : states)
      e.transpose(s.keys, s.keysT);
    for (ArrayRef<ProductBuffers *> group : productGroups())
      emitProductGroup(group, count);
    for (StateBuffers &s : states)
      e.matmul(s.keysT, s.values, s.state, /*accumulate=*/true);
    emitEpilogue(item, first, count);
  }

  /// Token i of the chunk: the body's per-token ops, then the keys, values and queries.
  void emitPrologue(const WorkItem &item, Value first, Value count) {
    SmallVector<Value> needed;
    for (const StateBuffers &s : states)
      for (Value v : {s.update->key, s.update->value, s.update->beta})
        if (v)
          needed.push_back(v);
    for (ProductBuffers &p : products)
      needed.push_back(p.op.getQuery());
    e.forLoop(e.index(0), count, [&](Value i) {
      IRMapping mapping;
      e.mapTokenArguments(mapping, item, arith::AddIOp::create(b, first, i));
      e.checkTokenArguments(mapping);
      e.cloneSlice(needed, mapping);
      Value zero = e.index(0);
      for (StateBuffers &s : states) {
        const StateUpdate &u = *s.update;
        e.store(mapping.lookup(u.key), s.keys, {i, zero});
        Value value = u.value ? mapping.lookup(u.value) : splat(e.f32(1.0), 1);
        if (u.beta)
          value = mul(value, splat(mapping.lookup(u.beta), s.width));
        e.store(value, s.values, {i, zero});
      }
      for (ProductBuffers &p : products)
        e.store(mapping.lookup(p.op.getQuery()), p.queries, {i, zero});
    });
  }


  /// Product reads that share their query and both states' keys (tensor attention's
  /// numerator and denominator): their pair rows and pair weights are computed once per query.
  SmallVector<SmallVector<ProductBuffers *>> productGroups() {
    SmallVector<SmallVector<ProductBuffers *>> groups;
    for (ProductBuffers &p : products) {
      auto shares = [&](ArrayRef<ProductBuffers *> group) {
        ProductBuffers *lead = group.front();
        return lead->op.getQuery() == p.op.getQuery() &&
               lead->first->update->key == p.first->update->key &&
               lead->second->update->key == p.second->update->key;
      };
      auto it = llvm::find_if(groups, shares);
      if (it == groups.end())
        groups.push_back({&p});
      else
        it->push_back(&p);
    }
    return groups;
  }

  /// The chunk's rows of (A_t ⊙ B_t)ᵀ q_t for every read of `group`.
  void emitProductGroup(ArrayRef<ProductBuffers *> group, Value count) {
    // The chunk-start states' product, read by every query of the chunk.
    for (ProductBuffers *p : group) {
      StateBuffers &a = *p->first, &bState = *p->second;
      e.forLoop(0, a.r, [&](Value k) {
        e.store(mul(row(a.state, k, a.width), row(bState.state, k, a.width)), p->product,
                {k, e.index(0)});
      });
      e.matmul(p->queries, p->product, p->result, /*accumulate=*/false);
    }
    ProductBuffers &lead = *group.front();
    e.forLoop(e.index(0), count, [&](Value t) {
      Value next = arith::AddIOp::create(b, t, e.index(1));
      // Σ_{j≤t} x_j ⊙ ((q_t ⊙ a_j)ᵀ B_0 + Σ_{i≤t} ((q_t ⊙ a_j)ᵀ b_i) y_i): the in-chunk keys of
      // A against B's chunk-start state and the in-chunk pairs (counted once, here).
      emitPairRows(lead, *lead.first, t);
      emitPairWeights(lead, *lead.second, t);
      SmallVector<Value> terms;
      for (ProductBuffers *p : group) {
        e.matmul(lead.pairRows, p->second->state, p->crossRead, /*accumulate=*/false);
        e.matmul(lead.weights, p->second->values, p->crossRead, /*accumulate=*/true);
        terms.push_back(sumRows(p->first->values, p->crossRead, next, p->first->width));
      }
      // Σ_{j≤t} y_j ⊙ ((q_t ⊙ b_j)ᵀ A_0): the in-chunk keys of B against A's.
      emitPairRows(lead, *lead.second, t);
      for (auto [p, term] : llvm::zip(group, terms)) {
        e.matmul(lead.pairRows, p->first->state, p->crossRead, /*accumulate=*/false);
        Value ofSecond = sumRows(p->second->values, p->crossRead, next, p->first->width);
        int64_t width = p->first->width;
        e.store(add(row(p->result, t, width), add(term, ofSecond)), p->result,
                {t, e.index(0)});
      }
    });
  }

  /// pairRows[j] = q_t ⊙ k_j for the keys k of `keyed`, j <= t; zero above.
  void emitPairRows(ProductBuffers &p, StateBuffers &keyed, Value t) {
    int64_t r = keyed.r;
    Value query = row(p.queries, t, r);
    Value next = arith::AddIOp::create(b, t, e.index(1));
    e.forLoop(e.index(0), next, [&](Value j) {
      e.store(mul(query, row(keyed.keys, j, r)), p.pairRows, {j, e.index(0)});
    });
    e.forLoop(next, e.index(C), [&](Value j) {
      e.store(e.zeros(e.vectorOf(r)), p.pairRows, {j, e.index(0)});
    });
  }

  /// weights[j][i] = pairRows[j] · b_i for the keys b of `other`, i <= t (keys after t are not
  /// in the state read at t).
  void emitPairWeights(ProductBuffers &p, StateBuffers &other, Value t) {
    e.matmul(p.pairRows, other.keysT, p.weights, /*accumulate=*/false);
    VectorType rowType = e.vectorOf(C);
    Value keep = arith::CmpFOp::create(b, arith::CmpFPredicate::OLE, e.positions(C),
                                       splat(e.indexToF32(t), C));
    e.forLoop(e.index(0), arith::AddIOp::create(b, t, e.index(1)), [&](Value j) {
      Value masked = arith::SelectOp::create(b, keep, row(p.weights, j, C), e.zeros(rowType));
      e.store(masked, p.weights, {j, e.index(0)});
    });
  }

  /// Σ_{j < end} values[j] ⊙ rows[j].
  Value sumRows(Value values, Value rows, Value end, int64_t width) {
    return e.forLoopCarry(e.index(0), end, e.zeros(e.vectorOf(width)), [&](Value j, Value acc) {
      return vector::FMAOp::create(b, row(values, j, width), row(rows, j, width), acc)
          .getResult();
    });
  }

  /// Token i of the chunk: the body's ops after the reads, then the outputs.
  void emitEpilogue(const WorkItem &item, Value first, Value count) {
    SmallVector<Value> outputs(e.op.getYield().getOutputs());
    e.forLoop(e.index(0), count, [&](Value i) {
      Value token = arith::AddIOp::create(b, first, i);
      IRMapping mapping;
      e.mapTokenArguments(mapping, item, token);
      for (ProductBuffers &p : products) {
        Value value = row(p.result, i, p.first->width);
        if (!p.first->update->type.isMatrix())
          value = vector::ExtractOp::create(b, value, ArrayRef<int64_t>{0});
        mapping.map(p.op.getResult(), value);
      }
      e.cloneSlice(outputs, mapping);
      e.storeOutputs(mapping, item, token);
    });
  }
};

} // namespace

void emitChunkedProductKernel(KernelEmitter &emitter) { ChunkedProductKernel(emitter).emit(); }

} // namespace linrec::cpu
