//===- LinrecTypes.cpp - linrec types -------------------------------------===//

#include "linrec/Dialect/LinrecTypes.h"
#include "linrec/Dialect/LinrecDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace linrec;

#define GET_TYPEDEF_CLASSES
#include "linrec/Dialect/LinrecTypes.cpp.inc"

void LinrecDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "linrec/Dialect/LinrecTypes.cpp.inc"
      >();
}

// `<` dk (`x` dv)? `x` element-type `>`
Type StateType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/false, /*withTrailingX=*/true) ||
      parser.parseType(elementType) || parser.parseGreater())
    return {};
  return parser.getChecked<StateType>(parser.getContext(), shape, elementType);
}

void StateType::print(AsmPrinter &printer) const {
  printer << '<';
  for (int64_t dim : getShape())
    printer << dim << 'x';
  printer << getElementType() << '>';
}

LogicalResult StateType::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayRef<int64_t> shape, Type elementType) {
  if (shape.size() != 1 && shape.size() != 2)
    return emitError() << "a state is a dk x dv matrix or a dk normalizer, got rank "
                       << shape.size();
  if (llvm::any_of(shape, [](int64_t d) { return d <= 0; }))
    return emitError() << "state dims must be positive";
  if (!isa<FloatType>(elementType))
    return emitError() << "state element type must be a float, got " << elementType;
  return success();
}
