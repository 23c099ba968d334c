//===- BuildBackward.cpp - a layer function's backward, derived from its ops ===//
//
// For @f the pass writes @f_backward: f's arguments and one cotangent per result in, one
// gradient per float argument out (L = Σ ⟨cotangent, result⟩). The forward is recomputed in
// it and the ops' adjoints follow in reverse order: recurrences (RecurrenceBackward.cpp), the
// layer ops around them (LayerOpBackward.cpp).
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
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

static StringRef nameOf(func::FuncOp func, unsigned i, bool result) {
  auto name = result ? func.getResultAttrOfType<StringAttr>(i, "linrec.name")
                     : func.getArgAttrOfType<StringAttr>(i, "linrec.name");
  return name ? name.getValue() : StringRef();
}

static bool isFloatTensor(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

static FailureOr<func::FuncOp> buildBackward(func::FuncOp func, StringRef suffix,
                                             const RecurrenceAdjointOptions &options) {
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
        if (failed(emitGenericAdjoint(b, generic, it->second, adjoints)))
          return failure();
      continue;
    }
    if (auto norm = dyn_cast<HeadsRmsNormOp>(op)) {
      if (auto it = adjoints.map.find(norm.getResult()); it != adjoints.map.end())
        adjoints.add(b, loc, norm.getInput(), emitHeadsRmsNormAdjoint(b, loc, norm, it->second));
      continue;
    }
    if (auto window = dyn_cast<WindowAttentionOp>(op)) {
      if (llvm::any_of(window->getResults(), [&](Value r) { return adjoints.map.count(r); }) &&
          failed(emitWindowAttentionAdjoint(b, window, adjoints)))
        return failure();
      continue;
    }
    if (isa<tensor::PadOp, tensor::ExtractSliceOp, tensor::InsertSliceOp>(op)) {
      if (adjoints.map.count(op->getResult(0)) && failed(emitTensorPartAdjoint(b, op, adjoints)))
        return failure();
      continue;
    }
    auto recurrence = dyn_cast<RecurrenceOp>(op);
    if (!recurrence)
      return op->emitOpError("has no derived backward yet (linrec-build-backward derives "
                             "linrec.recurrence, linrec.window_attention, "
                             "linrec.heads_rms_norm, linalg.generic and tensor.pad, "
                             "extract_slice and insert_slice; run linrec-normalize first for "
                             "named ops)");
    if (llvm::none_of(recurrence->getResults(),
                      [&](Value r) { return adjoints.map.count(r); }))
      continue; // nothing the loss depends on
    if (recurrence.getStateIndices())
      return recurrence.emitOpError("has no derived backward: state_indices (state pools) "
                                    "serve decoding, and training keeps one state per "
                                    "sequence");
    if (failed(emitRecurrenceAdjoint(b, recurrence, adjoints, options)))
      return failure();
  }
  SmallVector<Value> gradients;
  for (unsigned i = 0; i < numArgs; ++i) {
    if (!isFloatTensor(type.getInput(i)))
      continue;
    // A log-decay or β the derivation found, or an input the layer marks gate-like.
    if (adjoints.gates.contains(entry->getArgument(i)) || func.getArgAttr(i, "linrec.gate"))
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
      FailureOr<func::FuncOp> backward = buildBackward(func, suffix, {transposedReads});
      if (failed(backward))
        return signalPassFailure();
    }
  }
};
} // namespace
