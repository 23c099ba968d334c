//===- InputChecks.cpp - the values a model's inputs may hold -------------===//

#include "linrec/Runtime/InputChecks.h"
#include "linrec/Builder/ModelInfo.h"

#include <cmath>
#include <cstdint>
#include <limits>

using namespace linrec;

/// Whether `x` is outside its domain: NaN or ±∞, or for a log-decay NaN or > 0 (+∞
/// included; −∞ is valid).
template <typename T> static bool invalid(T x, bool logDecay) {
  return logDecay ? !(x <= T(0)) : !(std::abs(x) <= std::numeric_limits<T>::max());
}

/// Whether any of `n` float32 values is invalid: integer tests on the bits, which the
/// compiler vectorizes (the float compares with their NaN cases did not: 3 GB/s).
static bool anyInvalid(const float *data, int64_t n, bool logDecay) {
  const uint32_t *bits = reinterpret_cast<const uint32_t *>(data);
  uint32_t bad = 0;
  if (logDecay) {
    for (int64_t i = 0; i < n; ++i) // > 0 (sign clear, not +0), or NaN
      bad |= uint32_t(int32_t(bits[i]) > 0) | uint32_t((bits[i] & 0x7fffffffu) > 0x7f800000u);
  } else {
    for (int64_t i = 0; i < n; ++i) // exponent all ones: ±∞ or NaN
      bad |= uint32_t((bits[i] & 0x7f800000u) == 0x7f800000u);
  }
  return bad;
}

static bool anyInvalid(const double *data, int64_t n, bool logDecay) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i)
    bad |= invalid(data[i], logDecay);
  return bad;
}

/// The first element of `data` (n values) that is out of its domain, or n: the scan first,
/// the position only when something is wrong.
template <typename T>
static int64_t firstInvalid(const T *data, int64_t n, bool logDecay) {
  if (!anyInvalid(data, n, logDecay))
    return n;
  for (int64_t i = 0; i < n; ++i)
    if (invalid(data[i], logDecay))
      return i;
  return n;
}

static std::string position(llvm::ArrayRef<int64_t> shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string text = "[";
  for (size_t d = 0; d < index.size(); ++d)
    text += (d ? ", " : "") + std::to_string(index[d]);
  return text + "]";
}

template <typename T>
static std::optional<std::string> check(bool logDecay, llvm::StringRef name, const T *data,
                                        llvm::ArrayRef<int64_t> shape) {
  int64_t n = Array::numElementsOf(shape);
  int64_t i = firstInvalid(data, n, logDecay);
  if (i == n)
    return std::nullopt;
  char value[32];
  // (A NaN's sign means nothing: "nan" either way.)
  double x = std::isnan(data[i]) ? std::fabs(double(data[i])) : double(data[i]);
  std::snprintf(value, sizeof(value), "%g", x);
  return (name + position(shape, i) + " = " + value +
          (logDecay ? ": a log-decay must be <= 0 (-inf is a full reset)"
                    : ": inputs must be finite"))
      .str();
}

ValueCheck linrec::inputDomain(llvm::StringRef model, llvm::StringRef name, DType dtype) {
  if (dtype == DType::I32 || dtype == DType::I64)
    return ValueCheck::None;
  return isLogDecayInput(model, name) ? ValueCheck::LogDecay : ValueCheck::Finite;
}

std::optional<std::string> linrec::checkValues(ValueCheck domain, llvm::StringRef name,
                                               const BufferView &view) {
  bool logDecay = domain == ValueCheck::LogDecay;
  if (domain == ValueCheck::None)
    return std::nullopt;
  if (view.dtype == DType::F32)
    return check(logDecay, name, static_cast<const float *>(view.data), view.shape);
  if (view.dtype == DType::F64)
    return check(logDecay, name, static_cast<const double *>(view.data), view.shape);
  return std::nullopt;
}

std::optional<std::string> linrec::checkInputValues(llvm::StringRef model, llvm::StringRef name,
                                                    const BufferView &view) {
  return checkValues(inputDomain(model, name, view.dtype), name, view);
}

std::optional<std::string> linrec::checkInputValues(llvm::StringRef model, llvm::StringRef name,
                                                    const Array &array) {
  if (inputDomain(model, name, array.dtype) == ValueCheck::None)
    return std::nullopt;
  return check(isLogDecayInput(model, name), name, array.data.data(), array.shape);
}
