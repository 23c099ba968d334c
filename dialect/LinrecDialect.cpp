//===- LinrecDialect.cpp - the linrec dialect -----------------------------===//

#include "linrec/Dialect/LinrecDialect.h"
#include "linrec/Dialect/LinrecOps.h"
#include "linrec/Dialect/LinrecTypes.h"

#include "mlir/Interfaces/FunctionInterfaces.h"
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

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

/// `attribute`'s value is a positive integer (or, with `allowZero`, non-negative).
static LogicalResult verifyCount(Operation *op, NamedAttribute attribute, bool allowZero) {
  auto value = dyn_cast<IntegerAttr>(attribute.getValue());
  if (!value || value.getInt() < (allowZero ? 0 : 1))
    return op->emitOpError("attribute '")
           << attribute.getName().getValue() << "' must be an integer of at least "
           << (allowZero ? 0 : 1);
  return success();
}

LogicalResult LinrecDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  StringRef name = attribute.getName().getValue();
  if (name == SharedMemoryBytesAttrHelper::getNameStr())
    return verifyCount(op, attribute, /*allowZero=*/true);
  // The rest describe a kernel function.
  bool known = name == AlgorithmAttrHelper::getNameStr() ||
               name == ValueTilesAttrHelper::getNameStr() ||
               name == HeadsPerItemAttrHelper::getNameStr() ||
               name == TokenBlockAttrHelper::getNameStr() ||
               name == GpuScheduleAttrHelper::getNameStr() ||
               name == WindowReadsAttrHelper::getNameStr() ||
               name == ValueChecksAttrHelper::getNameStr();
  if (!known)
    return op->emitOpError("has an unknown linrec attribute '") << name << "'";
  if (!isa<FunctionOpInterface>(op))
    return op->emitOpError("attribute '") << name << "' belongs on a kernel function";
  if (name == AlgorithmAttrHelper::getNameStr()) {
    if (!isa<AlgorithmAttr>(attribute.getValue()))
      return op->emitOpError("attribute '") << name << "' must be a #linrec.algorithm";
    return success();
  }
  if (name == GpuScheduleAttrHelper::getNameStr() || name == WindowReadsAttrHelper::getNameStr()) {
    if (!isa<UnitAttr>(attribute.getValue()))
      return op->emitOpError("attribute '") << name << "' must be a unit attribute";
    return success();
  }
  if (name == ValueChecksAttrHelper::getNameStr()) {
    auto checks = dyn_cast<DenseI32ArrayAttr>(attribute.getValue());
    if (!checks || llvm::any_of(checks.asArrayRef(), [](int32_t c) {
          return c < int32_t(ValueCheck::None) || c > int32_t(ValueCheck::LogDecay);
        }))
      return op->emitOpError("attribute '")
             << name << "' must be an array<i32> of 0 (none), 1 (finite) or 2 (log-decay)";
    return success();
  }
  return verifyCount(op, attribute, /*allowZero=*/false);
}

/// `linrec.name` on a function's argument or result: the name the layer API binds it by.
static LogicalResult verifyNameAttribute(Operation *op, NamedAttribute attribute) {
  if (attribute.getName().getValue() != "linrec.name")
    return op->emitOpError("has an unknown linrec argument or result attribute '")
           << attribute.getName().getValue() << "'";
  if (!isa<StringAttr>(attribute.getValue()))
    return op->emitOpError("attribute 'linrec.name' must be a string");
  return success();
}

/// `linrec.gate` on a backward's result: the gradient of a log-decay, beta or other gate-like
/// input (linrec-build-backward), checked with the looser tolerance of gate gradients; on a
/// layer's argument: a gate-like input (the layer builder's mark). A result the layer
/// pipeline turns into an out-parameter keeps it as an argument attribute.
static LogicalResult verifyArgumentOrResultAttribute(Operation *op, NamedAttribute attribute) {
  if (attribute.getName().getValue() == "linrec.gate") {
    if (!isa<UnitAttr>(attribute.getValue()))
      return op->emitOpError("attribute 'linrec.gate' must be a unit attribute");
    return success();
  }
  if (attribute.getName().getValue() == kValueStatusAttr) {
    if (!isa<UnitAttr>(attribute.getValue()))
      return op->emitOpError("attribute '") << kValueStatusAttr << "' must be a unit attribute";
    return success();
  }
  return verifyNameAttribute(op, attribute);
}

LogicalResult LinrecDialect::verifyRegionArgAttribute(Operation *op, unsigned, unsigned,
                                                      NamedAttribute attribute) {
  return verifyArgumentOrResultAttribute(op, attribute);
}

LogicalResult LinrecDialect::verifyRegionResultAttribute(Operation *op, unsigned, unsigned,
                                                         NamedAttribute attribute) {
  return verifyArgumentOrResultAttribute(op, attribute);
}
