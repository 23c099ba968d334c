//===- LinrecLayerOps.cpp - tensor ops around recurrences -----------------===//

#include "linrec/Dialect/LinrecOps.h"

using namespace mlir;
using namespace linrec;

LogicalResult HeadsRmsNormOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getInput().getType());
  if (!type || type.getRank() != 4 || !type.getElementType().isF32())
    return emitOpError() << "takes a [B, T, H, D] f32 tensor, got " << getInput().getType();
  if (getEps().convertToDouble() < 0)
    return emitOpError() << "eps must be >= 0, got " << getEps().convertToDouble();
  return success();
}
