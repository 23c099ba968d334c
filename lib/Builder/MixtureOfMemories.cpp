//===- MixtureOfMemories.cpp - the routed-memory layer --------------------===//

#include "MixtureOfMemories.h"
#include "TensorParts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using utils::IteratorType;

namespace linrec {

namespace {
/// linalg.generic builders over the router's [B, T, M(, M)] iteration spaces.
struct Router {
  OpBuilder &b;
  Location loc;
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();

  Value constant(OpBuilder &n, Location l, float value) {
    return arith::ConstantOp::create(n, l, n.getF32FloatAttr(value));
  }
  Value filled(ArrayRef<int64_t> shape, float value) { return buildFilled(b, loc, shape, value); }
  AffineMap map(unsigned loops, ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> results;
    for (unsigned d : dims)
      results.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(loops, 0, results, ctx);
  }
  Value generic(Value init, ValueRange inputs, ArrayRef<AffineMap> maps,
                ArrayRef<IteratorType> iterators,
                function_ref<Value(OpBuilder &, Location, ValueRange)> payload) {
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iterators,
               [&](OpBuilder &n, Location l, ValueRange args) {
                 linalg::YieldOp::create(n, l, ValueRange{payload(n, l, args)});
               })
        .getResult(0);
  }

  /// w[b, t, m]: softmax over m, kept for the top-k memories (ties: lower index first),
  /// renormalized over them.
  Value weights(Value logits, int64_t topk) {
    auto type = cast<RankedTensorType>(logits.getType());
    int64_t B = type.getDimSize(0), T = type.getDimSize(1), M = type.getDimSize(2);
    SmallVector<IteratorType> reduceM = {IteratorType::parallel, IteratorType::parallel,
                                         IteratorType::reduction};
    SmallVector<IteratorType> parallel3(3, IteratorType::parallel);
    AffineMap btm = map(3, {0, 1, 2}), bt = map(3, {0, 1});
    Value max = generic(filled({B, T}, -INFINITY), logits, {btm, bt}, reduceM,
                        [](OpBuilder &n, Location l, ValueRange x) -> Value {
                          return arith::MaximumFOp::create(n, l, x[0], x[1]);
                        });
    Value exps = generic(filled({B, T, M}, 0.0f), ValueRange{logits, max}, {btm, bt, btm},
                         parallel3, [](OpBuilder &n, Location l, ValueRange x) -> Value {
                           return math::ExpOp::create(n, l, arith::SubFOp::create(n, l, x[0], x[1]));
                         });
    auto sumOver = [&](Value x) {
      return generic(filled({B, T}, 0.0f), x, {btm, bt}, reduceM,
                     [](OpBuilder &n, Location l, ValueRange v) -> Value {
                       return arith::AddFOp::create(n, l, v[1], v[0]);
                     });
    };
    auto divide = [&](Value x, Value by) {
      return generic(filled({B, T, M}, 0.0f), ValueRange{x, by}, {btm, bt, btm}, parallel3,
                     [](OpBuilder &n, Location l, ValueRange v) -> Value {
                       return arith::DivFOp::create(n, l, v[0], v[1]);
                     });
    };
    Value probabilities = divide(exps, sumOver(exps));
    // rank[m] = #{n : p_n > p_m, or p_n = p_m and n < m}; memory m is routed when rank < k.
    SmallVector<float> indices(M);
    for (int64_t m = 0; m < M; ++m)
      indices[m] = float(m);
    auto indexType = RankedTensorType::get({M}, f32);
    Value index = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(indexType, ArrayRef(indices)));
    Value rank = generic(
        filled({B, T, M}, 0.0f), ValueRange{probabilities, probabilities, index, index},
        {map(4, {0, 1, 2}), map(4, {0, 1, 3}), map(4, {2}), map(4, {3}), map(4, {0, 1, 2})},
        {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
         IteratorType::reduction},
        [&](OpBuilder &n, Location l, ValueRange x) -> Value {
          using P = arith::CmpFPredicate;
          Value one = constant(n, l, 1.0f), zero = constant(n, l, 0.0f);
          Value greater = arith::CmpFOp::create(n, l, P::OGT, x[1], x[0]);
          Value equal = arith::CmpFOp::create(n, l, P::OEQ, x[1], x[0]);
          Value before = arith::CmpFOp::create(n, l, P::OLT, x[3], x[2]);
          Value tieBefore = arith::SelectOp::create(n, l, equal,
                                                    arith::SelectOp::create(n, l, before, one, zero),
                                                    zero);
          Value beats = arith::SelectOp::create(n, l, greater, one, tieBefore);
          return arith::AddFOp::create(n, l, x[4], beats);
        });
    float k = float(topk);
    Value kept = generic(filled({B, T, M}, 0.0f), ValueRange{probabilities, rank}, {btm, btm, btm},
                         parallel3, [&](OpBuilder &n, Location l, ValueRange x) -> Value {
                           Value routed = arith::CmpFOp::create(n, l, arith::CmpFPredicate::OLT,
                                                                x[1], constant(n, l, k));
                           return arith::SelectOp::create(n, l, routed, x[0], constant(n, l, 0.0f));
                         });
    return divide(kept, sumOver(kept));
  }

  /// w[b, t] broadcast over the heads: [B, T, H].
  Value perHead(Value w, int64_t heads) {
    auto type = cast<RankedTensorType>(w.getType());
    int64_t B = type.getDimSize(0), T = type.getDimSize(1);
    return generic(filled({B, T, heads}, 0.0f), w, {map(3, {0, 1}), map(3, {0, 1, 2})},
                   SmallVector<IteratorType>(3, IteratorType::parallel),
                   [](OpBuilder &, Location, ValueRange x) -> Value { return x[0]; });
  }
};
} // namespace

SmallVector<Value> buildMixtureOfMemories(OpBuilder &b, Location loc, const LayerConfig &c,
                                          const LayerShapes &shapes,
                                          function_ref<Value(StringRef)> arg) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t M = c.memories, H = shapes.heads, dk = shapes.keyDim, dv = shapes.valueDim;
  int64_t B = shapes.batch, T = shapes.tokens;
  Router router{b, loc};
  Value weights = router.weights(arg("router_logits"), c.topk);

  // One recurrence: inputs q, then (k, v, g, beta, w) per memory, then the shared memory's.
  SmallVector<Value> inputs = {arg("q")};
  for (int64_t m = 0; m < M; ++m) {
    for (StringRef name : {"k", "v", "g", "beta"})
      inputs.push_back(buildLeadingSlice(b, loc, arg(name), m));
    // w[:, :, m] as [B, T, H]: slice the memory dim off a transposed copy.
    Value column = router.generic(router.filled({B, T}, 0.0f), weights,
                                  {router.map(2, {0, 1}).insertResult(getAffineConstantExpr(m, ctx), 2),
                                   router.map(2, {0, 1})},
                                  {IteratorType::parallel, IteratorType::parallel},
                                  [](OpBuilder &, Location, ValueRange x) -> Value { return x[0]; });
    inputs.push_back(router.perHead(column, H));
  }
  if (c.sharedMemory)
    for (StringRef name : {"k_shared", "v_shared", "g_shared", "beta_shared"})
      inputs.push_back(arg(name));

  // Initial states: every memory's, then the shared one's, zeros where not given (the inits
  // are a prefix of the states).
  auto stateTensor = RankedTensorType::get({B, H, dk, dv}, f32);
  Value initial = arg("initial_state"), initialShared = arg("initial_state_shared");
  SmallVector<Value> inits;
  if (initial || initialShared) {
    Value zeros = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(stateTensor, 0.0f));
    for (int64_t m = 0; m < M; ++m)
      inits.push_back(initial ? buildLeadingSlice(b, loc, initial, m) : zeros);
    if (c.sharedMemory)
      inits.push_back(initialShared ? initialShared : zeros);
  }

  int64_t numStates = M + (c.sharedMemory ? 1 : 0);
  SmallVector<Type> resultTypes = {RankedTensorType::get({B, T, H, dv}, f32)};
  resultTypes.append(numStates, stateTensor);
  auto rec = RecurrenceOp::create(b, loc, resultTypes, inputs, ValueRange{}, inits, Value());
  {
    OpBuilder::InsertionGuard guard(b);
    Block *body = b.createBlock(&rec.getBody());
    auto stateType = StateType::get(ctx, {dk, dv}, f32);
    auto keyType = VectorType::get({dk}, f32), valueType = VectorType::get({dv}, f32);
    SmallVector<Value> states;
    for (int64_t s = 0; s < numStates; ++s)
      states.push_back(body->addArgument(stateType, loc));
    Value q = body->addArgument(keyType, loc);
    b.setInsertionPointToStart(body);
    FloatAttr scale = b.getF64FloatAttr(c.scale);
    // The gated delta rule on one memory: decay, delta, write.
    auto update = [&](Value S, Value k, Value g, Value beta, Value v) {
      Value decayed = DecayOp::create(b, loc, stateType, S, g, DecayAxisAttr());
      Value corrected = DeltaOp::create(b, loc, stateType, decayed, k, beta);
      return WriteOp::create(b, loc, stateType, corrected, k, v, beta, Value()).getResult();
    };
    SmallVector<Value> finals;
    Value o;
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value zeroKey = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(keyType, 0.0f));
    Value zeroValue =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(valueType, 0.0f));
    for (int64_t m = 0; m < M; ++m) {
      Value k = body->addArgument(keyType, loc), v = body->addArgument(valueType, loc);
      Value g = body->addArgument(f32, loc), beta = body->addArgument(f32, loc);
      Value w = body->addArgument(f32, loc);
      // An unrouted token neither decays nor writes: with g = 0 and β = 0 the gated delta
      // step is the identity. Selected rather than multiplied, so that its (arbitrary) k, v,
      // g, β never reach the state, NaN included; and a step with per-token gates keeps the
      // recurrence chunked (a select of whole states would make it a scan).
      Value routed = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, w, zero);
      auto ifRouted = [&](Value x, Value otherwise) {
        return arith::SelectOp::create(b, loc, routed, x, otherwise).getResult();
      };
      Value S = update(states[m], ifRouted(k, zeroKey), ifRouted(g, zero),
                       ifRouted(beta, zero), ifRouted(v, zeroValue));
      finals.push_back(S);
      Value read = ReadOp::create(b, loc, valueType, S, q, scale, IntegerAttr());
      Value weighted = arith::MulFOp::create(b, loc, read,
                                             vector::BroadcastOp::create(b, loc, valueType, w));
      o = o ? arith::AddFOp::create(b, loc, o, weighted).getResult() : weighted;
    }
    if (c.sharedMemory) {
      Value k = body->addArgument(keyType, loc), v = body->addArgument(valueType, loc);
      Value g = body->addArgument(f32, loc), beta = body->addArgument(f32, loc);
      Value S = update(states[M], k, g, beta, v);
      finals.push_back(S);
      o = arith::AddFOp::create(b, loc, o, ReadOp::create(b, loc, valueType, S, q, scale, IntegerAttr()));
    }
    YieldOp::create(b, loc, finals, ValueRange{o});
  }
  SmallVector<Value> memories;
  for (int64_t m = 0; m < M; ++m)
    memories.push_back(rec.getResult(1 + m));
  SmallVector<Value> results = {rec.getResult(0), buildStack(b, loc, memories)};
  if (c.sharedMemory)
    results.push_back(rec.getResult(1 + M));
  return results;
}

} // namespace linrec
