//===- KernelEmitter.cpp - what every recurrence kernel is made of --------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace linrec::codegen {

KernelEmitter::KernelEmitter(RecurrenceOp op, const RecurrenceAnalysis &analysis,
                             func::FuncOp kernel, int64_t chunkSize, int64_t valueTiles,
                             int64_t headsPerItem)
    : KernelBuilder(op.getLoc(), kernel), op(op), analysis(analysis), chunkSize(chunkSize),
      valueTiles(valueTiles), headsPerItem(headsPerItem) {
  numInputs = op.getInputs().size();
  numParams = op.getParams().size();
  numInits = op.getInits().size();
  numOperands = op->getNumOperands();
  numOutputs = op.getNumOutputs();
  unsigned trailing = numInputs + numParams + numInits;
  if (op.getCuSeqlens())
    cuSeqlens = kernel.getArgument(trailing++);
  if (op.getStateIndices())
    stateIndices = kernel.getArgument(trailing++);
  if (kernel.getNumArguments() == numOperands + op->getNumResults() + 3)
    setUpValueChecks();
}

/// The lanes a check accumulates rows of `n` values in: the widest of 16, 8, 4, 2, 1 that
/// divides n (16 f32: one AVX-512 register).
static int64_t checkWidth(int64_t n) {
  int64_t width = 16;
  while (n % width != 0)
    width /= 2;
  return width;
}

void KernelEmitter::setUpValueChecks() {
  valueStatus = kernel.getArgument(numOperands + op->getNumResults());
  auto addCheck = [&](unsigned operand, ValueCheck kind, int64_t rowSize) {
    OperandCheck check{operand, kind, checkWidth(rowSize), {}, {}};
    Type lane = kind == ValueCheck::Finite ? Type(b.getF32Type()) : Type(b.getI32Type());
    auto accumulator = [&] {
      Value buffer = memref::AllocaOp::create(b, MemRefType::get({check.width}, lane));
      auto type = VectorType::get({check.width}, lane);
      vector::StoreOp::create(
          b, arith::ConstantOp::create(b, DenseElementsAttr::get(type, b.getZeroAttr(lane))),
          buffer, ValueRange{index(0)});
      return buffer;
    };
    check.first = accumulator();
    if (kind == ValueCheck::LogDecay)
      check.second = accumulator();
    operandChecks.push_back(check);
  };
  // An argument the body uses as a log-decay as it is gets the log-decay check; other
  // inputs must be finite. (The runtime relies on a check only where its own rules for the
  // input agree, and scans the rest itself.)
  llvm::SmallPtrSet<Value, 8> logDecays;
  for (const StateUpdate &u : analysis.states)
    for (ArrayRef<Value> decays : {ArrayRef<Value>(u.scalarDecays), ArrayRef<Value>(u.keyDecays),
                                   ArrayRef<Value>(u.valueDecays)})
      logDecays.insert(decays.begin(), decays.end());
  for (auto [i, arg] : llvm::enumerate(op.getInputArgs())) {
    // A delayed input's last rows are never loaded; other float types are checked by the
    // runtime (its scans read them in their own type).
    auto memory = cast<MemRefType>(input(i).getType());
    if (op.getInputDelay(i) != 0 || !memory.getElementType().isF32() ||
        !getElementTypeOrSelf(arg.getType()).isF32())
      continue;
    auto vector = dyn_cast<VectorType>(arg.getType());
    addCheck(i, logDecays.contains(arg) ? ValueCheck::LogDecay : ValueCheck::Finite,
             vector ? vector.getNumElements() : 1);
  }
  // Initial states load row by row: dv / valueTiles columns of a matrix, one value else,
  // converted to f32 first when they are kept narrower (a bf16 state pool: NaN and ±inf
  // convert to themselves).
  for (unsigned i = 0; i < numInits; ++i) {
    auto type = cast<StateType>(op.getStateArgs()[i].getType());
    Type kept = cast<MemRefType>(init(i).getType()).getElementType();
    if (!(kept.isF32() || kept.isBF16() || kept.isF16()) || !type.getElementType().isF32())
      continue;
    addCheck(numInputs + numParams + i, ValueCheck::Finite,
             type.isMatrix() ? type.getValueDim() / valueTiles : 1);
  }
}

void KernelEmitter::checkTokenArguments(const IRMapping &mapping) {
  for (const OperandCheck &check : operandChecks)
    if (check.operand < numInputs)
      checkValues(check.operand, mapping.lookup(op.getInputArgs()[check.operand]));
}

void KernelEmitter::checkValues(unsigned operand, Value x) {
  const OperandCheck *found = llvm::find_if(
      operandChecks, [&](const OperandCheck &c) { return c.operand == operand; });
  if (found == operandChecks.end())
    return;
  const OperandCheck &check = *found;
  // The row as a 1-D vector, cut into accumulator-wide slices.
  int64_t n = 1;
  if (auto type = dyn_cast<VectorType>(x.getType())) {
    n = type.getNumElements();
    if (type.getRank() != 1)
      x = vector::ShapeCastOp::create(b, vectorOf(n), x);
  } else {
    x = vector::BroadcastOp::create(b, vectorOf(1), x);
  }
  assert(n % check.width == 0 && "a checked row is not whole accumulators");
  auto slice = [&](int64_t k) -> Value {
    if (n == check.width)
      return x;
    return vector::ExtractStridedSliceOp::create(b, x, ArrayRef<int64_t>{k * check.width},
                                                 ArrayRef<int64_t>{check.width},
                                                 ArrayRef<int64_t>{1});
  };
  Value zero = index(0);
  Value first = vector::LoadOp::create(
      b, VectorType::get({check.width}, getElementTypeOrSelf(check.first.getType())),
      check.first, ValueRange{zero});
  if (check.kind == ValueCheck::Finite) {
    Value zeroLanes = zeros(vectorOf(check.width));
    for (int64_t k = 0; k < n / check.width; ++k)
      first = math::FmaOp::create(b, slice(k), zeroLanes, first);
    vector::StoreOp::create(b, first, check.first, ValueRange{zero});
    return;
  }
  auto bitsType = VectorType::get({check.width}, b.getI32Type());
  Value second = vector::LoadOp::create(b, bitsType, check.second, ValueRange{zero});
  for (int64_t k = 0; k < n / check.width; ++k) {
    Value bits = arith::BitcastOp::create(b, bitsType, slice(k));
    first = arith::MaxSIOp::create(b, first, bits);
    second = arith::MaxUIOp::create(b, second, bits);
  }
  vector::StoreOp::create(b, first, check.first, ValueRange{zero});
  vector::StoreOp::create(b, second, check.second, ValueRange{zero});
}

void KernelEmitter::finishValueChecks() {
  if (!valueStatus)
    return;
  Value zero = index(0);
  Value failed = arith::ConstantIntOp::create(b, 0, 32);
  auto constant = [&](int64_t value) { return arith::ConstantIntOp::create(b, value, 32); };
  SmallVector<int32_t> checked(numOperands, int32_t(ValueCheck::None));
  for (const OperandCheck &check : operandChecks) {
    checked[check.operand] = int32_t(check.kind);
    auto lanes = [&](Value buffer) {
      return vector::LoadOp::create(
          b, VectorType::get({check.width}, getElementTypeOrSelf(buffer.getType())), buffer,
          ValueRange{zero});
    };
    Value bad;
    if (check.kind == ValueCheck::Finite) {
      Value sum = vector::ReductionOp::create(b, vector::CombiningKind::ADD, lanes(check.first));
      bad = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, sum, sum);
    } else {
      Value signedMax =
          vector::ReductionOp::create(b, vector::CombiningKind::MAXSI, lanes(check.first));
      Value unsignedMax =
          vector::ReductionOp::create(b, vector::CombiningKind::MAXUI, lanes(check.second));
      bad = arith::OrIOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, signedMax, constant(0)),
          arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, unsignedMax,
                                constant(int32_t(0xff800000u))));
    }
    failed = arith::OrIOp::create(
        b, failed, arith::SelectOp::create(b, bad, constant(int64_t(check.kind)), constant(0)));
  }
  Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ne, failed, constant(0));
  ifThenElse(
      any,
      [&] {
        memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::ori, failed, valueStatus,
                                    ValueRange{zero});
      },
      [] {});
  kernel->setAttr(kValueChecksAttr, b.getDenseI32ArrayAttr(checked));
}

void KernelEmitter::forEachWorkItem(function_ref<void(const WorkItem &)> body) {
  Value begin = kernel.getArgument(kernel.getNumArguments() - 2);
  Value end = kernel.getArgument(kernel.getNumArguments() - 1);
  forLoop(begin, end, [&](Value w) { body(workItemAt(w)); });
}

void KernelEmitter::forEachChunk(const WorkItem &item, int64_t chunk,
                                 function_ref<void(Value, Value, Value)> body) {
  Value length = arith::SubIOp::create(b, item.tokenEnd, item.tokenBegin);
  Value numChunks = arith::CeilDivUIOp::create(b, length, index(chunk));
  forLoop(index(0), numChunks, [&](Value c) {
    Value first =
        arith::AddIOp::create(b, item.tokenBegin, arith::MulIOp::create(b, c, index(chunk)));
    Value count =
        arith::MinUIOp::create(b, index(chunk), arith::SubIOp::create(b, item.tokenEnd, first));
    body(c, first, count);
  });
}

WorkItem KernelEmitter::workItemAt(Value w) {
  Value heads = memref::DimOp::create(b, input(0), 2);
  Value tokens = memref::DimOp::create(b, input(0), 1);
  WorkItem item;
  item.valueTile = index(0);
  if (valueTiles > 1) {
    item.valueTile = arith::RemUIOp::create(b, w, index(valueTiles));
    w = arith::DivUIOp::create(b, w, index(valueTiles));
  }
  if (headsPerItem == 1) {
    item.stateRow = arith::DivUIOp::create(b, w, heads);
    item.head = arith::RemUIOp::create(b, w, heads);
    item.numHeads = index(1);
  } else {
    Value groups = arith::CeilDivUIOp::create(b, heads, index(headsPerItem));
    item.stateRow = arith::DivUIOp::create(b, w, groups);
    item.head =
        arith::MulIOp::create(b, arith::RemUIOp::create(b, w, groups), index(headsPerItem));
    item.numHeads =
        arith::MinUIOp::create(b, index(headsPerItem), arith::SubIOp::create(b, heads, item.head));
  }
  item.stateSlot = item.stateRow;
  if (stateIndices) {
    // The verifier and the runtime keep the indices in [0, P): a load, no bounds check.
    Value slot = memref::LoadOp::create(b, stateIndices, ValueRange{item.stateRow});
    item.stateSlot = arith::IndexCastOp::create(b, b.getIndexType(), slot);
  }
  if (cuSeqlens) {
    item.row = index(0);
    auto offset = [&](Value i) {
      Value raw = memref::LoadOp::create(b, cuSeqlens, ValueRange{i});
      return arith::IndexCastOp::create(b, b.getIndexType(), raw).getResult();
    };
    item.tokenBegin = offset(item.stateRow);
    item.tokenEnd = offset(arith::AddIOp::create(b, item.stateRow, index(1)));
  } else {
    item.row = item.stateRow;
    item.tokenBegin = index(0);
    item.tokenEnd = tokens;
  }
  return item;
}

Value KernelEmitter::memoryToken(const WorkItem &item, Value position) {
  if (!op.getReverse())
    return position;
  Value last = arith::SubIOp::create(b, item.tokenEnd, index(1));
  return arith::SubIOp::create(b, arith::AddIOp::create(b, item.tokenBegin, last), position);
}

/// The indices of a [B, T, H, D...] (or [B, T, H]) tensor at (row, token, head).
static SmallVector<Value> tokenIndices(KernelEmitter &e, Value memref, const WorkItem &item,
                                       Value token) {
  SmallVector<Value> indices = {item.row, e.memoryToken(item, token), item.head};
  for (int64_t d = 3; d < cast<MemRefType>(memref.getType()).getRank(); ++d)
    indices.push_back(e.index(0));
  return indices;
}

void KernelEmitter::mapTokenArguments(IRMapping &mapping, const WorkItem &item, Value token,
                                      function_ref<bool(Value)> needed) {
  for (auto [i, arg] : llvm::enumerate(op.getInputArgs())) {
    if (needed && !needed(arg))
      continue;
    int64_t delay = op.getInputDelay(i);
    if (delay == 0) {
      mapping.map(arg, load(arg.getType(), input(i), tokenIndices(*this, input(i), item, token)));
      continue;
    }
    // The row `delay` tokens back, zeros before the sequence's first (the row at `token` is
    // loaded instead there: an address inside the buffer).
    Value reached = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, token,
                                          arith::AddIOp::create(b, item.tokenBegin, index(delay)));
    Value row = arith::SelectOp::create(
        b, reached, arith::SubIOp::create(b, token, index(delay)), token);
    Value value = load(arg.getType(), input(i), tokenIndices(*this, input(i), item, row));
    mapping.map(arg, arith::SelectOp::create(b, reached, value, zeros(arg.getType())));
  }
  for (auto [i, arg] : llvm::enumerate(op.getParamArgs())) {
    if (needed && !needed(arg))
      continue;
    auto paramType = cast<MemRefType>(param(i).getType());
    if (paramType.getRank() == 3) {
      // A projection's weight: the head's matrix stays in memory (cloneBodyOp reads its
      // rows; the chunked kernel multiplies the chunk's inputs by it).
      int64_t rows = paramType.getDimSize(1), columns = paramType.getDimSize(2);
      auto viewType = memref::SubViewOp::inferRankReducedResultType(
          {rows, columns}, paramType, ArrayRef<int64_t>{ShapedType::kDynamic, 0, 0},
          ArrayRef<int64_t>{1, rows, columns}, ArrayRef<int64_t>{1, 1, 1});
      mapping.map(arg, memref::SubViewOp::create(
                           b, cast<MemRefType>(viewType), param(i),
                           ArrayRef<OpFoldResult>{item.head, b.getIndexAttr(0), b.getIndexAttr(0)},
                           ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(rows),
                                                  b.getIndexAttr(columns)},
                           ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                                                  b.getIndexAttr(1)}));
      continue;
    }
    SmallVector<Value> indices = {item.head};
    for (int64_t d = 1; d < cast<MemRefType>(param(i).getType()).getRank(); ++d)
      indices.push_back(index(0));
    mapping.map(arg, load(arg.getType(), param(i), indices));
  }
}

Value KernelEmitter::startsBlock(const WorkItem &item, Value token, int64_t block) {
  Value position = arith::SubIOp::create(b, token, item.tokenBegin);
  if (!op.getReverse()) {
    Value offset = arith::RemUIOp::create(b, position, index(block));
    return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, offset, index(0));
  }
  // Reverse: blocks count from the sequence's start; a block starts at its last token (and
  // the sequence's last token, the first to run, starts its block).
  Value stored = arith::SubIOp::create(b, memoryToken(item, token), item.tokenBegin);
  Value offset = arith::RemUIOp::create(b, stored, index(block));
  Value last = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, offset, index(block - 1));
  Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, position, index(0));
  return arith::OrIOp::create(b, first, last);
}

/// Elements of `memref` per 64-byte cache line.
static int64_t elementsPerLine(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  return 64 / std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
}

/// Cache lines of a token's row of `memref` (one for a scalar per token).
static int64_t linesPerRow(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  int64_t rowElements = type.getRank() == 4 ? type.getDimSize(3) : 1;
  return llvm::divideCeil(rowElements, elementsPerLine(memref));
}

/// Up to 96 KB (d = 64 here) the rows go to L1. More (d = 128: 136-160 KB against a 32 KB L1)
/// would evict each other and the chunk's buffers before use, so they go to L2: 4-6% faster at
/// d = 128, 1-5% slower at d = 64 (measured: bench/results/2026-11-29-cpu-design-notes.md, "Session 7").
int64_t KernelEmitter::chunkPrefetchLocality() {
  int64_t lines = 0;
  for (unsigned i = 0; i < numInputs; ++i)
    lines += linesPerRow(input(i));
  for (unsigned j = 0; j < numOutputs; ++j)
    lines += linesPerRow(output(j));
  return lines * 64 * chunkSize > 96 * 1024 ? 2 : 3;
}

/// Prefetches every cache line of `token`'s row of `memref` with `locality` (3: L1, 2: L2).
static void prefetchRow(KernelEmitter &e, const WorkItem &item, Value token, Value memref,
                        bool forWrite, int64_t locality) {
  SmallVector<Value> indices = tokenIndices(e, memref, item, token);
  for (int64_t line = 0; line < linesPerRow(memref); ++line) {
    if (cast<MemRefType>(memref.getType()).getRank() == 4)
      indices.back() = e.index(line * elementsPerLine(memref));
    memref::PrefetchOp::create(e.b, memref, indices, /*isWrite=*/e.b.getBoolAttr(forWrite),
                               e.b.getI32IntegerAttr(locality),
                               /*isDataCache=*/e.b.getBoolAttr(true));
  }
}

void KernelEmitter::prefetchTokenRows(const WorkItem &item, Value token, int64_t locality) {
  for (unsigned i = 0; i < numInputs; ++i)
    prefetchRow(*this, item, token, input(i), /*forWrite=*/false, locality);
  // Output rows too: a store that misses waits for its line (read for ownership).
  for (unsigned j = 0; j < numOutputs; ++j)
    prefetchRow(*this, item, token, output(j), /*forWrite=*/true, locality);
}

void KernelEmitter::prefetchInputRowsToL1(const WorkItem &item, Value token) {
  for (unsigned i = 0; i < numInputs; ++i)
    prefetchRow(*this, item, token, input(i), /*forWrite=*/false, /*locality=*/3);
}

/// The body ops that compute `values` (stopping at values already in `mapping`), and the body
/// arguments they read.
static llvm::SmallPtrSet<Operation *, 16> sliceOps(RecurrenceOp op, ArrayRef<Value> values,
                                                   const IRMapping &mapping,
                                                   llvm::SmallPtrSetImpl<Value> *arguments) {
  llvm::SmallPtrSet<Operation *, 16> needed;
  SmallVector<Value> worklist(values.begin(), values.end());
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!v || mapping.contains(v))
      continue;
    Operation *def = v.getDefiningOp();
    if (!def) {
      assert(arguments && "unmapped body argument in a token slice");
      arguments->insert(v);
      continue;
    }
    assert(def->getBlock() == &op.getBodyBlock() && "a token slice reaches outside the body");
    if (needed.insert(def).second)
      llvm::append_range(worklist, def->getOperands());
  }
  return needed;
}

void KernelEmitter::cloneBodyOp(Operation &bodyOp, IRMapping &mapping) {
  auto project = dyn_cast<ProjectOp>(bodyOp);
  if (!project) {
    b.clone(bodyOp, mapping);
    return;
  }
  // u = Σ_d x_d W[d, :]: an FMA per row of W (rows of the head's matrix, in the cache).
  Value x = mapping.lookup(project.getInput()), weight = mapping.lookup(project.getWeight());
  VectorType resultType = project.getResult().getType();
  int64_t rows = project.getWeight().getType().getDimSize(0);
  if (kernel->hasAttr(kGpuScheduleAttr)) {
    // A GPU thread keeps x in registers: D extracts (a scratch buffer would be one allocation
    // shared by every thread).
    Value u = zeros(resultType);
    for (int64_t d = 0; d < rows; ++d) {
      Value xd = vector::BroadcastOp::create(
          b, resultType, vector::ExtractOp::create(b, x, ArrayRef<int64_t>{d}));
      u = vector::FMAOp::create(b, xd, load(resultType, weight, {index(d), index(0)}), u);
    }
    mapping.map(project.getResult(), u);
    return;
  }
  // On the CPU, a loop over d reading x_d from a scratch row (unrolled, D extracts made the IR,
  // and the compile time, grow with D).
  Value &scratch = projectionScratch[project];
  if (!scratch)
    scratch = alloc({rows});
  store(x, scratch, {index(0)});
  Value u = forLoopCarry(index(0), index(rows), zeros(resultType), [&](Value d, Value acc) {
    Value xd = vector::BroadcastOp::create(b, resultType, load(b.getF32Type(), scratch, {d}));
    return vector::FMAOp::create(b, xd, load(resultType, weight, {d, index(0)}), acc)
        .getResult();
  });
  mapping.map(project.getResult(), u);
}

void KernelEmitter::cloneSlice(ArrayRef<Value> values, IRMapping &mapping) {
  llvm::SmallPtrSet<Operation *, 16> needed = sliceOps(op, values, mapping, nullptr);
  for (Operation &bodyOp : op.getBodyBlock())
    if (needed.contains(&bodyOp))
      cloneBodyOp(bodyOp, mapping);
}

void KernelEmitter::cloneSliceAt(ArrayRef<Value> values, IRMapping &mapping,
                                 const WorkItem &item, Value token) {
  llvm::SmallPtrSet<Value, 8> arguments;
  llvm::SmallPtrSet<Operation *, 16> needed = sliceOps(op, values, mapping, &arguments);
  // Each argument is loaded just before the first op that reads it.
  auto loadOperands = [&](Operation &bodyOp) {
    for (Value operand : bodyOp.getOperands())
      if (arguments.erase(operand))
        mapTokenArguments(mapping, item, token, [&](Value arg) { return arg == operand; });
  };
  for (Operation &bodyOp : op.getBodyBlock()) {
    if (!needed.contains(&bodyOp))
      continue;
    loadOperands(bodyOp);
    cloneBodyOp(bodyOp, mapping);
  }
  // Values that are arguments themselves.
  mapTokenArguments(mapping, item, token, [&](Value arg) { return arguments.contains(arg); });
}

void KernelEmitter::loadInitialState(unsigned i, const WorkItem &item, Value state,
                                     Value column0) {
  auto type = cast<StateType>(op.getStateArgs()[i].getType());
  if (i >= numInits) {
    fill(state, 0.0);
    return;
  }
  // In the state's own float type: a float64 state keeps its init's digits.
  Type element = type.getElementType();
  int64_t width = cast<MemRefType>(state.getType()).getDimSize(1);
  if (!column0)
    column0 = index(0);
  unsigned operand = numInputs + numParams + i;
  forLoop(0, type.getKeyDim(), [&](Value r) {
    Value row = type.isMatrix() ? load(VectorType::get({width}, element), init(i),
                                       {item.stateSlot, item.head, r, column0})
                                : load(element, init(i), {item.stateSlot, item.head, r});
    checkValues(operand, row);
    store(row, state, {r, index(0)});
  });
}

void KernelEmitter::storeFinalState(unsigned i, const WorkItem &item, Value state,
                                    Value column0) {
  auto type = cast<StateType>(op.getStateArgs()[i].getType());
  Type element = type.getElementType();
  int64_t width = cast<MemRefType>(state.getType()).getDimSize(1);
  if (!column0)
    column0 = index(0);
  forLoop(0, type.getKeyDim(), [&](Value r) {
    if (type.isMatrix())
      store(load(VectorType::get({width}, element), state, {r, index(0)}), finalState(i),
            {item.stateSlot, item.head, r, column0});
    else
      store(load(element, state, {r, index(0)}), finalState(i), {item.stateSlot, item.head, r});
  });
}

bool KernelEmitter::updatesStatesInPlace() {
  if (!op.getStateIndices() || valueTiles != 1)
    return false;
  for (auto [i, arg] : llvm::enumerate(op.getStateArgs())) {
    auto type = cast<StateType>(arg.getType());
    Type kept = cast<MemRefType>(finalState(i).getType()).getElementType();
    // f32 states kept in bf16 or f16 are computed in f32 row by row and rounded as stored.
    bool narrower = type.getElementType().isF32() && (kept.isBF16() || kept.isF16());
    if (!type.isMatrix() || (kept != type.getElementType() && !narrower))
      return false;
  }
  return true;
}

Value KernelEmitter::finalStateView(unsigned i, const WorkItem &item) {
  auto type = cast<StateType>(op.getStateArgs()[i].getType());
  Value pool = finalState(i);
  auto poolType = cast<MemRefType>(pool.getType());
  SmallVector<OpFoldResult> offsets = {item.stateSlot, item.head, b.getIndexAttr(0),
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(1),
                                     b.getIndexAttr(type.getKeyDim()),
                                     b.getIndexAttr(type.getValueDim())};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      {type.getKeyDim(), type.getValueDim()}, poolType, offsets, sizes, strides);
  return memref::SubViewOp::create(b, cast<MemRefType>(viewType), pool, offsets, sizes,
                                   strides);
}

void KernelEmitter::checkStateInPlace(unsigned i, Value view) {
  if (!valueStatus)
    return;
  auto type = cast<StateType>(op.getStateArgs()[i].getType());
  unsigned operand = numInputs + numParams + i;
  forLoop(0, type.getKeyDim(), [&](Value r) {
    checkValues(operand, load(VectorType::get({type.getValueDim()}, type.getElementType()),
                              view, {r, index(0)}));
  });
}

void KernelEmitter::storeOutputs(IRMapping &mapping, const WorkItem &item, Value token) {
  for (auto [j, out] : llvm::enumerate(op.getYield().getOutputs()))
    storeOutput(j, mapping.lookup(out), item, token);
}

void KernelEmitter::storeOutput(unsigned j, Value value, const WorkItem &item, Value token) {
  store(value, output(j), tokenIndices(*this, output(j), item, token));
}

LogicalResult resolveAlgorithm(RecurrenceOp op, RecurrenceAnalysis &analysis) {
  std::optional<Algorithm> forced = op.getAlgorithm();
  if (!forced)
    return success();
  if (*forced == Algorithm::ChunkedProduct) {
    if (!analysis.productChunkable)
      return op.emitOpError("is marked chunked_product, but ") << analysis.reason;
    analysis.algorithm = Algorithm::ChunkedProduct;
    return success();
  }
  if (*forced != Algorithm::Sequential && analysis.algorithm == Algorithm::Sequential)
    return op.emitOpError("is marked ")
           << stringifyAlgorithm(*forced) << " but is sequential: " << analysis.reason;
  if (*forced == Algorithm::Sequential)
    analysis.algorithm = Algorithm::Sequential;
  return success();
}

LogicalResult checkNoTransposedReads(RecurrenceOp op, StringRef kernel) {
  for (Operation &bodyOp : op.getBodyBlock())
    if (auto read = dyn_cast<ReadOp>(bodyOp); read && read.getTransposed())
      return read.emitOpError() << "reads its state transposed, which " << kernel
                                << " does not (run linrec-transpose-reads first)";
  return success();
}

Value chunkLogDecay(ImplicitLocOpBuilder &b, ArrayRef<Value> values, IRMapping &mapping) {
  Value total = mapping.lookup(values.front());
  for (Value v : values.drop_front())
    total = arith::AddFOp::create(b, total, mapping.lookup(v));
  Type element = getElementTypeOrSelf(total.getType());
  Value floor = arith::ConstantOp::create(b, b.getFloatAttr(element, kLogDecayFloor));
  if (auto vector = dyn_cast<VectorType>(total.getType()))
    floor = vector::BroadcastOp::create(b, vector, floor);
  return arith::MaximumFOp::create(b, total, floor);
}

Value decayDifference(ImplicitLocOpBuilder &b, Value hiI, Value loI, Value hiJ, Value loJ) {
  return arith::AddFOp::create(b, arith::SubFOp::create(b, hiI, hiJ),
                               arith::SubFOp::create(b, loI, loJ));
}

std::pair<Value, Value> addToDecaySum(ImplicitLocOpBuilder &b, Value hi, Value lo, Value g) {
  Value sum = arith::AddFOp::create(b, hi, g);
  // The rounding error of hi + g, from whichever operand is larger in magnitude.
  Value hiLarger = arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, math::AbsFOp::create(b, hi),
                                         math::AbsFOp::create(b, g));
  Value larger = arith::SelectOp::create(b, hiLarger, hi, g);
  Value smaller = arith::SelectOp::create(b, hiLarger, g, hi);
  Value error = arith::AddFOp::create(b, arith::SubFOp::create(b, larger, sum), smaller);
  Value carried = arith::AddFOp::create(b, lo, error);
  // Renormalized (Fast2Sum: |sum| >= |carried|), so that hi alone is b rounded to f32, as the
  // forms that take e^{b_i} by itself need.
  Value hiOut = arith::AddFOp::create(b, sum, carried);
  Value loOut = arith::SubFOp::create(b, carried, arith::SubFOp::create(b, hiOut, sum));
  return {hiOut, loOut};
}

int64_t valueTilesFor(RecurrenceOp op, const RecurrenceAnalysis &analysis, int64_t requested) {
  if (requested <= 1 || (analysis.algorithm != Algorithm::ChunkedDiagonal &&
                         analysis.algorithm != Algorithm::ChunkedDelta))
    return 1;
  int64_t dv = 0;
  for (const StateUpdate &s : analysis.states) {
    if (!s.type.isMatrix() || (dv && s.type.getValueDim() != dv))
      return 1;
    // A transposed read sums over the value axis: every tile would hold a part of it.
    if (llvm::any_of(s.reads, [](ReadOp read) { return read.getTransposed(); }))
      return 1;
    dv = s.type.getValueDim();
  }
  if (dv % requested != 0)
    return 1;
  for (Value out : op.getYield().getOutputs()) {
    auto read = out.getDefiningOp<ReadOp>();
    if (!read || !read.getState().getType().isMatrix())
      return 1;
  }
  return requested;
}

} // namespace linrec::codegen
