//===- RandomInputs.cpp - inputs that suit a function's recurrences -------===//

#include "linrec/Runtime/RandomInputs.h"
#include "RuntimeError.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/PassManager.h"

#include <cmath>

using namespace mlir;

namespace linrec {

/// Finds each function argument's role by looking at what the body argument it becomes in
/// the (normalized) recurrence is used for.
static std::map<unsigned, ArgumentRole> rolesIn(func::FuncOp func) {
  std::map<unsigned, ArgumentRole> roles;
  func.walk([&](RecurrenceOp rec) {
    if (Value cu = rec.getCuSeqlens())
      if (auto arg = dyn_cast<BlockArgument>(cu))
        roles[arg.getArgNumber()] = ArgumentRole::Offsets;
    auto bodyArgs = rec.getBodyBlock().getArguments().drop_front(rec.getNumStates());
    ValueRange operands = rec->getOperands();
    for (auto [operand, bodyArg] : llvm::zip(operands, bodyArgs)) {
      // A slice of an argument (a memory of a Mixture-of-Memories layer) has its role too.
      Value source = operand;
      while (auto slice = source.getDefiningOp<tensor::ExtractSliceOp>())
        source = slice.getSource();
      auto funcArg = dyn_cast<BlockArgument>(source);
      if (!funcArg)
        continue;
      // Through selects too (MoM selects an unrouted memory's gates to zero).
      SmallVector<Value> values = {bodyArg};
      while (!values.empty()) {
        Value value = values.pop_back_val();
        for (OpOperand &use : value.getUses()) {
          Operation *user = use.getOwner();
          ArgumentRole role = ArgumentRole::Plain;
          if (auto select = dyn_cast<arith::SelectOp>(user); select && use.getOperandNumber() > 0)
            values.push_back(select.getResult());
          else if (auto decay = dyn_cast<DecayOp>(user); decay && value == decay.getLogDecay())
            role = ArgumentRole::LogDecay;
          else if (auto delta = dyn_cast<DeltaOp>(user))
            role = value == delta.getBeta() ? ArgumentRole::Beta : ArgumentRole::UnitKey;
          if (role != ArgumentRole::Plain)
            roles[funcArg.getArgNumber()] = role;
        }
      }
    }
  });
  return roles;
}

Array randomArgument(RankedTensorType type, ArgumentRole role, std::mt19937_64 &rng,
                     int64_t tokens) {
  std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
  Array array(elementDType(type.getElementType()).value_or(DType::F32), shape);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto roundTo = [&](double x) {
    return array.dtype == DType::F32 ? static_cast<double>(static_cast<float>(x)) : x;
  };
  if (role == ArgumentRole::Offsets) {
    // Split T tokens into the N sequences at sorted random cut points.
    int64_t n = array.numElements() - 1;
    std::uniform_int_distribution<int64_t> cut(0, tokens);
    std::vector<int64_t> cuts;
    for (int64_t i = 1; i < n; ++i)
      cuts.push_back(cut(rng));
    llvm::sort(cuts);
    array.data.front() = 0;
    for (int64_t i = 1; i < n; ++i)
      array.data[i] = static_cast<double>(cuts[i - 1]);
    array.data.back() = static_cast<double>(tokens);
    return array;
  }
  for (double &x : array.data) {
    double r = normal(rng);
    switch (role) {
    case ArgumentRole::LogDecay: // logsigmoid(N(2, 1)): mostly weak decays, some strong
      x = std::min(r + 2, 0.0) - std::log1p(std::exp(-std::abs(r + 2)));
      break;
    case ArgumentRole::Beta:
      x = 1 / (1 + std::exp(-r));
      break;
    default:
      x = r;
    }
  }
  if (role == ArgumentRole::UnitKey && !shape.empty()) {
    int64_t d = shape.back();
    for (int64_t base = 0; base < array.numElements(); base += d) {
      double norm = 0;
      for (int64_t i = 0; i < d; ++i)
        norm += array.data[base + i] * array.data[base + i];
      for (int64_t i = 0; i < d; ++i)
        array.data[base + i] /= std::sqrt(norm);
    }
  }
  for (double &x : array.data)
    x = roundTo(x);
  return array;
}

llvm::Expected<std::map<unsigned, ArgumentRole>> argumentRoles(ModuleOp module,
                                                               llvm::StringRef funcName) {
  // Roles come from the generic form, where every use is explicit.
  OwningOpRef<ModuleOp> normalized(module.clone());
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  if (failed(pm.run(*normalized)))
    return runtimeError("linrec-normalize failed");
  auto func = normalized->lookupSymbol<func::FuncOp>(funcName);
  if (!func)
    return runtimeError("no function @" + funcName);
  return rolesIn(func);
}

int64_t argumentTokens(TypeRange argumentTypes) {
  for (Type t : argumentTypes)
    if (auto tensor = dyn_cast<RankedTensorType>(t); tensor && tensor.getRank() >= 3)
      return tensor.getDimSize(1); // q, k, v come first: [B, T, H, D]
  return 1;
}

} // namespace linrec
