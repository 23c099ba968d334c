//===- LinrecWindowOps.cpp - local softmax / relu attention ----------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "ShapeChecks.h"

using namespace mlir;
using namespace linrec;
using linrec::detail::checkTensorShape;
using linrec::detail::NamedDim;
using linrec::detail::unifyDim;

LogicalResult WindowAttentionOp::verify() {
  for (NamedAttribute attr : (*this)->getDiscardableAttrs())
    if (!attr.getName().getValue().contains('.'))
      return emitOpError() << "has unknown attribute '" << attr.getName().getValue() << "'";
  if (getSize() < 1)
    return emitOpError() << "window size must be positive, got " << getSize();
  auto qType = dyn_cast<RankedTensorType>(getQ().getType());
  auto vType = dyn_cast<RankedTensorType>(getV().getType());
  if (!qType || qType.getRank() != 4)
    return emitOpError() << "'q' must be [B, T, H, dk], got " << getQ().getType();
  if (!vType || vType.getRank() != 4)
    return emitOpError() << "'v' must be [B, T, H, dv], got " << getV().getType();
  int64_t batch = qType.getDimSize(0), tokens = qType.getDimSize(1),
          heads = qType.getDimSize(2);
  for (Value x : {getK(), getV()}) {
    auto type = dyn_cast<RankedTensorType>(x.getType());
    if (!type || type.getRank() != 4)
      continue;
    unifyDim(batch, type.getDimSize(0));
    unifyDim(tokens, type.getDimSize(1));
    unifyDim(heads, type.getDimSize(2));
  }
  NamedDim B{"B", batch}, T{"T", tokens}, H{"H", heads};
  NamedDim DK{"dk", qType.getDimSize(3)}, DV{"dv", vType.getDimSize(3)};
  for (auto [x, name, dims] :
       {std::tuple(getQ(), "q", SmallVector<NamedDim>{B, T, H, DK}),
        std::tuple(getK(), "k", SmallVector<NamedDim>{B, T, H, DK}),
        std::tuple(getV(), "v", SmallVector<NamedDim>{B, T, H, DV}),
        std::tuple(getO(), "o", SmallVector<NamedDim>{B, T, H, DV})})
    if (failed(checkTensorShape(*this, name, x.getType(), dims)))
      return failure();
  bool shifted = getWeighting() == WindowWeighting::ShiftedExp;
  if (shifted != bool(getDenominator()))
    return emitOpError() << (shifted ? "with shifted_exp weighting returns (o, denominator)"
                                     : "returns only o unless the weighting is shifted_exp");
  if (getDenominator() &&
      failed(checkTensorShape(*this, "denominator", getDenominator().getType(), {B, T, H})))
    return failure();
  return success();
}

