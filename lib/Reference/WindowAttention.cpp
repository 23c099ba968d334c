//===- WindowAttention.cpp - float64 window attention ---------------------===//

#include "linrec/Reference/WindowAttention.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

namespace linrec {

int64_t windowStart(WindowKind kind, int64_t size, int64_t query) {
  switch (kind) {
  case WindowKind::Sliding:
    return std::max<int64_t>(0, query - size + 1);
  case WindowKind::Block:
    return query / size * size;
  case WindowKind::Terraced:
    return std::max<int64_t>(0, (query / size - 1) * size);
  }
  return query;
}

llvm::Expected<std::vector<Array>> interpretWindowAttention(WindowAttentionOp op,
                                                            const Array &q, const Array &k,
                                                            const Array &v) {
  auto fail = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
  };
  if (q.rank() != 4 || k.shape != q.shape || v.rank() != 4 ||
      !std::equal(v.shape.begin(), v.shape.begin() + 3, q.shape.begin()))
    return fail("linrec.window_attention: q, k must be [B, T, H, dk] and v [B, T, H, dv], got " +
                q.shapeString() + ", " + k.shapeString() + ", " + v.shapeString());
  int64_t B = q.shape[0], T = q.shape[1], H = q.shape[2], dk = q.shape[3], dv = v.shape[3];
  WindowKind kind = op.getWindow();
  WindowWeighting weighting = op.getWeighting();
  int64_t size = static_cast<int64_t>(op.getSize());
  double scale = op.getScale().convertToDouble();

  Array o(DType::F64, {B, T, H, dv}), denominator(DType::F64, {B, T, H});
  std::vector<double> scores;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        auto row = [&](const Array &x, int64_t t, int64_t d) {
          return &x.data[((b * T + t) * H + h) * d];
        };
        int64_t first = windowStart(kind, size, i);
        scores.assign(i - first + 1, 0.0);
        double max = -INFINITY;
        for (int64_t j = first; j <= i; ++j) {
          double s = 0;
          for (int64_t d = 0; d < dk; ++d)
            s += row(q, i, dk)[d] * row(k, j, dk)[d];
          scores[j - first] = scale * s;
          max = std::max(max, scale * s);
        }
        double sum = 0;
        for (double &s : scores) {
          s = weighting == WindowWeighting::Relu ? std::max(s, 0.0) : std::exp(s - max);
          sum += s;
        }
        double norm = weighting == WindowWeighting::Softmax ? 1 / sum : 1.0;
        double *out = &o.data[((b * T + i) * H + h) * dv];
        for (int64_t j = first; j <= i; ++j)
          for (int64_t c = 0; c < dv; ++c)
            out[c] += scores[j - first] * norm * row(v, j, dv)[c];
        denominator.data[(b * T + i) * H + h] = sum;
      }
  std::vector<Array> results = {std::move(o)};
  if (weighting == WindowWeighting::ShiftedExp)
    results.push_back(std::move(denominator));
  return results;
}

} // namespace linrec
