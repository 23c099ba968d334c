//===- ShapeChecks.cpp - shared shape diagnostics for linrec ops ----------===//

#include "ShapeChecks.h"

#include "linrec/Dialect/Limits.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace linrec::detail {

static std::string formatDims(ArrayRef<NamedDim> dims) {
  std::string names, sizes;
  llvm::raw_string_ostream n(names), s(sizes);
  llvm::interleaveComma(dims, n, [&](const NamedDim &d) { n << d.name; });
  llvm::interleaveComma(dims, s, [&](const NamedDim &d) {
    if (ShapedType::isDynamic(d.size))
      s << '?';
    else
      s << d.size;
  });
  return "[" + names + "] = [" + sizes + "]";
}

LogicalResult checkTensorShape(Operation *op, Twine what, Type type, ArrayRef<NamedDim> dims) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return op->emitOpError() << "'" << what << "' must be a ranked tensor, got " << type;
  if (!isa<FloatType>(tensor.getElementType()))
    return op->emitOpError() << "'" << what << "' must have a float element type, got "
                             << tensor.getElementType();
  bool matches = tensor.getRank() == static_cast<int64_t>(dims.size());
  for (auto [i, d] : llvm::enumerate(dims)) {
    if (!matches)
      break;
    int64_t actual = tensor.getDimSize(i);
    matches = ShapedType::isDynamic(actual) || ShapedType::isDynamic(d.size) || actual == d.size;
  }
  if (!matches)
    return op->emitOpError() << "'" << what << "' must be " << formatDims(dims) << ", got "
                             << type;
  SmallVector<StringRef> names;
  for (const NamedDim &d : dims)
    names.push_back(d.name);
  if (std::optional<std::string> why = limits::checkDims(names, tensor.getShape()))
    return op->emitOpError() << "'" << what << "' " << formatDims(dims) << ": " << *why
                             << " (include/linrec/Dialect/Limits.h)";
  return success();
}

bool unifyDim(int64_t &known, int64_t size) {
  if (ShapedType::isDynamic(size))
    return true;
  if (ShapedType::isDynamic(known)) {
    known = size;
    return true;
  }
  return known == size;
}

} // namespace linrec::detail
