//===- Array.cpp - dense host arrays --------------------------------------===//

#include "linrec/Reference/Array.h"

#include <cmath>

namespace linrec {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  }
  return "?";
}

std::string Array::shapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

double relativeRmsError(const Array &out, const Array &ref) {
  double diff = 0, norm = 0, outNorm = 0;
  for (size_t i = 0; i < ref.data.size() && i < out.data.size(); ++i) {
    double d = out.data[i] - ref.data[i];
    diff += d * d;
    norm += ref.data[i] * ref.data[i];
    outNorm += out.data[i] * out.data[i];
  }
  return norm == 0 ? std::sqrt(outNorm) : std::sqrt(diff / norm);
}

bool hasNonFinite(const Array &array) {
  for (double x : array.data)
    if (!std::isfinite(x))
      return true;
  return false;
}

} // namespace linrec
