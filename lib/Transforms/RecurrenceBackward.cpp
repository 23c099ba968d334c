//===- RecurrenceBackward.cpp - a recurrence's adjoint, as recurrences ---===//
//
// A recurrence's adjoint is itself linrec recurrences, which every target then compiles into
// its chunked kernels. For a state S_t = D_t(S_{t−1}) + β_t k_t v_tᵀ read as o_t = S_tᵀ(s q_t)
// (D_t: scalar, key- and value-axis decays e^{g}), with R_t the cotangent of S_t:
//
//   dq_t = s S_t do_t                  a forward recurrence on S, read transposed with do
//   R_t  = D_{t+1}(R_{t+1}) + s q_t do_tᵀ,  R at the end = the final state's cotangent
//   dv_t = β_t R_tᵀ k_t,  dk_t = β_t R_t v_t,  dβ_t = k_tᵀ R_t v_t
//                                      one reverse recurrence on R, read both ways, D
//                                      delayed one token
//   dS_0 = D_0(R_0)                    the first token's transition on R_0 (a one-token scan)
//
// With value-axis decays or block-start reads (which transposed reads do not take), or
// transposed-reads=0 (the GPU's form), dq and dk come from transposed copies, Sᵀ and Rᵀ.
//   dg_t = Σ_{s ≥ t} (q_s ⊙ dq_s − k_s ⊙ dk_s)  (key axis; values: o ⊙ do − v ⊙ dv;
//          scalar: summed), plus Σ S_T ⊙ dS_T   a reverse cumulative sum, itself a recurrence
//
// (DESIGN.md §2, the scaling identity: q enters as q e^{B}, k as k e^{−B}.) Bodies outside
// this form are a clear error naming the op; the reference adjoint covers them meanwhile.
//
//===----------------------------------------------------------------------===//

#include "AdjointTensors.h"
#include "Backward.h"
#include "RecurrenceRewrite.h"
#include "TokenAdjoint.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace linrec;
using namespace linrec::adjoint;

void Adjoints::add(OpBuilder &b, Location loc, Value forward, Value contribution) {
  Value &slot = map[forward];
  slot = slot ? adjoint::add(b, loc, slot, contribution) : contribution;
}

Value Adjoints::get(OpBuilder &b, Location loc, Value forward) {
  auto it = map.find(forward);
  return it != map.end() ? it->second : zerosLike(b, loc, forward.getType());
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
  Value delta(Value S, Value k, Value beta) { // S − β k (Sᵀk)ᵀ
    return DeltaOp::create(b, loc, S.getType(), S, k, beta);
  }
  Value write(Value z, Value k) { // a normalizer: z + k
    return WriteOp::create(b, loc, z.getType(), z, k, Value(), Value(), Value());
  }
  Value write(Value S, Value k, Value v, Value beta = {}) {
    return WriteOp::create(b, loc, S.getType(), S, k, v, beta, Value());
  }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value writeHadamard(Value G, Value k, Value v, Value X) { // G + (k vᵀ) ⊙ X
    return WriteHadamardOp::create(b, loc, G.getType(), G, k, v, X);
  }
  Value readProduct(Value A, Value B, Value q) { // (A ⊙ B)ᵀ q
    auto type = cast<StateType>(A.getType());
    Type result = type.isMatrix() ? Type(VectorType::get({type.getValueDim()}, b.getF32Type()))
                                  : b.getF32Type();
    return ReadProductOp::create(b, loc, result, A, B, q);
  }
  Value read(Value S, Value q, double scale = 1.0, int64_t block = 0) {
    auto type = cast<StateType>(S.getType());
    Type result = type.isMatrix() ? Type(VectorType::get({type.getValueDim()}, b.getF32Type()))
                                  : b.getF32Type();
    FloatAttr scaleAttr = scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(scale);
    IntegerAttr blockAttr = block ? b.getI64IntegerAttr(block) : IntegerAttr();
    return ReadOp::create(b, loc, result, S, q, scaleAttr, blockAttr);
  }
  Value readTransposed(Value S, Value u, double scale = 1.0) { // S (scale·u)
    auto type = cast<StateType>(S.getType());
    Type result = VectorType::get({type.getKeyDim()}, b.getF32Type());
    FloatAttr scaleAttr = scale == 1.0 ? FloatAttr() : b.getF64FloatAttr(scale);
    return ReadOp::create(b, loc, result, S, u, scaleAttr, IntegerAttr(), b.getUnitAttr());
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
/// One state of a recurrence in the form the adjoint is derived for: its drivers are values
/// of the forward body (body arguments, or computed from them per token).
struct StateForm {
  unsigned index; // of the state
  StateType type;
  SmallVector<Value> scalarDecays, keyDecays, valueDecays;
  Value key, value, beta, query;
  /// S' − β k (S'ᵀk)ᵀ before the write (the delta rule; key and β those of the write).
  bool delta = false;
  ReadOp read;
  double scale = 1.0;
  /// The block of a block-start read (0 for a read of S_t): the backward's reads see the
  /// same blocks, the reverse ones from the blocks after.
  int64_t readBlock = 0;
  /// Per token: the cotangent of the read (its output's, or what the outputs computed from
  /// the reads give it), and for value-axis decays the read times it.
  Value readCotangent, readTimesCotangent;
};

/// Two states read together as (A ⊙ B)ᵀ q (tensor attention), each a plain sum of writes
/// A_t = A_{t−1} + k_A v_Aᵀ: the drivers are values of the forward body.
struct ProductForm {
  ReadProductOp read;
  unsigned first, second; // state indices
  StateType type;
  Value query, keys[2], values[2]; // values null for normalizers
  Value readCotangent;             // per token
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
  RecurrenceAdjoint(OpBuilder &b, RecurrenceOp op, Adjoints &adjoints,
                    const RecurrenceAdjointOptions &options)
      : b(b), loc(op.getLoc()), op(op), adjoints(adjoints), options(options),
        tokens(cast<RankedTensorType>(op.getInputs()[0].getType())) {}

  LogicalResult run() {
    SmallVector<StateForm, 2> forms;
    SmallVector<ProductForm, 2> products;
    if (failed(analyze(forms, products)) || failed(readCotangents(forms, products)))
      return failure();
    for (StateForm &form : forms)
      if (failed(deriveState(form)))
        return failure();
    for (ProductForm &product : products)
      if (failed(deriveProduct(product)))
        return failure();
    return success();
  }

private:
  OpBuilder &b;
  Location loc;
  RecurrenceOp op;
  Adjoints &adjoints;
  const RecurrenceAdjointOptions &options;
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
  LogicalResult analyze(SmallVectorImpl<StateForm> &forms,
                        SmallVectorImpl<ProductForm> &products) {
    if (op.getHeadsNormEps())
      return unsupported(op, "a norm over heads fused into the recurrence");
    if (llvm::any_of(op.getDelays().value_or(ArrayRef<int64_t>{}),
                     [](int64_t d) { return d != 0; }))
      return unsupported(op, "delayed inputs");
    for (Operation &bodyOp : op.getBodyBlock()) {
      if (auto write = dyn_cast<WriteOp>(bodyOp); write && write.getMask())
        return unsupported(write, "a masked write");
      if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getTransposed())
        return unsupported(read, "a transposed read");
      if (isStateOp(bodyOp) &&
          !isa<DecayOp, DeltaOp, WriteOp, ReadOp, ReadProductOp, YieldOp>(bodyOp))
        return unsupported(&bodyOp, "only decays, delta transitions, plain writes, reads and "
                                    "product reads have a derived backward so far");
    }
    RecurrenceAnalysis analysis = RecurrenceAnalysis::analyze(op);
    // (A product read's token scan is a choice, not a limit: its chunked form exists.)
    if (analysis.algorithm == Algorithm::Sequential && !analysis.reason.empty() &&
        !analysis.productChunkable)
      return unsupported(op, analysis.reason);
    YieldOp yield = op.getYield();
    for (const StateUpdate &update : analysis.states) {
      StateForm form;
      form.index = update.index;
      form.type = update.type;
      if (!update.key)
        return unsupported(op, "a state never written");
      if (update.delta && !update.type.isMatrix())
        return unsupported(op, "a delta rule on a normalizer");
      if (!update.productReads.empty()) {
        if (failed(addProductForm(update, analysis, products)))
          return failure();
        continue;
      }
      if (update.reads.size() != 1)
        return unsupported(op, "a state read other than once");
      form.read = update.reads.front();
      if (form.read.getState() != yield.getStates()[update.index])
        return unsupported(form.read, "a read before the state's last update");
      form.scale = form.read.getScale() ? form.read.getScale()->convertToDouble() : 1.0;
      form.readBlock = form.read.getBlockStart().value_or(0);
      if (form.readBlock && (update.delta || !update.scalarDecays.empty() ||
                             !update.keyDecays.empty() || !update.valueDecays.empty()))
        return unsupported(form.read, "a block-start read of a decaying or delta-rule state");
      form.key = update.key;
      form.value = update.value;
      form.beta = update.beta;
      form.delta = update.delta;
      form.query = form.read.getQuery();
      form.scalarDecays.assign(update.scalarDecays.begin(), update.scalarDecays.end());
      form.keyDecays.assign(update.keyDecays.begin(), update.keyDecays.end());
      form.valueDecays.assign(update.valueDecays.begin(), update.valueDecays.end());
      forms.push_back(form);
    }
    return success();
  }

  /// The pair a state's product read reads, once (at its first state): both plain sums of
  /// writes, read by nothing else.
  LogicalResult addProductForm(const StateUpdate &update, const RecurrenceAnalysis &analysis,
                               SmallVectorImpl<ProductForm> &products) {
    ReadProductOp read = update.productReads.front();
    if (update.productReads.size() != 1 || !update.reads.empty())
      return unsupported(read, "a state read other than once");
    if (update.delta || update.beta || !update.scalarDecays.empty() ||
        !update.keyDecays.empty() || !update.valueDecays.empty())
      return unsupported(read, "a product of states that decay, scale their writes or have a "
                               "delta transition");
    unsigned first = op.getStateArgOf(read.getFirst()).getArgNumber();
    unsigned second = op.getStateArgOf(read.getSecond()).getArgNumber();
    if (first == second)
      return unsupported(read, "the product of a state with itself");
    if (update.index != first)
      return success(); // the pair is added at its first state
    ProductForm form{read, first, second, update.type, read.getQuery(), {}, {}, Value()};
    // (A named array: an ArrayRef of a braced list dies before the loop runs.)
    unsigned pair[] = {first, second};
    for (auto [i, index] : llvm::enumerate(pair)) {
      const StateUpdate &u = analysis.states[index];
      form.keys[i] = u.key;
      form.values[i] = u.value;
    }
    products.push_back(form);
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
  LogicalResult readCotangents(MutableArrayRef<StateForm> forms,
                               MutableArrayRef<ProductForm> products) {
    YieldOp yield = op.getYield();
    auto isOutput = [&](Value read) { return llvm::count(yield.getOutputs(), read) == 1; };
    auto outputOf = [&](Value read) {
      return op.getOutputs()[llvm::find(yield.getOutputs(), read) - yield.getOutputs().begin()];
    };
    bool direct =
        llvm::all_of(forms, [&](StateForm &f) { return isOutput(f.read.getResult()); }) &&
        llvm::all_of(products, [&](ProductForm &p) { return isOutput(p.read.getResult()); }) &&
        forms.size() + products.size() == yield.getOutputs().size();
    if (direct) {
      for (StateForm &form : forms) {
        Value output = outputOf(form.read.getResult());
        form.readCotangent = adjoints.get(b, loc, output);
        if (!form.valueDecays.empty())
          form.readTimesCotangent = multiply(b, loc, output, form.readCotangent);
      }
      for (ProductForm &product : products)
        product.readCotangent = adjoints.get(b, loc, outputOf(product.read.getResult()));
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
    SmallVector<unsigned> readOutputs, timesOutputs, productOutputs;
    LogicalResult status = success();
    RecurrenceOp reads = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      IRMapping map;
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
        timesOutputs.push_back(body.outputs.size());
        if (!form.valueDecays.empty())
          body.outputs.push_back(body.mul(read, dr));
      }
      for (ProductForm &product : products) {
        Value read = map.lookup(product.read.getResult());
        auto it = cotangents.find(read);
        productOutputs.push_back(body.outputs.size());
        body.outputs.push_back(it != cotangents.end() ? it->second : body.zero(read.getType()));
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
    });
    if (failed(status) || failed(addGradients(reads, gradients, false)))
      return failure();
    for (auto [i, form] : llvm::enumerate(forms)) {
      form.readCotangent = reads.getResult(readOutputs[i]);
      if (!form.valueDecays.empty())
        form.readTimesCotangent = reads.getResult(timesOutputs[i]);
    }
    for (auto [i, product] : llvm::enumerate(products))
      product.readCotangent = reads.getResult(productOutputs[i]);
    return success();
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

  /// β's arguments that no query, key or value is computed from.
  llvm::SmallPtrSet<Value, 4> betaOnlyArguments(const StateForm &form) {
    llvm::SmallPtrSet<Value, 4> only;
    if (!form.beta)
      return only;
    TokenSlice others = sliceOf({form.query, form.key, form.value});
    for (BlockArgument arg : sliceOf({form.beta}).args)
      if (!llvm::is_contained(others.args, arg))
        only.insert(arg);
    return only;
  }

  /// Adds the gradients a backward recurrence outputs to the forward operands' adjoints,
  /// marking those of `gateArgs` as gates (β's own inputs). A per-head parameter gets none
  /// when it is a constant (a lightning layer's decays).
  LogicalResult addGradients(RecurrenceOp backward,
                             ArrayRef<std::pair<BlockArgument, unsigned>> gradients,
                             const llvm::SmallPtrSetImpl<Value> &gateArgs) {
    for (auto [arg, index] : gradients)
      if (gateArgs.contains(arg) && !isParam(arg))
        adjoints.gates.insert(operandOf(arg));
    return addGradients(backward, gradients, /*gate=*/false);
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
  static unsigned outputGateTerms(Body &body, Value x, Value dx, bool keyGates, bool scalarGates) {
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

  /// What the backward recurrences of one state share.
  struct StateContext {
    const StateForm &form;
    /// A normalizer z is the matrix z 1ᵀ (dv = 1, every value 1): one derivation for both.
    bool normalizer;
    int64_t dk, dv;
    StateType matrix, transposed;
    Value dO;   // per token: the read's cotangent
    Value dST;  // the final state's cotangent, as matrices
    Value init; // the initial state (null without one)
    /// The decays in form order (scalar, key, value), and as token tensors (an input itself,
    /// or the per-token values the dq recurrence computes).
    SmallVector<Value> decays, decayTensors;
    /// The drivers' per-token computations: without, and with, the decays'.
    TokenSlice drivers, all;
    /// Forward body arguments only β is computed from: their gradients are gate-like.
    llvm::SmallPtrSet<Value, 4> betaOnly;
    bool scalarGates, keyGates, valueGates;

    /// The decays by kind, copied: callers pass the temporary vectors of lookup() and args()
    /// (views into those died with the statement: ASan's stack-use-after-scope).
    struct Decays {
      SmallVector<Value> scalar, key, value;
    };
    Decays splitDecays(ArrayRef<Value> values) const {
      size_t s = form.scalarDecays.size(), k = form.keyDecays.size();
      return {SmallVector<Value>(values.take_front(s)), SmallVector<Value>(values.slice(s, k)),
              SmallVector<Value>(values.drop_front(s + k))};
    }
    /// In a body: the read's cotangent as a dv-vector, the written value.
    Value cotangentRow(Body &body, Value dr) const {
      return normalizer ? body.splat(dr, VectorType::get({1}, body.b.getF32Type())) : dr;
    }
    Value valueRow(Body &body, const ClonedSlice &x) const {
      return normalizer ? body.ones(1) : x[form.value];
    }
  };

  Value asMatrix(const StateContext &c, Value states) {
    return c.normalizer ? appendUnitDim(b, loc, states) : states;
  }

  LogicalResult deriveState(const StateForm &form) {
    unsigned index = form.index;
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type();
    int64_t dk = form.type.getKeyDim(), dv = form.type.getValueDim();
    StateContext c{form, !form.type.isMatrix(), dk, dv,
                   StateType::get(ctx, {dk, dv}, f32), StateType::get(ctx, {dv, dk}, f32),
                   form.readCotangent, Value(),
                   index < op.getInits().size() ? op.getInits()[index] : Value()};
    c.dST = asMatrix(c, adjoints.get(b, loc, op.getFinalStates()[index]));
    c.scalarGates = !form.scalarDecays.empty();
    c.keyGates = !form.keyDecays.empty();
    c.valueGates = !form.valueDecays.empty();
    llvm::append_range(c.decays, form.scalarDecays);
    llvm::append_range(c.decays, form.keyDecays);
    llvm::append_range(c.decays, form.valueDecays);
    // The drivers, computed per token in each backward body from the forward's inputs.
    SmallVector<Value> drivers = {form.query, form.key, form.value};
    if (form.beta)
      drivers.push_back(form.beta);
    c.drivers = sliceOf(drivers);
    c.all = sliceOf(llvm::to_vector(llvm::concat<Value>(drivers, c.decays)));
    c.betaOnly = betaOnlyArguments(form);
    if (form.delta)
      return deriveDeltaState(c);

    // The states read both ways (transposed reads: dq = S do, dk = R v) where the chunked
    // kernels take it: no block-start reads, no value-axis decays (inside the scores of a
    // transposed read). Otherwise transposed copies (dq on Sᵀ, dk on Rᵀ).
    bool bothWays = options.transposedReads && !form.readBlock && form.valueDecays.empty();
    unsigned dqGateTerms, dkGateTerms, dvGateTerms;
    FailureOr<RecurrenceOp> dq = dqRecurrence(c, dqGateTerms, bothWays);
    if (failed(dq))
      return failure();
    FailureOr<RecurrenceOp> dkOp = failure();
    if (!bothWays && failed(dkOp = dkRecurrence(c, dkGateTerms)))
      return failure();
    FailureOr<RecurrenceOp> dvOp = dvRecurrence(c, dvGateTerms, bothWays ? &dkGateTerms : nullptr);
    if (failed(dvOp))
      return failure();
    if (bothWays)
      dkOp = dvOp;

    // Gates: reverse cumulative sums of the scaling identity's terms.
    Value finalStateT = bothWays ? transposeStates(b, loc, dq->getFinalStates()[0])
                                 : dq->getFinalStates()[0];
    if (c.keyGates &&
        failed(gateSum(c, dq->getResult(dqGateTerms), (*dkOp)->getResult(dkGateTerms), 0u,
                       form.keyDecays, finalStateT)))
      return failure();
    if (c.scalarGates &&
        failed(gateSum(c, dq->getResult(dqGateTerms + c.keyGates),
                       (*dkOp)->getResult(dkGateTerms + c.keyGates), std::nullopt,
                       form.scalarDecays, finalStateT)))
      return failure();
    if (c.valueGates && // o ⊙ do − v ⊙ dv along the value axis (o the read)
        failed(gateSum(c, form.readTimesCotangent, (*dvOp)->getResult(dvGateTerms), 1u,
                       form.valueDecays, finalStateT)))
      return failure();
    return success();
  }

  /// dq = s S do: with `readTransposed` the forward state read transposed with the read's
  /// cotangent, otherwise its transposed copy read plainly. It also gives q ⊙ dq for the
  /// gates and each computed decay per token (into c.decayTensors), for the reverse
  /// recurrences to read one token late.
  FailureOr<RecurrenceOp> dqRecurrence(StateContext &c, unsigned &gateTerms, bool readTransposed) {
    const StateForm &form = c.form;
    RecurrenceSpec spec;
    if (readTransposed) {
      spec.states = {c.matrix};
      spec.inits = {c.init ? asMatrix(c, c.init) : zerosLike(b, loc, c.dST.getType())};
    } else {
      spec.states = {c.transposed};
      spec.inits = {c.init ? transposeStates(b, loc, asMatrix(c, c.init))
                           : zerosLike(b, loc, transposedStatesType(c.dST.getType()))};
    }
    unsigned dO = spec.input(c.dO);
    SliceOperands operands = addSlice(spec, c.all);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    unsigned decayValues = 0;
    LogicalResult status = success();
    RecurrenceOp dq = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.all, operands);
      auto [scalar, key, value] = c.splitDecays(lookup(x, c.decays));
      Value S = applyDecays(body, body.states[0], scalar, key, value, !readTransposed);
      Value beta = form.beta ? x[form.beta] : Value();
      Value doRow = c.cotangentRow(body, body.inputs[dO]);
      Value dqValue;
      if (readTransposed) {
        S = body.write(S, x[form.key], c.valueRow(body, x), beta);
        dqValue = body.readTransposed(S, doRow, form.scale);
      } else {
        S = body.write(S, c.valueRow(body, x), x[form.key], beta);
        dqValue = body.read(S, doRow, form.scale, form.readBlock);
      }
      body.yieldedStates = {S};
      auto grads = sliceGradients(body, c.all, x, {{x[form.query], dqValue}});
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
      gateTerms = outputGateTerms(body, x[form.query], dqValue, c.keyGates, c.scalarGates);
      decayValues = body.outputs.size();
      for (Value g : c.decays)
        if (!isRawInput(g))
          body.outputs.push_back(x[g]);
    });
    if (failed(status) || failed(addGradients(dq, gradients, false)))
      return failure();
    for (Value g : c.decays)
      c.decayTensors.push_back(isRawInput(g) ? operandOf(cast<BlockArgument>(g))
                                             : dq.getResult(decayValues++));
    return dq;
  }

  /// The decays as inputs of `spec`, each read one token late (the next token's, in the
  /// order a reverse recurrence runs).
  static SmallVector<unsigned> addDelayedDecays(const StateContext &c, RecurrenceSpec &spec) {
    return llvm::map_to_vector(c.decayTensors, [&](Value t) { return spec.input(t, 1); });
  }

  /// dk = β R v and dβ = kᵀ R v: the reverse cotangent state, transposed, read with v (and
  /// k ⊙ dk for the gates).
  FailureOr<RecurrenceOp> dkRecurrence(const StateContext &c, unsigned &gateTerms) {
    const StateForm &form = c.form;
    RecurrenceSpec spec;
    spec.reverse = true;
    spec.states = {c.transposed};
    spec.inits = {transposeStates(b, loc, c.dST)};
    unsigned dO = spec.input(c.dO);
    SliceOperands operands = addSlice(spec, c.drivers);
    SmallVector<unsigned> decays = addDelayedDecays(c, spec);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp dk = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.drivers, operands);
      auto [scalar, key, value] = c.splitDecays(args(body, decays));
      Value R = applyDecays(body, body.states[0], scalar, key, value, true);
      R = body.write(R, c.cotangentRow(body, body.inputs[dO]),
                     body.scaled(x[form.query], form.scale));
      Value u = body.read(R, c.valueRow(body, x), 1.0, form.readBlock);
      Value beta = form.beta ? x[form.beta] : Value();
      Value dkValue = beta ? body.mul(u, body.splat(beta, u.getType())) : u;
      body.yieldedStates = {R};
      SmallVector<std::pair<Value, Value>> seeds = {{x[form.key], dkValue}};
      if (beta)
        seeds.push_back({beta, body.sum(body.mul(x[form.key], u))});
      auto grads = sliceGradients(body, c.drivers, x, seeds);
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
      gateTerms = outputGateTerms(body, x[form.key], dkValue, c.keyGates, c.scalarGates);
    });
    if (failed(status) || failed(addGradients(dk, gradients, c.betaOnly)))
      return failure();
    return dk;
  }

  /// A reverse recurrence on the cotangent state R (from the final state's cotangent), and
  /// with `initGradient` a second one for the initial state's gradient (from the same).
  static RecurrenceSpec cotangentSpec(const StateContext &c, bool initGradient) {
    RecurrenceSpec spec;
    spec.reverse = true;
    spec.states = {c.matrix};
    spec.inits = {c.dST};
    if (initGradient) {
      spec.states.push_back(c.matrix);
      spec.inits.push_back(c.dST);
    }
    return spec;
  }

  /// Whether a reverse recurrence carries the initial state's gradient as a second state
  /// (P_t, the first token's transition applied to R_t at every token) rather than leaving it
  /// to `firstTokenTransition` on its final state R_0. The second state doubles the scan's
  /// state work; it stays where the first tokens are known at run time only: varlen (the
  /// sequences start where cu_seqlens says, and may be empty) and a dynamic T (which may be 0).
  bool initGradientInScan(const StateContext &c) {
    return c.init && (op.getCuSeqlens() || tokens.isDynamicDim(1));
  }

  /// The initial state's gradient from R_0, the cotangent of the state after token 0:
  /// D_0(R_0), or with the delta rule D_0((I − β_0 k_0 k_0ᵀ) R_0) (the transition's
  /// transpose; key decays after the delta, as the forward's come before it) — a one-token
  /// recurrence on every sequence's first token, its drivers recomputed from the inputs there.
  Value firstTokenTransition(const StateContext &c, Value R0, bool delta) {
    RecurrenceSpec spec;
    spec.states = {c.matrix};
    spec.inits = {R0};
    SliceOperands operands = addSlice(spec, c.all);
    for (Value &input : spec.inputs)
      input = firstToken(input);
    SmallVector<int64_t> shape(tokens.getShape());
    shape[1] = 1;
    auto first = RankedTensorType::get(shape, tokens.getElementType());
    RecurrenceOp step = buildRecurrence(b, loc, spec, first, Value(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.all, operands);
      auto [scalar, key, value] = c.splitDecays(lookup(x, c.decays));
      Value P = body.states[0];
      bool decaysFirst = !delta || c.form.keyDecays.empty(); // scalar decays commute
      if (decaysFirst)
        P = applyDecays(body, P, scalar, key, value, false);
      if (delta)
        P = body.delta(P, x[c.form.key], x[c.form.beta]);
      if (!decaysFirst)
        P = applyDecays(body, P, scalar, key, value, false);
      body.yieldedStates = {P};
    });
    // One token: the scan, whatever the chunked forms could take.
    step.setAlgorithmAttr(AlgorithmAttr::get(b.getContext(), Algorithm::Sequential));
    return step.getFinalStates()[0];
  }

  /// Token 0 of a [B, T, ...] input, [B, 1, ...].
  Value firstToken(Value input) {
    auto type = cast<RankedTensorType>(input.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, input);
    sizes[1] = b.getIndexAttr(1);
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, input, offsets, sizes, strides);
  }

  /// dv = β Rᵀ k (and v ⊙ dv for value-axis gates); with `keyGateTerms`, also dk = β R v and
  /// dβ = kᵀ R v from a transposed read of the same R (what dkRecurrence gives otherwise),
  /// k ⊙ dk at *keyGateTerms. With an initial state, dS_0 = D_0(R_0) from R's final state
  /// (`firstTokenTransition`), or where `initGradientInScan` says so from a second state
  /// P_t = D_t(R_t) = D_t(P_{t+1}) + D_t(s q do_tᵀ), decays undelayed.
  FailureOr<RecurrenceOp> dvRecurrence(const StateContext &c, unsigned &gateTerms,
                                       unsigned *keyGateTerms) {
    const StateForm &form = c.form;
    bool initGradient = initGradientInScan(c);
    RecurrenceSpec spec = cotangentSpec(c, initGradient);
    unsigned dO = spec.input(c.dO);
    const TokenSlice &slice = initGradient ? c.all : c.drivers;
    SliceOperands operands = addSlice(spec, slice);
    SmallVector<unsigned> decays = addDelayedDecays(c, spec);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp dv = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, slice, operands);
      Value sq = body.scaled(x[form.query], form.scale);
      auto [scalar, key, value] = c.splitDecays(args(body, decays));
      Value R = applyDecays(body, body.states[0], scalar, key, value, false);
      Value doRow = c.cotangentRow(body, body.inputs[dO]);
      R = body.write(R, sq, doRow);
      Value u = body.read(R, x[form.key], 1.0, form.readBlock);
      Value beta = form.beta ? x[form.beta] : Value();
      Value dvValue = beta ? body.mul(u, body.splat(beta, u.getType())) : u;
      body.yieldedStates = {R};
      if (keyGateTerms) {
        Value w = body.readTransposed(R, c.valueRow(body, x));
        Value dkValue = beta ? body.mul(w, body.splat(beta, w.getType())) : w;
        SmallVector<std::pair<Value, Value>> seeds = {{x[form.key], dkValue}};
        if (beta)
          seeds.push_back({beta, body.sum(body.mul(x[form.key], w))});
        if (!c.normalizer)
          seeds.push_back({x[form.value], dvValue});
        auto grads = sliceGradients(body, slice, x, seeds);
        if (failed(grads))
          return void(status = failure());
        gradients = std::move(*grads);
        *keyGateTerms = outputGateTerms(body, x[form.key], dkValue, c.keyGates, c.scalarGates);
      } else if (!c.normalizer) {
        // v's inputs only (q, k and β got theirs from the dq and dk recurrences): the seed is
        // v's cotangent alone, so only the ops v is computed by carry one.
        auto grads = sliceGradients(body, sliceOf({form.value}), x, {{x[form.value], dvValue}});
        if (failed(grads))
          return void(status = failure());
        gradients = std::move(*grads);
      }
      gateTerms = body.outputs.size();
      if (c.valueGates)
        body.outputs.push_back(body.mul(x[form.value], dvValue));
      if (!initGradient)
        return;
      auto [scalarNow, keyNow, valueNow] = c.splitDecays(lookup(x, c.decays));
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
    });
    if (failed(status) || failed(addGradients(dv, gradients, c.betaOnly)))
      return failure();
    if (c.init) {
      Value dInit = initGradient ? dv.getFinalStates()[1]
                                 : firstTokenTransition(c, dv.getFinalStates()[0], false);
      adjoints.add(b, loc, c.init, c.normalizer ? dropUnitDim(b, loc, dInit) : dInit);
    }
    return dv;
  }

  //===--------------------------------------------------------------------===//
  // Product reads (tensor attention)
  //===--------------------------------------------------------------------===//
  //
  // o_t = (A_t ⊙ B_t)ᵀ q_t with A_t = A_{t−1} + k_A v_Aᵀ and B_t likewise (normalizers as
  // matrices with dv = 1 and v = 1). With r_t the read's cotangent and G_A,t that of A_t:
  //
  //   dq_t  = (A_t ⊙ B_t) r_t                 a forward product read of Aᵀ and Bᵀ with r
  //   G_A,t = G_A,t+1 + (q_t r_tᵀ) ⊙ B_t       from the final state's cotangent (G_B: with A_t)
  //   dv_A  = G_Aᵀ k_A,  dk_A = G_A v_A,  dA_0 = G_A,0
  //
  // G_A's write needs B_t in a reverse recurrence, where B runs backwards from the final
  // state: B_{t−1} = B_t − k_B v_Bᵀ (plain sums: nothing to undo but the writes). In f32 its
  // rounding would be relative to the final state's size, not B_t's, and the early tokens'
  // gradients would lose digits (measured: 1e-5 relative at T = 257, where the f32 token
  // loop of the forward gets 5e-7). So A and B run backwards in float64, from final states
  // that the dq recurrence sums in float64: their rounding stays far below f32's. (Checkpoints
  // of B every C tokens, replayed in f32, would do the same with O(T/C) states of memory.)

  /// What the backward recurrences of one product read share: the pair's initial states,
  /// final states and their cotangents as [N, H, dk, dv] matrices, inits null where absent.
  struct ProductContext {
    const ProductForm &form;
    bool normalizer;
    StateType matrix, transposed, wideMatrix, wideTransposed; // wide: float64
    Value inits[2], cotangents[2];
    /// The pair's final states summed in float64 (the dq recurrence's), transposed.
    Value wideFinalsT[2];
    TokenSlice drivers;

    Value valueRow(Body &body, const ClonedSlice &x, unsigned i) const {
      return normalizer ? body.ones(1) : x[form.values[i]];
    }
    Value cotangentRow(Body &body, Value dr) const {
      return normalizer ? body.splat(dr, VectorType::get({1}, body.b.getF32Type())) : dr;
    }
  };

  LogicalResult deriveProduct(const ProductForm &form) {
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type();
    bool normalizer = !form.type.isMatrix();
    int64_t dk = form.type.getKeyDim(), dv = form.type.getValueDim();
    Type f64 = b.getF64Type();
    ProductContext c{form,
                     normalizer,
                     StateType::get(ctx, {dk, dv}, f32),
                     StateType::get(ctx, {dv, dk}, f32),
                     StateType::get(ctx, {dk, dv}, f64),
                     StateType::get(ctx, {dv, dk}, f64),
                     {},
                     {},
                     {},
                     {}};
    auto asMatrix = [&](Value states) {
      return normalizer ? appendUnitDim(b, loc, states) : states;
    };
    unsigned pair[] = {form.first, form.second};
    for (auto [i, index] : llvm::enumerate(pair)) {
      if (index < op.getInits().size())
        c.inits[i] = asMatrix(op.getInits()[index]);
      c.cotangents[i] = asMatrix(adjoints.get(b, loc, op.getFinalStates()[index]));
    }
    c.drivers = sliceOf({form.query, form.keys[0], form.keys[1], form.values[0],
                         form.values[1]});
    if (failed(productQueryRecurrence(c)) || failed(productGradients(c, /*keys=*/true)))
      return failure();
    if (!normalizer || c.inits[0] || c.inits[1])
      return productGradients(c, /*keys=*/false);
    return success();
  }

  /// dq = (A ⊙ B) r: the pair transposed, read with the read's cotangent; and the pair again
  /// in float64, for its final states (into c.wideFinalsT).
  LogicalResult productQueryRecurrence(ProductContext &c) {
    const ProductForm &form = c.form;
    RecurrenceSpec spec;
    for (unsigned i : {0u, 1u}) {
      spec.states.push_back(c.transposed);
      RankedTensorType type = transposedStatesType(c.cotangents[i].getType());
      spec.inits.push_back(c.inits[i] ? transposeStates(b, loc, c.inits[i])
                                      : zerosLike(b, loc, type));
    }
    // Transposed: a normalizer's rows are then one long row, not dk rows of one element.
    for (unsigned i : {0u, 1u}) {
      RankedTensorType type = transposedStatesType(c.cotangents[i].getType());
      spec.states.push_back(c.wideTransposed);
      spec.inits.push_back(
          c.inits[i] ? convertElements(b, loc, transposeStates(b, loc, c.inits[i]), b.getF64Type())
                     : zerosLike(b, loc, RankedTensorType::get(type.getShape(), b.getF64Type())));
    }
    unsigned dr = spec.input(form.readCotangent);
    SliceOperands operands = addSlice(spec, c.drivers);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp dq = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.drivers, operands);
      for (unsigned i : {0u, 1u})
        body.yieldedStates.push_back(
            body.write(body.states[i], c.valueRow(body, x, i), x[form.keys[i]]));
      Value dqValue = body.readProduct(body.yieldedStates[0], body.yieldedStates[1],
                                       c.cotangentRow(body, body.inputs[dr]));
      for (unsigned i : {0u, 1u})
        body.yieldedStates.push_back(
            body.write(body.states[2 + i], c.valueRow(body, x, i), x[form.keys[i]]));
      auto grads = sliceGradients(body, c.drivers, x, {{x[form.query], dqValue}});
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
    });
    if (failed(status) || failed(addGradients(dq, gradients, false)))
      return failure();
    for (unsigned i : {0u, 1u})
      c.wideFinalsT[i] = dq.getFinalStates()[2 + i];
    return success();
  }

  /// The reverse recurrence of the pair, A and B running backwards (in float64) from their
  /// final states and G_A, G_B from their cotangents, transposed or not: `fill` reads the
  /// cotangents (body states 2 and 3, after this token's write) and outputs what it reads.
  RecurrenceOp productCotangentRecurrence(
      const ProductContext &c, bool transposed, SliceOperands &operands,
      function_ref<void(Body &, const ClonedSlice &, ArrayRef<Value> cotangents)> fill) {
    const ProductForm &form = c.form;
    RecurrenceSpec spec;
    spec.reverse = true;
    auto oriented = [&](Value x) { return transposed ? transposeStates(b, loc, x) : x; };
    for (unsigned i : {0u, 1u}) {
      spec.states.push_back(transposed ? c.wideTransposed : c.wideMatrix);
      spec.inits.push_back(transposed ? c.wideFinalsT[i]
                                      : transposeStates(b, loc, c.wideFinalsT[i]));
    }
    for (unsigned i : {0u, 1u}) {
      spec.states.push_back(transposed ? c.transposed : c.matrix);
      spec.inits.push_back(oriented(c.cotangents[i]));
    }
    unsigned dr = spec.input(form.readCotangent);
    operands = addSlice(spec, c.drivers);
    return buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.drivers, operands);
      Value q = x[form.query], r = c.cotangentRow(body, body.inputs[dr]);
      SmallVector<Value, 2> cotangents;
      for (unsigned i : {0u, 1u}) { // G_A with B_t, G_B with A_t
        Value other = body.states[1 - i];
        cotangents.push_back(transposed ? body.writeHadamard(body.states[2 + i], r, q, other)
                                        : body.writeHadamard(body.states[2 + i], q, r, other));
      }
      for (unsigned i : {0u, 1u}) { // the state before this token's write
        Value k = x[form.keys[i]], v = c.valueRow(body, x, i);
        body.yieldedStates.push_back(transposed ? body.write(body.states[i], body.neg(v), k)
                                                : body.write(body.states[i], k, body.neg(v)));
      }
      llvm::append_range(body.yieldedStates, cotangents);
      fill(body, x, cotangents);
    });
  }

  /// The keys' gradients dk_A = G_A v_A (the cotangents transposed, read with the values), or
  /// the values' dv_A = G_Aᵀ k_A (matrices) and the initial states' cotangents (G at the
  /// sequence's start); B's likewise.
  LogicalResult productGradients(const ProductContext &c, bool keys) {
    const ProductForm &form = c.form;
    SliceOperands operands;
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp backward = productCotangentRecurrence(
        c, /*transposed=*/keys, operands,
        [&](Body &body, const ClonedSlice &x, ArrayRef<Value> cotangents) {
          if (!keys && c.normalizer)
            return; // a normalizer has no values
          SmallVector<std::pair<Value, Value>> seeds;
          for (unsigned i : {0u, 1u}) {
            Value k = x[form.keys[i]];
            if (keys)
              seeds.push_back({k, body.read(cotangents[i], c.valueRow(body, x, i))});
            else
              seeds.push_back({x[form.values[i]], body.read(cotangents[i], k)});
          }
          auto grads = sliceGradients(body, c.drivers, x, seeds);
          if (failed(grads))
            return void(status = failure());
          gradients = std::move(*grads);
        });
    if (failed(status) || failed(addGradients(backward, gradients, false)))
      return failure();
    if (keys)
      return success();
    for (unsigned i : {0u, 1u})
      if (c.inits[i]) {
        Value init = op.getInits()[i == 0 ? form.first : form.second];
        Value gradient = backward.getFinalStates()[2 + i];
        adjoints.add(b, loc, init, c.normalizer ? dropUnitDim(b, loc, gradient) : gradient);
      }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // The delta rule
  //===--------------------------------------------------------------------===//
  //
  // With S'_t = D_t(S_{t−1}), ε_t = v_t − S'_tᵀk_t and δ_t = β_t ε_t the forward is
  // S_t = S'_t + k_t δ_tᵀ, read o_t = S_tᵀ(s q_t). With R_t the cotangent of S_t:
  //
  //   R_{t−1} = D_t((I − β_t k_t k_tᵀ) R_t) + s q_{t−1} do_{t−1}ᵀ    a reverse delta rule
  //   dδ_t = R_tᵀ k_t,  dv_t = β_t dδ_t,  dβ_t = ε_t · dδ_t
  //   dq_t = s S_t do_t,  dk_t = R_t δ_t − β_t S'_t dδ_t
  //   dB_t = q ⊙ dq − k ⊙ R δ − β k ⊙ S' dδ  (key gates; scalar ones: q · dq − v · dv)
  //
  // Once ε (a forward read of S'_t) and dδ (the reverse delta rule) are known, S and R are
  // plain recurrences again: S_t = D_t(S_{t−1}) + k δᵀ, and W_t = R_t − β k dδᵀ (the cotangent
  // of S'_t) = D_{t+1}(W_{t+1}) + s q doᵀ − β k dδᵀ, so the reads along the value axis
  // (S do, S' dδ, W δ) are reads of transposed plain states, which the chunked kernels run.

  /// Where the reverse recurrences read a driver one token late: the forward's input when
  /// the driver is one, else its per-token values (the corrections recurrence outputs them:
  /// past a sequence's end a delayed input reads 0, which must mean "no step", so drivers
  /// computed from inputs are never recomputed there).
  DenseMap<Value, Value> driverTensors;

  LogicalResult deriveDeltaState(StateContext &c) {
    const StateForm &form = c.form;
    FailureOr<RecurrenceOp> corrections = correctionsRecurrence(c);
    if (failed(corrections))
      return failure();
    Value eps = corrections->getResult(0);
    // R δ (a part of dk) from the dδ recurrence's state read transposed with δ, or from the
    // W recurrences on transposed copies (transposed-reads=0: the GPU's form).
    bool readBothWays = options.transposedReads;
    unsigned rDeltaTerms = 0;
    FailureOr<RecurrenceOp> cotangents =
        deltaCotangentRecurrence(c, eps, readBothWays ? &rDeltaTerms : nullptr);
    if (failed(cotangents))
      return failure();
    Value dDelta = cotangents->getResult(0);
    unsigned queryTerms;
    FailureOr<RecurrenceOp> queries = deltaQueryRecurrence(c, eps, dDelta, queryTerms);
    if (failed(queries))
      return failure();
    Value kRDelta; // k ⊙ R δ, for key gates
    if (readBothWays) {
      if (c.keyGates)
        kRDelta = cotangents->getResult(rDeltaTerms);
    } else {
      unsigned keyTerms, writeKeyTerms;
      FailureOr<RecurrenceOp> keys = deltaKeyRecurrence(c, eps, dDelta, true, keyTerms);
      if (failed(keys))
        return failure();
      FailureOr<RecurrenceOp> writeKeys = deltaKeyRecurrence(c, eps, dDelta, false, writeKeyTerms);
      if (failed(writeKeys))
        return failure();
      if (c.keyGates)
        kRDelta = adjoint::add(b, loc, keys->getResult(keyTerms),
                               (*writeKeys)->getResult(writeKeyTerms));
    }
    Value finalStateT = queries->getFinalStates()[0];
    // The gate terms: positive q ⊙ dq (q · dq); negative k ⊙ Rδ + β k ⊙ S'dδ (β v · dδ).
    if (c.keyGates &&
        failed(gateSum(c, queries->getResult(queryTerms),
                       adjoint::add(b, loc, kRDelta,
                                    queries->getResult(queryTerms + c.keyGates + c.scalarGates)),
                       0u, form.keyDecays, finalStateT)))
      return failure();
    if (c.scalarGates &&
        failed(gateSum(c, queries->getResult(queryTerms + c.keyGates),
                       queries->getResult(queryTerms + 2 * c.keyGates + c.scalarGates),
                       std::nullopt, form.scalarDecays, finalStateT)))
      return failure();
    return success();
  }

  /// The forward delta rule, outputting ε = v − S'ᵀk (a read before the write) and the
  /// per-token values of the computed drivers the reverse recurrences read one token late.
  FailureOr<RecurrenceOp> correctionsRecurrence(StateContext &c) {
    const StateForm &form = c.form;
    RecurrenceSpec spec;
    spec.states = {c.matrix};
    spec.inits = {c.init ? c.init : zerosLike(b, loc, c.dST.getType())};
    SliceOperands operands = addSlice(spec, c.all);
    SmallVector<Value> delayed = {form.key, form.beta};
    llvm::append_range(delayed, c.decays);
    SmallVector<Value> computed;
    RecurrenceOp corrections =
        buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
          ClonedSlice x = cloneSlice(body, c.all, operands);
          auto [scalar, key, value] = c.splitDecays(lookup(x, c.decays));
          Value S = applyDecays(body, body.states[0], scalar, key, value, false);
          Value u = body.read(S, x[form.key]);
          S = body.delta(S, x[form.key], x[form.beta]);
          body.yieldedStates = {body.write(S, x[form.key], x[form.value], x[form.beta])};
          body.outputs.push_back(body.sub(x[form.value], u));
          for (Value driver : delayed)
            if (!isRawInput(driver) && !llvm::is_contained(computed, driver)) {
              computed.push_back(driver);
              body.outputs.push_back(x[driver]);
            }
        });
    for (Value driver : delayed)
      driverTensors[driver] = isRawInput(driver) ? operandOf(cast<BlockArgument>(driver))
                                                 : corrections.getResult(
                                                       1 + llvm::find(computed, driver) -
                                                       computed.begin());
    c.decayTensors = llvm::map_to_vector(c.decays, [&](Value g) { return driverTensors[g]; });
    return corrections;
  }

  /// δ_t = β_t ε_t, in a body whose drivers are `x`.
  static Value deltaOf(const StateContext &c, Body &body, const ClonedSlice &x, Value eps) {
    return body.mul(eps, body.splat(x[c.form.beta], eps.getType()));
  }
  /// The dk part R_t δ_t: k's cotangent through the drivers' slice, and k ⊙ R δ for key gates
  /// from `keyTerms` on (what the W recurrences give with transposed copies).
  LogicalResult seedKeyFromRDelta(const StateContext &c, Body &body, const TokenSlice &slice,
                                  const ClonedSlice &x, Value rDelta,
                                  SmallVectorImpl<std::pair<BlockArgument, unsigned>> &gradients,
                                  unsigned &keyTerms) {
    auto grads = sliceGradients(body, slice, x, {{x[c.form.key], rDelta}});
    if (failed(grads))
      return failure();
    gradients.assign(grads->begin(), grads->end());
    keyTerms = body.outputs.size();
    if (c.keyGates)
      body.outputs.push_back(body.mul(x[c.form.key], rDelta));
    return success();
  }

  /// The dδ recurrence on Y_t = (I − β_t k_t k_tᵀ) R_t (key decays: deltaCotangentRecurrence),
  /// its drivers computed from `operands` of `spec` (c.drivers), do at input `dO`.
  FailureOr<RecurrenceOp> deltaCotangentsAfterDelta(const StateContext &c, RecurrenceSpec &spec,
                                                    const SliceOperands &operands, unsigned dO,
                                                    ArrayRef<unsigned> nextDecays,
                                                    std::optional<unsigned> epsInput,
                                                    unsigned *keyTerms) {
    const StateForm &form = c.form;
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp cotangents =
        buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
          ClonedSlice x = cloneSlice(body, c.drivers, operands);
          Value sq = body.scaled(x[form.query], form.scale);
          Value k = x[form.key], beta = x[form.beta];
          auto [scalar, key, value] = c.splitDecays(args(body, nextDecays));
          Value decayed = applyDecays(body, body.states[0], scalar, key, value, false);
          Value seen = body.read(decayed, k); // D_{t+1}(Y_{t+1})ᵀ k_t
          Value along = body.sum(body.mul(k, sq));
          Value dO_t = body.inputs[dO];
          body.outputs.push_back(body.add(seen, body.mul(dO_t, body.splat(along, dO_t.getType()))));
          Value Y = body.delta(decayed, k, beta);
          // (I − β k kᵀ) s q = s q − β (k · s q) k
          Value betaAlong = body.splat(body.mul(beta, along), k.getType());
          Value writeKey = body.sub(sq, body.mul(k, betaAlong));
          body.yieldedStates = {body.write(Y, writeKey, dO_t)};
          if (keyTerms) { // R_t δ_t = D_{t+1}(Y_{t+1}) δ_t + s q_t (do_t · δ_t)
            Value delta = deltaOf(c, body, x, body.inputs[*epsInput]);
            Value rDelta = body.add(body.readTransposed(decayed, delta),
                                    body.mul(sq, body.splat(body.sum(body.mul(dO_t, delta)),
                                                            sq.getType())));
            if (failed(seedKeyFromRDelta(c, body, c.drivers, x, rDelta, gradients, *keyTerms)))
              return void(status = failure());
          }
        });
    if (failed(status) || failed(addGradients(cotangents, gradients, c.betaOnly)))
      return failure();
    if (c.init)
      adjoints.add(b, loc, c.init,
                   firstTokenTransition(c, cotangents.getFinalStates()[0], /*delta=*/false));
    return cotangents;
  }

  /// dδ_t = R_tᵀk_t from the reverse delta rule R ← D_{t+1}((I − β_{t+1} k_{t+1} k_{t+1}ᵀ) R)
  /// + s q_t do_tᵀ (the next token's key, β and decays read one token late); with an initial
  /// state, its gradient D_0((I − β_0 k_0 k_0ᵀ) R_0) from R's final state
  /// (`firstTokenTransition`), or where `initGradientInScan` says so from a second state
  /// that takes this token's instead. A delta rule whose write key (s q) is not its delta
  /// key: chunked on the CPU (key decays through deltaCotangentsAfterDelta), the token scan
  /// on the GPU and with the second state.
  FailureOr<RecurrenceOp> deltaCotangentRecurrence(const StateContext &c, Value eps,
                                                   unsigned *keyTerms) {
    const StateForm &form = c.form;
    bool initGradient = initGradientInScan(c);
    bool commute = form.keyDecays.empty();
    RecurrenceSpec spec = cotangentSpec(c, initGradient);
    unsigned dO = spec.input(c.dO);
    std::optional<unsigned> epsInput;
    if (keyTerms)
      epsInput = spec.input(eps);
    // Scalar decays commute with the delta transition: decays first, then a delta rule whose
    // write takes its own key — the form the CPU's chunked kernel runs. Key decays do not
    // commute (KDA): the recurrence then runs on Y_t = (I − β_t k_t k_tᵀ) R_t,
    //   Y_t = (I − β_t k_t k_tᵀ)(D_{t+1}(Y_{t+1}) + s q_t do_tᵀ),
    // the next token's decays, then this token's delta, then a write whose key is
    // (I − β_t k_t k_tᵀ) s q_t: the chunked form's order again. dδ_t = R_tᵀ k_t =
    // D_{t+1}(Y_{t+1})ᵀ k_t + (s q_t · k_t) do_t, a read before the delta, and the initial
    // state's gradient D_0((I − β_0 k_0 k_0ᵀ) R_0) = D_0(Y_0) (deltaCotangentsAfterDelta; with
    // varlen and initial states the second state P keeps the token scan's form below).
    if (!commute && !initGradient) {
      SmallVector<unsigned> nextDecays = addDelayedDecays(c, spec);
      SliceOperands operands = addSlice(spec, c.drivers);
      return deltaCotangentsAfterDelta(c, spec, operands, dO, nextDecays, epsInput, keyTerms);
    }
    unsigned nextKey = spec.input(driverTensors.lookup(form.key), 1);
    unsigned nextBeta = spec.input(driverTensors.lookup(form.beta), 1);
    SmallVector<unsigned> nextDecays = addDelayedDecays(c, spec);
    const TokenSlice &slice = initGradient ? c.all : c.drivers;
    SliceOperands operands = addSlice(spec, slice);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp cotangents =
        buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
          ClonedSlice x = cloneSlice(body, slice, operands);
          Value sq = body.scaled(x[form.query], form.scale);
          auto [scalar, key, value] = c.splitDecays(args(body, nextDecays));
          Value R = body.states[0];
          if (commute)
            R = applyDecays(body, R, scalar, key, value, false);
          R = body.delta(R, body.inputs[nextKey], body.inputs[nextBeta]);
          if (!commute)
            R = applyDecays(body, R, scalar, key, value, false);
          R = body.write(R, sq, body.inputs[dO]);
          body.outputs.push_back(body.read(R, x[form.key]));
          body.yieldedStates = {R};
          if (keyTerms) { // R_t δ_t, a transposed read
            Value delta = deltaOf(c, body, x, body.inputs[*epsInput]);
            if (failed(seedKeyFromRDelta(c, body, slice, x, body.readTransposed(R, delta),
                                         gradients, *keyTerms)))
              return void(status = failure());
          }
          if (!initGradient)
            return;
          auto [scalarNow, keyNow, valueNow] = c.splitDecays(lookup(x, c.decays));
          if (commute) {
            // P_t = e^{a_t}(I − β k kᵀ)(P_{t+1} + s q doᵀ): the write term is
            // e^{a_t}(s q − β (k · s q) k) doᵀ, one rank-one write after the delta.
            Value k = x[form.key], beta = x[form.beta];
            Value along = body.mul(beta, body.sum(body.mul(k, sq)));
            Value writeKey = body.sub(sq, body.mul(k, body.splat(along, k.getType())));
            for (Value a : scalarNow)
              writeKey = body.mul(writeKey, body.splat(body.exp(a), writeKey.getType()));
            Value P = applyDecays(body, body.states[1], scalarNow, keyNow, valueNow, false);
            P = body.delta(P, k, beta);
            body.yieldedStates.push_back(body.write(P, writeKey, body.inputs[dO]));
            return;
          }
          Value P = body.write(body.states[1], sq, body.inputs[dO]);
          P = body.delta(P, x[form.key], x[form.beta]);
          body.yieldedStates.push_back(applyDecays(body, P, scalarNow, keyNow, valueNow, false));
        });
    if (failed(status) || failed(addGradients(cotangents, gradients, c.betaOnly)))
      return failure();
    if (c.init)
      adjoints.add(b, loc, c.init,
                   initGradient ? cotangents.getFinalStates()[1]
                                : firstTokenTransition(c, cotangents.getFinalStates()[0], true));
    return cotangents;
  }

  /// The forward state again as the plain recurrence Sᵀ ← D(Sᵀ) + δ kᵀ, read with do
  /// (dq = s S do) and before the write with dδ (S' dδ): gives dq, the −β S' dδ part of dk,
  /// dv = β dδ and dβ = ε · dδ, and the gate terms q ⊙ dq (q · dq) and β k ⊙ S' dδ (β v · dδ)
  /// from `gateTerms` on.
  FailureOr<RecurrenceOp> deltaQueryRecurrence(const StateContext &c, Value eps, Value dDelta,
                                               unsigned &gateTerms) {
    const StateForm &form = c.form;
    RecurrenceSpec spec;
    spec.states = {c.transposed};
    spec.inits = {c.init ? transposeStates(b, loc, c.init)
                         : zerosLike(b, loc, transposedStatesType(c.dST.getType()))};
    unsigned dO = spec.input(c.dO), e = spec.input(eps), dd = spec.input(dDelta);
    SliceOperands operands = addSlice(spec, c.all);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp queries = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, c.all, operands);
      auto [scalar, key, value] = c.splitDecays(lookup(x, c.decays));
      Value S = applyDecays(body, body.states[0], scalar, key, value, true);
      Value dDeltaRow = body.inputs[dd], epsRow = body.inputs[e];
      Value beta = x[form.beta];
      Value sDelta = body.read(S, dDeltaRow); // S' dδ
      Value delta = body.mul(epsRow, body.splat(beta, epsRow.getType()));
      S = body.write(S, delta, x[form.key]);
      Value dq = body.read(S, body.inputs[dO], form.scale);
      body.yieldedStates = {S};
      Value betaSDelta = body.mul(sDelta, body.splat(beta, sDelta.getType()));
      Value dv = body.mul(dDeltaRow, body.splat(beta, dDeltaRow.getType()));
      auto grads = sliceGradients(body, c.drivers, x,
                                  {{x[form.query], dq},
                                   {x[form.key], arith::NegFOp::create(body.b, loc, betaSDelta)},
                                   {x[form.value], dv},
                                   {beta, body.sum(body.mul(epsRow, dDeltaRow))}});
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
      gateTerms = outputGateTerms(body, x[form.query], dq, c.keyGates, c.scalarGates);
      if (c.keyGates)
        body.outputs.push_back(body.mul(x[form.key], betaSDelta));
      if (c.scalarGates)
        body.outputs.push_back(body.sum(body.mul(x[form.value], dv)));
    });
    if (failed(status) || failed(addGradients(queries, gradients, c.betaOnly)))
      return failure();
    return queries;
  }

  /// R δ for dk without transposed reads (the GPU's form; otherwise the dδ recurrence reads
  /// R transposed with δ): W = R − β k dδᵀ is the plain reverse recurrence W ← D_{t+1}(W) +
  /// s q doᵀ − β k dδᵀ, and R δ = W δ + β k (dδ · δ). Its two writes are two recurrences on
  /// transposed states read with δ (one kernel each: together in one, the GPU schedule spills):
  /// `fromQueries` the first (W's end value dS_T; it adds the rank-one term), else the
  /// second (from 0). Each gives its part of dk, and k ⊙ that part for key gates from
  /// `gateTerms` on.
  FailureOr<RecurrenceOp> deltaKeyRecurrence(const StateContext &c, Value eps, Value dDelta,
                                             bool fromQueries, unsigned &gateTerms) {
    const StateForm &form = c.form;
    RecurrenceSpec spec;
    spec.reverse = true;
    spec.states = {c.transposed};
    Value dSTt = transposeStates(b, loc, c.dST);
    spec.inits = {fromQueries ? dSTt : zerosLike(b, loc, dSTt.getType())};
    unsigned dO = spec.input(c.dO), e = spec.input(eps), dd = spec.input(dDelta);
    TokenSlice slice = sliceOf({form.query, form.key, form.beta});
    SliceOperands operands = addSlice(spec, slice);
    SmallVector<unsigned> nextDecays = addDelayedDecays(c, spec);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp keys = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      ClonedSlice x = cloneSlice(body, slice, operands);
      auto [scalar, key, value] = c.splitDecays(args(body, nextDecays));
      Value beta = x[form.beta], k = x[form.key], dDeltaRow = body.inputs[dd];
      Value W = applyDecays(body, body.states[0], scalar, key, value, true);
      if (fromQueries) {
        W = body.write(W, body.inputs[dO], body.scaled(x[form.query], form.scale));
      } else {
        Value betaK = body.mul(k, body.splat(beta, k.getType()));
        W = body.write(W, dDeltaRow, arith::NegFOp::create(body.b, loc, betaK));
      }
      body.yieldedStates = {W};
      Value delta = body.mul(body.inputs[e], body.splat(beta, dDeltaRow.getType()));
      Value dk = body.read(W, delta);
      if (fromQueries) {
        Value rank1 = body.mul(beta, body.sum(body.mul(dDeltaRow, delta)));
        dk = body.add(dk, body.mul(k, body.splat(rank1, k.getType())));
      }
      auto grads = sliceGradients(body, slice, x, {{k, dk}});
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
      gateTerms = body.outputs.size();
      if (c.keyGates)
        body.outputs.push_back(body.mul(k, dk));
    });
    if (failed(status) || failed(addGradients(keys, gradients, c.betaOnly)))
      return failure();
    return keys;
  }

  /// The gradient of `gates` (decays of one axis kind): Σ_{s ≥ t} (positive − negative)_s, a
  /// reverse cumulative sum (a 1 × n row state; a normalizer z ∈ ℝ¹ for scalar gates, whose
  /// read is the scalar itself) from Σ S_T ⊙ dS_T (S_T transposed: the dq recurrence's
  /// final state), carried back through each decay's per-token computation.
  LogicalResult gateSum(const StateContext &c, Value positive, Value negative,
                        std::optional<unsigned> axis, ArrayRef<Value> gates, Value finalStateT) {
    Type f32 = b.getF32Type();
    bool scalar = !axis;
    int64_t n = scalar ? 1 : (*axis == 0 ? c.dk : c.dv);
    RecurrenceSpec spec;
    spec.reverse = true;
    spec.states = {scalar ? StateType::get(b.getContext(), {1}, f32)
                          : StateType::get(b.getContext(), {1, n}, f32)};
    spec.inits = {stateProductSum(b, loc, finalStateT, c.dST, axis)};
    if (scalar)
      spec.inits[0] = dropUnitDim(b, loc, spec.inits[0]);
    unsigned pos = spec.input(positive), neg = spec.input(negative);
    TokenSlice slice = sliceOf(gates);
    SliceOperands operands = addSlice(spec, slice);
    SmallVector<std::pair<BlockArgument, unsigned>> gradients;
    LogicalResult status = success();
    RecurrenceOp sum = buildRecurrence(b, loc, spec, tokens, op.getCuSeqlens(), [&](Body &body) {
      Value x = body.splat(body.sub(body.inputs[pos], body.inputs[neg]),
                           VectorType::get({n}, f32));
      Value one = body.ones(1);
      Value C = scalar ? body.write(body.states[0], x) : body.write(body.states[0], one, x);
      body.yieldedStates = {C};
      Value dg = body.read(C, one);
      ClonedSlice cloned = cloneSlice(body, slice, operands);
      SmallVector<std::pair<Value, Value>> seeds;
      for (Value g : gates)
        seeds.push_back({cloned[g], dg});
      auto grads = sliceGradients(body, slice, cloned, seeds);
      if (failed(grads))
        return void(status = failure());
      gradients = std::move(*grads);
    });
    if (failed(status))
      return failure();
    return addGradients(sum, gradients, /*gate=*/true);
  }
};
} // namespace

LogicalResult linrec::emitRecurrenceAdjoint(OpBuilder &b, RecurrenceOp op, Adjoints &adjoints,
                                            const RecurrenceAdjointOptions &options) {
  return RecurrenceAdjoint(b, op, adjoints, options).run();
}
