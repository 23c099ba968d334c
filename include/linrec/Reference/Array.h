//===- Array.h - a dense host array for the reference path ------*- C++ -*-===//
//
// The reference interpreter and the tools exchange plain row-major arrays. Values are held in
// float64 whatever their file type (int32 offsets and f16/f32 inputs convert exactly);
// `dtype` remembers the type they were read as or should be written as.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_REFERENCE_ARRAY_H
#define LINREC_REFERENCE_ARRAY_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace linrec {

enum class DType { F16, BF16, F32, F64, I32, I64 };

/// "float32", "int32", ... as numpy names them.
const char *dtypeName(DType dtype);
/// Bytes per element.
int64_t dtypeBytes(DType dtype);

struct Array {
  DType dtype = DType::F64;
  std::vector<int64_t> shape;
  std::vector<double> data;

  Array() = default;
  Array(DType dtype, std::vector<int64_t> shape)
      : dtype(dtype), shape(std::move(shape)), data(numElementsOf(this->shape), 0.0) {}

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numElements() const { return numElementsOf(shape); }
  /// "[2, 7, 2, 16]".
  std::string shapeString() const;

  static int64_t numElementsOf(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// "[2, 7, 2, 16]"; a negative (dynamic) size prints as "?".
std::string shapeString(llvm::ArrayRef<int64_t> shape);

/// ‖out − ref‖₂ / ‖ref‖₂ in float64 (‖out‖₂ when ref is all zeros), the conformance metric.
double relativeRmsError(const Array &out, const Array &ref);

/// IEEE binary16 and bfloat16 bits to and from doubles (round to nearest even).
double halfToDouble(uint16_t bits);
uint16_t doubleToHalf(double value);
double bf16ToDouble(uint16_t bits);
uint16_t doubleToBf16(double value);

/// True if any element is NaN or ±Inf.
bool hasNonFinite(const Array &array);

} // namespace linrec

#endif // LINREC_REFERENCE_ARRAY_H
