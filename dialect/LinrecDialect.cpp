//===- LinrecDialect.cpp - the linrec dialect -----------------------------===//

#include "linrec/Dialect/LinrecDialect.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Dialect/LinrecTypes.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace linrec;

#include "linrec/Dialect/LinrecDialect.cpp.inc"
#include "linrec/Dialect/LinrecEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "linrec/Dialect/LinrecAttrs.cpp.inc"

void LinrecDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "linrec/Dialect/LinrecOps.cpp.inc"
      >();
  registerTypes();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "linrec/Dialect/LinrecAttrs.cpp.inc"
      >();
}
