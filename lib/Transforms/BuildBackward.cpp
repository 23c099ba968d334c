//===- BuildBackward.cpp - a layer function's backward, derived from its ops ===//
//
// For @f the pass writes @f_backward: f's arguments and one cotangent per result in, one
// gradient per float argument out (L = Σ ⟨cotangent, result⟩). The forward is recomputed in
// it and the ops' adjoints follow in reverse order.
//
// A recurrence's adjoint is itself linrec recurrences, which every target then compiles into
// its chunked kernels. For a state S_t = D_t(S_{t−1}) + β_t k_t v_tᵀ read as o_t = S_tᵀ(s q_t)
// (D_t: scalar, key- and value-axis decays e^{g}), with R_t the cotangent of S_t:
//
//   dq_t = s S_t do_t                  a forward recurrence on Sᵀ, read with do
//   R_t  = D_{t+1}(R_{t+1}) + s q_t do_tᵀ,  R at the end = the final state's cotangent
//   dv_t = β_t R_tᵀ k_t,  dk_t = β_t R_t v_t,  dβ_t = k_tᵀ R_t v_t
//                                      reverse recurrences on R and Rᵀ, D delayed one token
//   dS_0 = D_0(R_0)                    a second reverse state that applies D_t undelayed
//   dg_t = Σ_{s ≥ t} (q_s ⊙ dq_s − k_s ⊙ dk_s)  (key axis; values: o ⊙ do − v ⊙ dv;
//          scalar: summed), plus Σ S_T ⊙ dS_T   a reverse cumulative sum, itself a recurrence
//
// (DESIGN.md §2, the scaling identity: q enters as q e^{B}, k as k e^{−B}.) Bodies outside
// this form are a clear error naming the op; the reference adjoint covers them meanwhile.
//
//===----------------------------------------------------------------------===//

#include "RecurrenceRewrite.h"
#include "TokenAdjoint.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECBUILDBACKWARD
#include "linrec/Transforms/Passes.h.inc"
} // namespace linrec

using namespace mlir;
using namespace linrec;

//===----------------------------------------------------------------------===//
// Tensor-level pieces: zeros, sums, transposes and reductions of states
//===----------------------------------------------------------------------===//

static Value zerosLike(OpBuilder &b, Location loc, Type type) {
  auto tensor = cast<RankedTensorType>(type);
  Value empty = tensor::EmptyOp::create(b, loc, tensor.getShape(), tensor.getElementType());
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(tensor.getElementType()));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

/// A linalg.generic producing `resultType` from `inputs` read through `maps` (the result's
/// map is the identity of `resultType`'s rank plus `reduced` trailing reduction loops).
static Value buildGeneric(OpBuilder &b, Location loc, RankedTensorType resultType,
                          ValueRange inputs, ArrayRef<AffineMap> maps, unsigned reduced,
                          function_ref<Value(OpBuilder &, Location, ValueRange)> payload) {
  unsigned rank = resultType.getRank(), loops = rank + reduced;
  // The result takes the leading `rank` loops: the reductions run innermost.
  SmallVector<AffineMap> all(maps);
  all.push_back(AffineMap::getMultiDimIdentityMap(loops, b.getContext()).getMajorSubMap(rank));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators.append(reduced, utils::IteratorType::reduction);
  Value init = reduced ? zerosLike(b, loc, resultType)
                       : tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                                 resultType.getElementType())
                             .getResult();
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{init}, all, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value value = payload(nb, nloc, args);
               linalg::YieldOp::create(nb, nloc, value);
             })
      .getResult(0);
}

static AffineMap dimsMap(unsigned loops, ArrayRef<unsigned> dims, MLIRContext *ctx) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(loops, 0, exprs, ctx);
}

static Value add(OpBuilder &b, Location loc, Value x, Value y) {
  auto type = cast<RankedTensorType>(x.getType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  return buildGeneric(b, loc, type, {x, y}, {id, id}, 0,
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        return arith::AddFOp::create(nb, l, a[0], a[1]).getResult();
                      });
}

static RankedTensorType transposedStatesType(Type states) {
  auto type = cast<RankedTensorType>(states);
  auto shape = type.getShape();
  return RankedTensorType::get({shape[0], shape[1], shape[3], shape[2]}, type.getElementType());
}

/// [N, H, a, b] -> [N, H, b, a].
static Value transposeStates(OpBuilder &b, Location loc, Value x) {
  RankedTensorType resultType = transposedStatesType(x.getType());
  return buildGeneric(b, loc, resultType, {x}, {dimsMap(4, {0, 1, 3, 2}, b.getContext())}, 0,
                      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

/// Σ S ⊙ dS over the state axes not in `kept` (0: key, 1: value), as an [N, H, 1, n]
/// tensor (n the kept axis' size, 1 when none is kept): the initial state of a cumulative sum.
/// S comes transposed ([N, H, dv, dk]: the final state of the dq recurrence).
static Value stateProductSum(OpBuilder &b, Location loc, Value St, Value dS,
                             std::optional<unsigned> kept) {
  auto type = cast<RankedTensorType>(dS.getType());
  auto shape = type.getShape();
  MLIRContext *ctx = b.getContext();
  int64_t n = kept ? shape[2 + *kept] : 1;
  auto resultType = RankedTensorType::get({shape[0], shape[1], 1, n}, type.getElementType());
  // Loops: (row, head, one, kept, reduced...) with the state indexed by (row, head, i, j).
  SmallVector<unsigned> stateDims;
  unsigned reduced;
  if (!kept) {
    stateDims = {0, 1, 4, 5};
    reduced = 2;
  } else {
    stateDims = *kept == 0 ? SmallVector<unsigned>{0, 1, 3, 4} : SmallVector<unsigned>{0, 1, 4, 3};
    reduced = 1;
  }
  AffineMap map = dimsMap(4 + reduced, stateDims, ctx);
  AffineMap transposed =
      dimsMap(4 + reduced, {stateDims[0], stateDims[1], stateDims[3], stateDims[2]}, ctx);
  return buildGeneric(b, loc, resultType, {St, dS}, {transposed, map}, reduced,
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                        return arith::AddFOp::create(nb, l, a[2], p).getResult();
                      });
}

/// [N, H, n, 1] -> [N, H, n]: a matrix with one column as the vector it holds (a
/// normalizer's states, the initial normalizer of a scalar cumulative sum).
static Value dropUnitDim(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  auto resultType = RankedTensorType::get(type.getShape().drop_back(), type.getElementType());
  MLIRContext *ctx = b.getContext();
  AffineMap map = AffineMap::get(3, 0,
                                 {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx),
                                  getAffineDimExpr(2, ctx), getAffineConstantExpr(0, ctx)},
                                 ctx);
  return buildGeneric(b, loc, resultType, {x}, {map}, 0,
                      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

/// [N, H, n] -> [N, H, n, 1]: normalizer states as the one-column matrices z 1ᵀ.
static Value appendUnitDim(OpBuilder &b, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape.push_back(1);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return buildGeneric(b, loc, resultType, {x}, {dimsMap(4, {0, 1, 2}, b.getContext())}, 0,
                      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

//===----------------------------------------------------------------------===//
// Building recurrences
//===----------------------------------------------------------------------===//

namespace {
/// A recurrence to build: its inputs (token tensors, each with a delay), one init per state.
struct RecurrenceSpec {
  SmallVector<Value> inputs, params;
  SmallVector<int64_t> delays;
  SmallVector<StateType> states;
  SmallVector<Value> inits;
  bool reverse = false;

  unsigned input(Value tensor, int64_t delay = 0) {
    inputs.push_back(tensor);
    delays.push_back(delay);
    return inputs.size() - 1;
  }
  unsigned param(Value tensor) {
    params.push_back(tensor);
    return params.size() - 1;
  }
};

/// The body of a recurrence under construction: its state and input arguments.
struct Body {
  OpBuilder &b;
  Location loc;
  ArrayRef<BlockArgument> states, inputs, params;
  SmallVector<Value> yieldedStates, outputs;

  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value zero(Type type) {
    if (auto vector = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vector, 0.0f));
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  }
  /// A constant 1-vector of ones: the value a normalizer's write adds with (z + β k = S + β k 1ᵀ).
  Value ones(int64_t n) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(VectorType::get({n}, b.getF32Type()), 1.0f));
  }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value splat(Value scalar, Type like) {
    return scalar.getType() == like ? scalar : vector::BroadcastOp::create(b, loc, like, scalar);
  }
  Value scaled(Value x, double scale) {
    if (scale == 1.0)
      return x;
    auto type = cast<VectorType>(x.getType());
    Value s = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getF32FloatAttr(static_cast<float>(scale))));
    return mul(x, s);
  }
  Value sum(Value x) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, x);
  }
  Value exp(Value x) { return math::ExpOp::create(b, loc, x); }
  Value decay(Value S, Value g, std::optional<DecayAxis> axis) {
    DecayAxisAttr attr = axis ? DecayAxisAttr::get(b.getContext(), *axis) : DecayAxisAttr();
    return DecayOp::create(b, loc, S.getType(), S, g, attr);
  }
  Value write(Value z, Value k) { // a normalizer: z + k
    return WriteOp::create(b, loc, z.getType(), z, k, Value(), Value(), Value());
  }
  Value write(Value S, Value k, Value v, Value beta = {}) {
    return WriteOp::create(b, loc, S.getType(), S, k, v, beta, Value());
  }
  Value read(Value S, Value q, double scale = 1.0) {
    auto type = cast<StateType>(S.getType());
    Type result = type.isMatrix() ? Type(VectorType::get({type.getValueDim()}, b.getF32Type()))
                                  : b.getF32Type();
    FloatAttr scaleAttr = scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(scale);
    return ReadOp::create(b, loc, result, S, q, scaleAttr, IntegerAttr());
  }
};
} // namespace

/// Builds the recurrence `spec` describes; `body` fills its step. Outputs are [B, T, H(, D)]
/// like `tokens`, final states [N, H, ...] like the inits.
static RecurrenceOp buildRecurrence(OpBuilder &b, Location loc, RecurrenceSpec &spec,
                                    RankedTensorType tokens, Value cuSeqlens,
                                    function_ref<void(Body &)> fill) {
  MLIRContext *ctx = b.getContext();
  // The body is built in a result-less op first (ops need a parent), then moved into the
  // recurrence once its outputs give the result types.
  auto scratch = RecurrenceOp::create(b, loc, TypeRange{}, spec.inputs, spec.params,
                                      spec.inits, cuSeqlens);
  auto *block = new Block();
  scratch.getBody().push_back(block);
  for (StateType state : spec.states)
    block->addArgument(state, loc);
  for (Value input : spec.inputs)
    block->addArgument(tokenType(input.getType()), loc);
  for (Value param : spec.params)
    block->addArgument(paramType(param.getType()), loc);
  OpBuilder bb = OpBuilder::atBlockBegin(block);
  auto arguments = block->getArguments();
  unsigned numStates = spec.states.size(), numInputs = spec.inputs.size();
  Body body{bb, loc, arguments.take_front(numStates),
            arguments.slice(numStates, numInputs), arguments.drop_front(numStates + numInputs)};
  fill(body);
  YieldOp::create(bb, loc, body.yieldedStates, body.outputs);

  SmallVector<Type> resultTypes;
  Type f32 = b.getF32Type();
  for (Value out : body.outputs) {
    SmallVector<int64_t> shape = {tokens.getDimSize(0), tokens.getDimSize(1), tokens.getDimSize(2)};
    if (auto vector = dyn_cast<VectorType>(out.getType()))
      shape.push_back(vector.getDimSize(0));
    resultTypes.push_back(RankedTensorType::get(shape, f32));
  }
  for (Value init : spec.inits)
    resultTypes.push_back(init.getType());
  auto op = RecurrenceOp::create(b, loc, resultTypes, spec.inputs, spec.params, spec.inits,
                                 cuSeqlens);
  op.getBody().takeBody(scratch.getBody());
  scratch.erase();
  if (llvm::any_of(spec.delays, [](int64_t d) { return d != 0; }))
    op.setDelaysAttr(DenseI64ArrayAttr::get(ctx, spec.delays));
  if (spec.reverse)
    op.setReverseAttr(UnitAttr::get(ctx));
  return op;
}

//===----------------------------------------------------------------------===//
// The adjoint of one recurrence
//===----------------------------------------------------------------------===//

namespace {
/// Adjoints of the values of the function being differentiated.
struct Adjoints {
  DenseMap<Value, Value> map;
  /// Values used as log-decays or betas: their gradients carry cumulative sums and
  /// cancellations (f32 error about ten times that of q, k, v).
  DenseSet<Value> gates;
  void add(OpBuilder &b, Location loc, Value forward, Value contribution) {
    Value &slot = map[forward];
    slot = slot ? ::add(b, loc, slot, contribution) : contribution;
  }
  Value get(OpBuilder &b, Location loc, Value forward) {
    auto it = map.find(forward);
    return it != map.end() ? it->second : zerosLike(b, loc, forward.getType());
  }
};

/// One state of a recurrence in the form the adjoint is derived for: its drivers are values
/// of the forward body (body arguments, or computed from them per token).
struct StateForm {
  StateType type;
  SmallVector<Value> scalarDecays, keyDecays, valueDecays;
  Value key, value, beta, query;
  ReadOp read;
  double scale = 1.0;
  /// Per token: the cotangent of the read (its output's, or what the outputs computed from
  /// the reads give it), and for value-axis decays the read times it.
  Value readCotangent, readTimesCotangent;
};

/// The per-token computation of some drivers in the forward body: its ops in body order and
/// the body arguments (inputs, params) it reads.
struct TokenSlice {
  SmallVector<Operation *> ops;
  SmallVector<BlockArgument> args;
};

/// Where a slice's arguments went in a backward recurrence (input or param indices).
struct SliceOperands {
  SmallVector<std::pair<BlockArgument, unsigned>> inputs, params;
};

/// A slice cloned into a backward body: forward values to their clones, and the cloned ops.
struct ClonedSlice {
  IRMapping map;
  SmallVector<Operation *> ops;
  Value operator[](Value forward) const { return map.lookup(forward); }
};

class RecurrenceAdjoint {
public:
  RecurrenceAdjoint(OpBuilder &b, RecurrenceOp op, Adjoints &adjoints)
      : b(b), loc(op.getLoc()), op(op), adjoints(adjoints),
        tokens(cast<RankedTensorType>(op.getInputs()[0].getType())) {}

  LogicalResult run() {
    SmallVector<StateForm, 2> forms;
    if (failed(analyze(forms)) || failed(readCotangents(forms)))
      return failure();
    for (auto [index, form] : llvm::enumerate(forms))
      if (failed(deriveState(index, form)))
        return failure();
    return success();
  }

private:
  OpBuilder &b;
  Location loc;
  RecurrenceOp op;
  Adjoints &adjoints;
  RankedTensorType tokens;

  InFlightDiagnostic unsupported(Operation *at, const Twine &why) {
    return at->emitOpError("has no derived backward yet: ") << why;
  }

  static bool isStateOp(Operation &op) {
    return isa<DecayOp, DeltaOp, WriteOp, ReadOp, ReadProductOp, SelectOp, WindowReadOp,
               YieldOp>(op);
  }

  /// The body as states of decays, one write and one read each (matrix states and
  /// normalizers); drivers computed per token from body arguments only (never from a read);
  /// outputs the reads, or computed per token from them and the drivers.
  LogicalResult analyze(SmallVectorImpl<StateForm> &forms) {
    if (op.getHeadsNormEps())
      return unsupported(op, "a norm over heads fused into the recurrence");
    if (llvm::any_of(op.getDelays().value_or(ArrayRef<int64_t>{}),
                     [](int64_t d) { return d != 0; }))
      return unsupported(op, "delayed inputs");
    for (Operation &bodyOp : op.getBodyBlock()) {
      if (auto write = dyn_cast<WriteOp>(bodyOp); write && write.getMask())
        return unsupported(write, "a masked write");
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getBlockStart())
        return unsupported(read, "a block-start read");
      if (isStateOp(bodyOp) && !isa<DecayOp, WriteOp, ReadOp, YieldOp>(bodyOp))
        return unsupported(&bodyOp, "only decays, plain writes and reads have a derived "
                                    "backward so far");
    }
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
    if (analysis.algorithm == Algorithm::Sequential && !analysis.reason.empty())
      return unsupported(op, analysis.reason);
    YieldOp yield = op.getYield();
    for (const StateUpdate &update : analysis.states) {
      StateForm form;
      form.type = update.type;
      if (update.delta || !update.key)
        return unsupported(op, "a delta rule, or a state never written");
      if (update.reads.size() != 1 || !update.productReads.empty())
        return unsupported(op, "a state read other than once");
      form.read = update.reads.front();
      if (form.read.getState() != yield.getStates()[update.index])
        return unsupported(form.read, "a read before the state's last update");
      form.scale = form.read.getScale() ? form.read.getScale()->convertToDouble() : 1.0;
      form.key = update.key;
      form.value = update.value;
      form.beta = update.beta;
      form.query = form.read.getQuery();
      form.scalarDecays.assign(update.scalarDecays.begin(), update.scalarDecays.end());
      form.keyDecays.assign(update.keyDecays.begin(), update.keyDecays.end());
      form.valueDecays.assign(update.valueDecays.begin(), update.valueDecays.end());
      forms.push_back(form);
    }
    return success();
  }

  /// The body's per-token ops (not state ops) in order.
  SmallVector<Operation *> tokenOps() {
    SmallVector<Operation *> ops;
    for (Operation &bodyOp : op.getBodyBlock())
      if (!isStateOp(bodyOp))
        ops.push_back(&bodyOp);
    return ops;
  }

  /// The cotangent of each read per token. When the outputs are the reads themselves it is
  /// the outputs' cotangents; otherwise a forward recurrence (the body again) carries the
  /// outputs' cotangents back through the ops computed from the reads (a normalizer's
  /// division, output gates), and the inputs those ops read get their gradients there.
  LogicalResult readCotangents(MutableArrayRef<StateForm> forms) {
    YieldOp yield = op.getYield();
    bool direct = llvm::all_of(forms, [&](StateForm &f) {
      return llvm::count(yield.getOutputs(), f.read.getResult()) == 1;
    }) && forms.size() == yield.getOutputs().size();
    if (direct) {
      for (StateForm &form : forms) {
        unsigned j = llvm::find(yield.getOutputs(), form.read.getResult()) -
                     yield.getOutputs().begin();
        form.readCotangent = adjoints.get(b, loc, op.getOutputs()[j]);
        if (!form.valueDecays.empty())
          form.readTimesCotangent = multiply(op.getOutputs()[j], form.readCotangent);
      }
      return success();
    }
    RecurrenceSpec spec;
    for (Value input : op.getInputs())
      spec.input(input);
    for (Value param : op.getParams())
      spec.param(param);
    for (auto [i, state] : llvm::enumerate(op.getFinalStates())) {
      spec.states.push_back(cast<StateType>(op.getStateArgs()[i].getType()));
      spec.inits.push_back(i < op.getInits().size() ? op.getInits()[i]
                                                    : zerosLike(b, loc, state.getType()));
    }
    SmallVector<unsigned> outputCotangents;
    for (Value output : op.getOutputs())
      outputCotangents.push_back(spec.input(adjoints.get(b, loc, output)));
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    SmallVector<unsigned> readOutputs, productOutputs;
    LogicalResult status = success();
    RecurrenceOp reads = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      IRMapping map;
      unsigned numStates = op.getNumStates();
      for (auto [i, arg] : llvm::enumerate(op.getStateArgs()))
        map.map(arg, body.states[i]);
      for (auto [i, arg] : llvm::enumerate(op.getInputArgs()))
        map.map(arg, body.inputs[i]);
      for (auto [i, arg] : llvm::enumerate(op.getParamArgs()))
        map.map(arg, body.params[i]);
      SmallVector<Operation *> cloned;
      for (Operation &forward : op.getBodyBlock().without_terminator()) {
        Operation *copy = body.b.clone(forward, map);
        if (!isStateOp(forward))
          cloned.push_back(copy);
      }
      DenseMap<Value, Value> cotangents;
      for (auto [j, output] : llvm::enumerate(yield.getOutputs())) {
        Value seed = body.inputs[outputCotangents[j]];
        Value &slot = cotangents[map.lookup(output)];
        slot = slot ? body.add(slot, seed) : seed;
      }
      // Reads are not in `cloned`: their cotangents stay in the map.
      if (failed(emitTokenAdjoint(body.b, loc, cloned, cotangents)))
        return void(status = failure());
      for (StateForm &form : forms) {
        Value read = map.lookup(form.read.getResult());
        auto it = cotangents.find(read);
        Value dr = it != cotangents.end() ? it->second : body.zero(read.getType());
        readOutputs.push_back(body.outputs.size());
        body.outputs.push_back(dr);
        productOutputs.push_back(body.outputs.size());
        if (!form.valueDecays.empty())
          body.outputs.push_back(body.mul(read, dr));
      }
      for (auto [i, arg] : llvm::enumerate(op.getInputArgs()))
        if (auto it = cotangents.find(map.lookup(arg)); it != cotangents.end()) {
          gradients.push_back({arg, static_cast<unsigned>(body.outputs.size())});
          body.outputs.push_back(it->second);
        }
      for (auto [i, arg] : llvm::enumerate(op.getParamArgs()))
        if (auto it = cotangents.find(map.lookup(arg)); it != cotangents.end()) {
          gradients.push_back({arg, static_cast<unsigned>(body.outputs.size())});
          body.outputs.push_back(it->second);
        }
      for (Value state : yield.getStates())
        body.yieldedStates.push_back(map.lookup(state));
      (void)numStates;
    });
    if (failed(status) || failed(addGradients(reads, gradients, false)))
      return failure();
    for (auto [i, form] : llvm::enumerate(forms)) {
      form.readCotangent = reads.getResult(readOutputs[i]);
      if (!form.valueDecays.empty())
        form.readTimesCotangent = reads.getResult(productOutputs[i]);
    }
    return success();
  }

  Value multiply(Value x, Value y) {
    auto type = cast<RankedTensorType>(x.getType());
    AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
    return buildGeneric(b, loc, type, {x, y}, {id, id}, 0,
                        [](OpBuilder &nb, Location l, ValueRange a) {
                          return arith::MulFOp::create(nb, l, a[0], a[1]).getResult();
                        });
  }

  //===--------------------------------------------------------------------===//
  // Slices of the forward body, cloned into backward bodies
  //===--------------------------------------------------------------------===//

  TokenSlice sliceOf(ArrayRef<Value> roots) {
    llvm::SetVector<Operation *> ops;
    llvm::SetVector<BlockArgument> args;
    SmallVector<Value> worklist;
    for (Value root : roots)
      if (root)
        worklist.push_back(root);
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (auto arg = dyn_cast<BlockArgument>(v)) {
        args.insert(arg);
        continue;
      }
      Operation *def = v.getDefiningOp();
      if (!ops.insert(def))
        continue;
      llvm::append_range(worklist, def->getOperands());
    }
    TokenSlice slice;
    slice.ops.assign(ops.begin(), ops.end());
    llvm::sort(slice.ops, [](Operation *x, Operation *y) { return x->isBeforeInBlock(y); });
    slice.args.assign(args.begin(), args.end());
    llvm::sort(slice.args, [](BlockArgument x, BlockArgument y) {
      return x.getArgNumber() < y.getArgNumber();
    });
    return slice;
  }

  /// A driver that is a token input of the forward itself (not a param, not computed).
  bool isRawInput(Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && arg.getArgNumber() >= op.getNumStates() && !isParam(arg);
  }
  bool isParam(BlockArgument arg) {
    return arg.getArgNumber() >= op.getNumStates() + op.getInputs().size();
  }
  Value operandOf(BlockArgument arg) {
    unsigned n = arg.getArgNumber() - op.getNumStates();
    return n < op.getInputs().size() ? op.getInputs()[n] : op.getParams()[n - op.getInputs().size()];
  }

  /// Adds a slice's arguments to `spec`: inputs as token tensors (undelayed), params as params.
  SliceOperands addSlice(RecurrenceSpec &spec, const TokenSlice &slice) {
    SliceOperands operands;
    for (BlockArgument arg : slice.args) {
      if (isParam(arg))
        operands.params.push_back({arg, spec.param(operandOf(arg))});
      else
        operands.inputs.push_back({arg, spec.input(operandOf(arg))});
    }
    return operands;
  }

  static ClonedSlice cloneSlice(Body &body, const TokenSlice &slice,
                                const SliceOperands &operands) {
    ClonedSlice cloned;
    for (auto [arg, i] : operands.inputs)
      cloned.map.map(arg, body.inputs[i]);
    for (auto [arg, i] : operands.params)
      cloned.map.map(arg, body.params[i]);
    for (Operation *forward : slice.ops)
      cloned.ops.push_back(body.b.clone(*forward, cloned.map));
    return cloned;
  }

  /// Carries `seeds` (cotangents of cloned drivers) back through the cloned slice and
  /// outputs each argument's cotangent; returns (forward argument, output index) pairs.
  /// Fails where a per-token op has no adjoint rule.
  FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>>
  sliceGradients(Body &body, const TokenSlice &slice, const ClonedSlice &cloned,
                 ArrayRef<std::pair<Value, Value>> seeds) {
    DenseMap<Value, Value> cotangents;
    for (auto [value, cotangent] : seeds) {
      Value &slot = cotangents[value];
      slot = slot ? arith::AddFOp::create(body.b, loc, slot, cotangent).getResult() : cotangent;
    }
    if (failed(emitTokenAdjoint(body.b, loc, cloned.ops, cotangents)))
      return failure();
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    for (BlockArgument arg : slice.args) {
      auto it = cotangents.find(cloned[arg]);
      if (it == cotangents.end())
        continue;
      // An output already (a driver that is an input itself) is not yielded twice.
      auto existing = llvm::find(body.outputs, it->second);
      gradients.push_back({arg, static_cast<unsigned>(existing - body.outputs.begin())});
      if (existing == body.outputs.end())
        body.outputs.push_back(it->second);
    }
    return gradients;
  }

  /// Adds the gradients a backward recurrence outputs to the forward operands' adjoints. A
  /// per-head parameter gets none when it is a constant (a lightning layer's decays).
  LogicalResult addGradients(RecurrenceOp backward,
                             ArrayRef<std::pair<BlockArgument, unsigned>> gradients, bool gate) {
    for (auto [arg, index] : gradients) {
      Value operand = operandOf(arg);
      if (isParam(arg)) {
        if (operand.getDefiningOp<arith::ConstantOp>())
          continue;
        return unsupported(op, "a gradient for a per-head parameter that is not a constant");
      }
      if (gate)
        adjoints.gates.insert(operand);
      adjoints.add(b, loc, operand, backward.getResult(index));
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // The backward recurrences of one state
  //===--------------------------------------------------------------------===//

  /// Applies the decays (cloned values, in form order) to S, with the key and value axes
  /// exchanged when the state is transposed.
  static Value applyDecays(Body &body, Value S, ArrayRef<Value> scalar, ArrayRef<Value> key,
                           ArrayRef<Value> value, bool transposed) {
    for (Value a : scalar)
      S = body.decay(S, a, std::nullopt);
    for (Value g : key)
      S = body.decay(S, g, transposed ? DecayAxis::Value : DecayAxis::Key);
    for (Value g : value)
      S = body.decay(S, g, transposed ? DecayAxis::Key : DecayAxis::Value);
    return S;
  }
  /// Outputs x ⊙ dx (for key-axis gates) and Σ x ⊙ dx (for scalar ones), the terms of the
  /// scaling identity; returns the first's index.
  static unsigned gateTerms(Body &body, Value x, Value dx, bool keyGates, bool scalarGates) {
    unsigned first = body.outputs.size();
    Value product = body.mul(x, dx);
    if (keyGates)
      body.outputs.push_back(product);
    if (scalarGates)
      body.outputs.push_back(body.sum(product));
    return first;
  }
  static SmallVector<Value> lookup(const ClonedSlice &cloned, ArrayRef<Value> forward) {
    return llvm::map_to_vector(forward, [&](Value v) { return cloned[v]; });
  }
  static SmallVector<Value> args(Body &body, ArrayRef<unsigned> indices) {
    return llvm::map_to_vector(indices, [&](unsigned i) { return Value(body.inputs[i]); });
  }

  LogicalResult deriveState(unsigned index, const StateForm &form) {
    MLIRContext *ctx = b.getContext();
    Value cuSeqlens = op.getCuSeqlens();
    // A normalizer z is the matrix z 1ᵀ (dv = 1, every value 1): one derivation for both.
    bool normalizer = !form.type.isMatrix();
    int64_t dk = form.type.getKeyDim(), dv = form.type.getValueDim();
    Type f32 = b.getF32Type();
    StateType matrix = StateType::get(ctx, {dk, dv}, f32);
    StateType transposed = StateType::get(ctx, {dv, dk}, f32);
    auto asMatrix = [&](Value states) { return normalizer ? appendUnitDim(b, loc, states) : states; };
    Value finalState = op.getFinalStates()[index];
    Value dO = form.readCotangent;
    Value dST = asMatrix(adjoints.get(b, loc, finalState));
    Value init = index < op.getInits().size() ? op.getInits()[index] : Value();
    // Per token in a body: the read's cotangent as a dv-vector, the written value.
    auto cotangentRow = [&](Body &body, Value dr) {
      return normalizer ? body.splat(dr, VectorType::get({1}, f32)) : dr;
    };
    auto valueRow = [&](Body &body, const ClonedSlice &x) {
      return normalizer ? body.ones(1) : x[form.value];
    };
    bool scalarGates = !form.scalarDecays.empty(), keyGates = !form.keyDecays.empty(),
         valueGates = !form.valueDecays.empty();
    SmallVector<Value> decays;
    llvm::append_range(decays, form.scalarDecays);
    llvm::append_range(decays, form.keyDecays);
    llvm::append_range(decays, form.valueDecays);
    auto splitDecays = [&](ArrayRef<Value> all) {
      size_t s = form.scalarDecays.size(), k = form.keyDecays.size();
      return std::make_tuple(all.take_front(s), all.slice(s, k), all.drop_front(s + k));
    };
    // The drivers, computed per token in each backward body from the forward's inputs.
    TokenSlice drivers = sliceOf({form.query, form.key, form.value, form.beta});
    TokenSlice all = sliceOf(llvm::to_vector(llvm::concat<Value>(
        SmallVector<Value>{form.query, form.key, form.value},
        form.beta ? SmallVector<Value>{form.beta} : SmallVector<Value>{}, decays)));

    // dq = s S do: the forward state, transposed, read with the output's cotangent. It also
    // gives each decay per token, for the reverse recurrences to read one token late.
    RecurrenceSpec dqSpec;
    dqSpec.states = {transposed};
    dqSpec.inits = {init ? transposeStates(b, loc, asMatrix(init))
                         : zerosLike(b, loc, transposedStatesType(dST.getType()))};
    unsigned dqDo = dqSpec.input(dO);
    SliceOperands dqOperands = addSlice(dqSpec, all);
    SmallVector<std::pair<BlockArgument, unsigned>> dqGradients;
    unsigned dqGateTerms = 0, dqDecayValues = 0;
    LogicalResult status = success();
    RecurrenceOp dqOp = buildRecurrence(b, loc, dqSpec, tokens, cuSeqlens, [&](Body &body) {
      ClonedSlice x = cloneSlice(body, all, dqOperands);
      auto [scalar, key, value] = splitDecays(lookup(x, decays));
      Value S = applyDecays(body, body.states[0], scalar, key, value, true);
      S = body.write(S, valueRow(body, x), x[form.key], form.beta ? x[form.beta] : Value());
      Value dq = body.read(S, cotangentRow(body, body.inputs[dqDo]), form.scale);
      body.yieldedStates = {S};
      FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>> gradients =
          sliceGradients(body, all, x, {{x[form.query], dq}});
      if (failed(gradients))
        return void(status = failure());
      dqGradients = std::move(*gradients);
      dqGateTerms = gateTerms(body, x[form.query], dq, keyGates, scalarGates);
      dqDecayValues = body.outputs.size();
      for (Value g : decays)
        if (!isRawInput(g))
          body.outputs.push_back(x[g]);
    });
    if (failed(status) || failed(addGradients(dqOp, dqGradients, false)))
      return failure();
    // Each decay as a token tensor (an input itself, or the per-token values dq computed).
    SmallVector<Value> decayTensors;
    for (Value g : decays)
      decayTensors.push_back(isRawInput(g) ? operandOf(cast<BlockArgument>(g))
                                           : dqOp.getResult(dqDecayValues++));
    auto addDelayedDecays = [&](RecurrenceSpec &spec) {
      return llvm::map_to_vector(decayTensors, [&](Value t) { return spec.input(t, 1); });
    };

    // dk = β R v (and dβ = kᵀ R v): the reverse cotangent state, transposed, read with v.
    RecurrenceSpec dkSpec;
    dkSpec.reverse = true;
    dkSpec.states = {transposed};
    dkSpec.inits = {transposeStates(b, loc, dST)};
    unsigned dkDo = dkSpec.input(dO);
    SliceOperands dkOperands = addSlice(dkSpec, drivers);
    SmallVector<unsigned> dkDecays = addDelayedDecays(dkSpec);
    SmallVector<std::pair<BlockArgument, unsigned>> dkGradients;
    unsigned dkGateTerms = 0;
    RecurrenceOp dkOp = buildRecurrence(b, loc, dkSpec, tokens, cuSeqlens, [&](Body &body) {
      ClonedSlice x = cloneSlice(body, drivers, dkOperands);
      auto [scalar, key, value] = splitDecays(args(body, dkDecays));
      Value R = applyDecays(body, body.states[0], scalar, key, value, true);
      R = body.write(R, cotangentRow(body, body.inputs[dkDo]),
                     body.scaled(x[form.query], form.scale));
      Value u = body.read(R, valueRow(body, x));
      Value beta = form.beta ? x[form.beta] : Value();
      Value dk = beta ? body.mul(u, body.splat(beta, u.getType())) : u;
      body.yieldedStates = {R};
      SmallVector<std::pair<Value, Value>> seeds = {{x[form.key], dk}};
      if (beta)
        seeds.push_back({beta, body.sum(body.mul(x[form.key], u))});
      FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>> gradients =
          sliceGradients(body, drivers, x, seeds);
      if (failed(gradients))
        return void(status = failure());
      dkGradients = std::move(*gradients);
      dkGateTerms = gateTerms(body, x[form.key], dk, keyGates, scalarGates);
    });
    // β is gate-like: its gradient (a key's slice may share inputs with it) is marked.
    if (failed(status) || failed(addGradients(dkOp, dkGradients, /*gate=*/static_cast<bool>(form.beta))))
      return failure();

    // dv = β Rᵀ k, and with an initial state dS_0 = D_0(R_0) from a second state P_t = D_t(R_t)
    // = D_t(P_{t+1}) + D_t(s q do_tᵀ), which takes the decays undelayed.
    bool initGradient = static_cast<bool>(init);
    RecurrenceSpec dvSpec;
    dvSpec.reverse = true;
    dvSpec.states = {matrix};
    dvSpec.inits = {dST};
    if (initGradient) {
      dvSpec.states.push_back(matrix);
      dvSpec.inits.push_back(dST);
    }
    unsigned dvDo = dvSpec.input(dO);
    TokenSlice dvSlice = initGradient ? all : drivers;
    SliceOperands dvOperands = addSlice(dvSpec, dvSlice);
    SmallVector<unsigned> dvDecays = addDelayedDecays(dvSpec);
    SmallVector<std::pair<BlockArgument, unsigned>> dvGradients;
    unsigned dvGateTerms = 0;
    RecurrenceOp dvOp = buildRecurrence(b, loc, dvSpec, tokens, cuSeqlens, [&](Body &body) {
      ClonedSlice x = cloneSlice(body, dvSlice, dvOperands);
      Value sq = body.scaled(x[form.query], form.scale);
      auto [scalar, key, value] = splitDecays(args(body, dvDecays));
      Value R = applyDecays(body, body.states[0], scalar, key, value, false);
      Value doRow = cotangentRow(body, body.inputs[dvDo]);
      R = body.write(R, sq, doRow);
      Value u = body.read(R, x[form.key]);
      Value dv = form.beta ? body.mul(u, body.splat(x[form.beta], u.getType())) : u;
      body.yieldedStates = {R};
      // v's inputs only (q, k and β got theirs from the dq and dk recurrences): the seed is
      // v's cotangent alone, so only the ops v is computed by carry one.
      FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>> gradients =
          normalizer ? FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>>(
                           SmallVector<std::pair<BlockArgument, unsigned>>{})
                     : sliceGradients(body, sliceOf({form.value}), x, {{x[form.value], dv}});
      if (failed(gradients))
        return void(status = failure());
      dvGradients = std::move(*gradients);
      dvGateTerms = body.outputs.size();
      if (valueGates)
        body.outputs.push_back(body.mul(x[form.value], dv));
      if (initGradient) {
        auto [scalarNow, keyNow, valueNow] = splitDecays(lookup(x, decays));
        Value P = applyDecays(body, body.states[1], scalarNow, keyNow, valueNow, false);
        // D_t(s q doᵀ) = (e^{a + gk} ⊙ s q)(e^{gv} ⊙ do)ᵀ: decays are <= 0, so no overflow.
        Value writeKey = sq, writeValue = doRow;
        for (Value a : scalarNow)
          writeKey = body.mul(writeKey, body.splat(body.exp(a), sq.getType()));
        for (Value g : keyNow)
          writeKey = body.mul(writeKey, body.exp(g));
        for (Value g : valueNow)
          writeValue = body.mul(writeValue, body.exp(g));
        body.yieldedStates.push_back(body.write(P, writeKey, writeValue));
      }
    });
    if (failed(status) || failed(addGradients(dvOp, dvGradients, false)))
      return failure();
    if (initGradient)
      adjoints.add(b, loc, init,
                   normalizer ? dropUnitDim(b, loc, dvOp.getFinalStates()[1])
                              : dvOp.getFinalStates()[1]);

    // Gates: reverse cumulative sums of the scaling identity's terms, carried back through
    // each decay's per-token computation.
    auto gateGradient = [&](Value positive, Value negative, std::optional<unsigned> axis,
                            ArrayRef<Value> gates) -> LogicalResult {
      bool scalar = !axis;
      int64_t n = scalar ? 1 : (*axis == 0 ? dk : dv);
      RecurrenceSpec sumSpec;
      sumSpec.reverse = true;
      // A 1×n row, read with a 1-vector of ones; a scalar sums into a normalizer z ∈ R¹,
      // whose read is the scalar itself.
      sumSpec.states = {scalar ? StateType::get(ctx, {1}, f32) : StateType::get(ctx, {1, n}, f32)};
      sumSpec.inits = {stateProductSum(b, loc, dqOp.getFinalStates()[0], dST, axis)};
      if (scalar)
        sumSpec.inits[0] = dropUnitDim(b, loc, sumSpec.inits[0]);
      unsigned pos = sumSpec.input(positive), neg = sumSpec.input(negative);
      TokenSlice gateSlice = sliceOf(gates);
      SliceOperands gateOperands = addSlice(sumSpec, gateSlice);
      SmallVector<std::pair<BlockArgument, unsigned>> gradients;
      RecurrenceOp sum = buildRecurrence(b, loc, sumSpec, tokens, cuSeqlens, [&](Body &body) {
        Value x = body.sub(body.inputs[pos], body.inputs[neg]);
        auto rowType = VectorType::get({n}, f32);
        x = body.splat(x, rowType);
        Value one = arith::ConstantOp::create(
            body.b, loc, DenseElementsAttr::get(VectorType::get({1}, f32), 1.0f));
        Value C = scalar ? body.write(body.states[0], x) : body.write(body.states[0], one, x);
        body.yieldedStates = {C};
        Value dg = body.read(C, one);
        ClonedSlice cloned = cloneSlice(body, gateSlice, gateOperands);
        SmallVector<std::pair<Value, Value>> seeds;
        for (Value g : gates)
          seeds.push_back({cloned[g], dg});
        FailureOr<SmallVector<std::pair<BlockArgument, unsigned>>> grads =
            sliceGradients(body, gateSlice, cloned, seeds);
        if (failed(grads))
          return void(status = failure());
        gradients = std::move(*grads);
      });
      if (failed(status))
        return failure();
      return addGradients(sum, gradients, /*gate=*/true);
    };
    if (keyGates && failed(gateGradient(dqOp.getResult(dqGateTerms), dkOp.getResult(dkGateTerms),
                                        0u, form.keyDecays)))
      return failure();
    if (scalarGates &&
        failed(gateGradient(dqOp.getResult(dqGateTerms + keyGates),
                            dkOp.getResult(dkGateTerms + keyGates), std::nullopt,
                            form.scalarDecays)))
      return failure();
    if (valueGates && // o ⊙ do − v ⊙ dv along the value axis (o the read)
        failed(gateGradient(form.readTimesCotangent, dvOp.getResult(dvGateTerms), 1u,
                            form.valueDecays)))
      return failure();
    return success();
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// Adjoints of the layer ops around recurrences
//===----------------------------------------------------------------------===//

/// The adjoint of y = x s, s = 1 / (r + eps), r = ‖x_t‖ / √N over each token's N = H·D
/// values: dx = s dy − s² ⟨dy, x_t⟩ x / (N r) (the second term 0 where x_t = 0).
static Value headsRmsNormAdjoint(OpBuilder &b, Location loc, HeadsRmsNormOp norm, Value dy) {
  Value x = norm.getInput();
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  auto perToken = RankedTensorType::get({type.getDimSize(0), type.getDimSize(1)}, b.getF32Type());
  AffineMap all = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap token = dimsMap(4, {0, 1}, ctx);
  auto sumOfProducts = [&](Value u, Value w) {
    return buildGeneric(b, loc, perToken, {u, w}, {all, all}, 2,
                        [](OpBuilder &nb, Location l, ValueRange a) {
                          Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
                          return arith::AddFOp::create(nb, l, a[2], p).getResult();
                        });
  };
  Value squares = sumOfProducts(x, x), dot = sumOfProducts(dy, x);
  double n = double(type.getDimSize(2) * type.getDimSize(3));
  double eps = norm.getEps().convertToDouble();
  return buildGeneric(
      b, loc, type, {x, dy, squares, dot}, {all, all, token, token}, 0,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        auto constant = [&](double c) {
          return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(static_cast<float>(c)));
        };
        Value r = math::SqrtOp::create(nb, l, arith::DivFOp::create(nb, l, a[2], constant(n)));
        Value s = arith::DivFOp::create(nb, l, constant(1.0),
                                        arith::AddFOp::create(nb, l, r, constant(eps)));
        Value direct = arith::MulFOp::create(nb, l, s, a[1]);
        Value coefficient = arith::DivFOp::create(
            nb, l, arith::MulFOp::create(nb, l, arith::MulFOp::create(nb, l, s, s), a[3]),
            arith::MulFOp::create(nb, l, r, constant(n)));
        Value along = arith::MulFOp::create(nb, l, coefficient, a[0]);
        Value positive =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, r, constant(0.0));
        along = arith::SelectOp::create(nb, l, positive, along, constant(0.0));
        return arith::SubFOp::create(nb, l, direct, along).getResult();
      });
}

/// The adjoint of a linalg.generic with one output whose payload is f(ins) (all loops
/// parallel) or out + f(ins) (a contraction: the loops its output map leaves out reduce):
/// per float input, a linalg.generic over the same loops that sums g · ∂f/∂in into a tensor
/// shaped like the input through its (projected-permutation) map, the payload's adjoint
/// emitted per element (projections' weights and inputs, gates, mixes).
static LogicalResult genericAdjoint(OpBuilder &b, linalg::GenericOp generic, Value g,
                                    Adjoints &adjoints) {
  Location loc = generic.getLoc();
  if (generic.getNumDpsInits() != 1 || generic->getNumResults() != 1)
    return generic.emitOpError("has no derived backward yet (several outputs)");
  Block &payload = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(payload.getTerminator());
  BlockArgument out = payload.getArguments().back();
  Value expr = yield.getOperand(0);
  bool accumulates = false;
  if (auto sum = expr.getDefiningOp<arith::AddFOp>();
      sum && (sum.getLhs() == out || sum.getRhs() == out)) {
    expr = sum.getLhs() == out ? sum.getRhs() : sum.getLhs();
    accumulates = true;
  }
  bool outUsed = llvm::any_of(out.getUsers(), [&](Operation *user) {
    return !accumulates || user != expr.getDefiningOp() && user != yield &&
                               !isa<arith::AddFOp>(user);
  });
  if ((!accumulates && !out.use_empty()) || (accumulates && outUsed))
    return generic.emitOpError("has no derived backward yet (a payload that reads its output "
                               "other than to accumulate into it)");
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  AffineMap outMap = maps.back();
  if (!accumulates && generic.getNumReductionLoops() != 0)
    return generic.emitOpError("has no derived backward yet (a reduction other than a sum)");
  unsigned loops = generic.getNumLoops();
  SmallVector<Value> inputs(generic.getDpsInputs());
  for (auto [i, input] : llvm::enumerate(inputs)) {
    auto type = dyn_cast<RankedTensorType>(input.getType());
    if (!type || !isa<FloatType>(type.getElementType()) ||
        input.getDefiningOp<arith::ConstantOp>())
      continue;
    if (!maps[i].isProjectedPermutation())
      return generic.emitOpError("has no derived backward yet (an input read through a map "
                                 "that is not a projected permutation)");
    SmallVector<utils::IteratorType> iterators;
    for (unsigned d = 0; d < loops; ++d)
      iterators.push_back(maps[i].isFunctionOfDim(d) ? utils::IteratorType::parallel
                                                      : utils::IteratorType::reduction);
    SmallVector<Value> operands = inputs;
    operands.push_back(g);
    SmallVector<AffineMap> newMaps(maps.begin(), maps.end() - 1);
    newMaps.push_back(outMap);
    newMaps.push_back(maps[i]);
    LogicalResult status = success();
    auto adjoint = linalg::GenericOp::create(
        b, loc, TypeRange{type}, operands, ValueRange{zerosLike(b, loc, type)}, newMaps,
        iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
          IRMapping map;
          for (unsigned k = 0; k < inputs.size(); ++k)
            map.map(payload.getArgument(k), args[k]);
          SmallVector<Operation *> cloned;
          for (Operation &op : payload.without_terminator())
            if (!llvm::is_contained(op.getOperands(), Value(out))) // not the accumulation
              cloned.push_back(nb.clone(op, map));
          DenseMap<Value, Value> cotangents;
          cotangents[map.lookupOrDefault(expr)] = args[inputs.size()];
          if (failed(emitTokenAdjoint(nb, nloc, cloned, cotangents)))
            status = failure();
          Value accumulated = args.back();
          if (auto it = cotangents.find(args[i]); it != cotangents.end())
            accumulated = arith::AddFOp::create(nb, nloc, accumulated, it->second);
          linalg::YieldOp::create(nb, nloc, accumulated);
        });
    if (failed(status))
      return failure();
    adjoints.add(b, loc, input, adjoint.getResult(0));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The function's backward
//===----------------------------------------------------------------------===//

static StringRef nameOf(func::FuncOp func, unsigned i, bool result) {
  auto name = result ? func.getResultAttrOfType<StringAttr>(i, "linrec.name")
                     : func.getArgAttrOfType<StringAttr>(i, "linrec.name");
  return name ? name.getValue() : StringRef();
}

static bool isFloatTensor(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

static FailureOr<func::FuncOp> buildBackward(func::FuncOp func, StringRef suffix) {
  Location loc = func.getLoc();
  MLIRContext *ctx = func.getContext();
  FunctionType type = func.getFunctionType();
  for (Type t : llvm::concat<const Type>(type.getInputs(), type.getResults()))
    if (auto tensor = dyn_cast<RankedTensorType>(t);
        tensor && isa<FloatType>(tensor.getElementType()) && !tensor.getElementType().isF32())
      return func.emitOpError("has a backward for f32 tensors only, not ") << t;

  SmallVector<Type> inputs(type.getInputs());
  llvm::append_range(inputs, type.getResults());
  SmallVector<Type> results;
  for (Type t : type.getInputs())
    if (isFloatTensor(t))
      results.push_back(t);
  OpBuilder b(func);
  b.setInsertionPointAfter(func);
  auto backward = func::FuncOp::create(b, loc, (func.getName() + suffix).str(),
                                       FunctionType::get(ctx, inputs, results));
  // Names: the inputs, then grad_<result> for the cotangents; gradients grad_<input>.
  unsigned numArgs = type.getNumInputs();
  for (unsigned i = 0; i < numArgs; ++i)
    if (StringRef name = nameOf(func, i, false); !name.empty())
      backward.setArgAttr(i, "linrec.name", b.getStringAttr(name));
  for (unsigned i = 0; i < type.getNumResults(); ++i)
    if (StringRef name = nameOf(func, i, true); !name.empty())
      backward.setArgAttr(numArgs + i, "linrec.name", b.getStringAttr("grad_" + name));
  unsigned g = 0;
  for (unsigned i = 0; i < numArgs; ++i) {
    if (!isFloatTensor(type.getInput(i)))
      continue;
    if (StringRef name = nameOf(func, i, false); !name.empty())
      backward.setResultAttr(g, "linrec.name", b.getStringAttr("grad_" + name));
    ++g;
  }

  Block *entry = backward.addEntryBlock();
  b.setInsertionPointToStart(entry);
  IRMapping mapping;
  for (unsigned i = 0; i < numArgs; ++i)
    mapping.map(func.getArgument(i), entry->getArgument(i));
  // The forward, recomputed; its unused parts fold away.
  SmallVector<Operation *> forward;
  func::ReturnOp ret;
  for (Operation &op : func.getBody().front()) {
    if (auto r = dyn_cast<func::ReturnOp>(op)) {
      ret = r;
      break;
    }
    forward.push_back(b.clone(op, mapping));
  }
  Adjoints adjoints;
  for (auto [i, value] : llvm::enumerate(ret.getOperands()))
    adjoints.add(b, loc, mapping.lookupOrDefault(value), entry->getArgument(numArgs + i));
  for (Operation *op : llvm::reverse(forward)) {
    if (isa<arith::ConstantOp, tensor::EmptyOp, linalg::FillOp>(op))
      continue;
    if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
      if (auto it = adjoints.map.find(generic->getResult(0)); it != adjoints.map.end())
        if (failed(genericAdjoint(b, generic, it->second, adjoints)))
          return failure();
      continue;
    }
    if (auto norm = dyn_cast<HeadsRmsNormOp>(op)) {
      if (auto it = adjoints.map.find(norm.getResult()); it != adjoints.map.end())
        adjoints.add(b, loc, norm.getInput(), headsRmsNormAdjoint(b, loc, norm, it->second));
      continue;
    }
    auto recurrence = dyn_cast<RecurrenceOp>(op);
    if (!recurrence)
      return op->emitOpError("has no derived backward yet (linrec-build-backward derives "
                             "linrec.recurrence, linrec.heads_rms_norm and linalg.generic; "
                             "run linrec-normalize first for named ops)");
    if (llvm::none_of(recurrence->getResults(),
                      [&](Value r) { return adjoints.map.count(r); }))
      continue; // nothing the loss depends on
    if (failed(RecurrenceAdjoint(b, recurrence, adjoints).run()))
      return failure();
  }
  SmallVector<Value> gradients;
  for (unsigned i = 0; i < numArgs; ++i) {
    if (!isFloatTensor(type.getInput(i)))
      continue;
    if (adjoints.gates.contains(entry->getArgument(i)))
      backward.setResultAttr(gradients.size(), "linrec.gate", b.getUnitAttr());
    gradients.push_back(adjoints.get(b, loc, entry->getArgument(i)));
  }
  func::ReturnOp::create(b, loc, gradients);
  return backward;
}

namespace {
struct LinrecBuildBackwardPass : linrec::impl::LinrecBuildBackwardBase<LinrecBuildBackwardPass> {
  using LinrecBuildBackwardBase::LinrecBuildBackwardBase;
  void runOnOperation() override {
    SmallVector<func::FuncOp> functions;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isDeclaration() && func.isPublic() &&
          (function.empty() || func.getName() == function))
        functions.push_back(func);
    for (func::FuncOp func : functions) {
      FailureOr<func::FuncOp> backward = buildBackward(func, suffix);
      if (failed(backward))
        return signalPassFailure();
    }
  }
};
} // namespace
