//===- NpyTest.cpp - .npy reading and writing -----------------------------===//

#include "linrec/Runtime/Npy.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace linrec;

namespace {

Array makeArray(DType dtype, std::vector<int64_t> shape) {
  Array a(dtype, std::move(shape));
  for (size_t i = 0; i < a.data.size(); ++i)
    a.data[i] = dtype == DType::I32 || dtype == DType::I64 ? double(i) - 3 : 0.25 * i - 1.5;
  return a;
}

std::string errorOf(llvm::StringRef bytes) {
  llvm::Expected<Array> a = parseNpy(bytes, "x.npy");
  EXPECT_FALSE(static_cast<bool>(a));
  return a ? "" : llvm::toString(a.takeError());
}

/// A header-only .npy (format 1.0) with the given dict, followed by `data`.
std::string npyWithHeader(const std::string &dict, const std::string &data) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

TEST(Npy, RoundTripsEveryDtype) {
  for (DType dtype : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I32, DType::I64}) {
    Array a = makeArray(dtype, {2, 3, 4});
    std::string bytes = serializeNpy(a);
    EXPECT_EQ((bytes.size() - a.numElements() * (dtype == DType::F16 || dtype == DType::BF16
                                                     ? 2
                                                     : dtype == DType::F32 || dtype == DType::I32
                                                           ? 4
                                                           : 8)) %
                  64,
              0u)
        << "data must start 64-byte aligned";
    llvm::Expected<Array> b = parseNpy(bytes, "roundtrip");
    ASSERT_TRUE(static_cast<bool>(b)) << llvm::toString(b.takeError());
    EXPECT_EQ(b->dtype, dtype);
    EXPECT_EQ(b->shape, a.shape);
    EXPECT_EQ(b->data, a.data) << dtypeName(dtype); // all values are exact in every dtype
  }
}

TEST(Npy, ScalarsAndEmptyArrays) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, {0}, {3, 0, 2}, {5}}) {
    Array a = makeArray(DType::F32, shape);
    llvm::Expected<Array> b = parseNpy(serializeNpy(a), "shape");
    ASSERT_TRUE(static_cast<bool>(b)) << llvm::toString(b.takeError());
    EXPECT_EQ(b->shape, shape);
    EXPECT_EQ(b->data, a.data);
  }
}

TEST(Npy, HalfPrecisionRoundsToNearestEven) {
  Array a(DType::F16, {4});
  a.data = {1.0 + 1.0 / 2048, 65504.0, 1e-8, -2.0};
  llvm::Expected<Array> b = parseNpy(serializeNpy(a), "f16");
  ASSERT_TRUE(static_cast<bool>(b));
  EXPECT_EQ(b->data[0], 1.0);    // a tie rounds to even
  EXPECT_EQ(b->data[1], 65504.0); // the largest f16
  EXPECT_EQ(b->data[2], 0.0);     // below the smallest subnormal
  EXPECT_EQ(b->data[3], -2.0);
}

TEST(Npy, ReadsFormatVersion2) {
  std::string v1 = serializeNpy(makeArray(DType::F64, {3}));
  // Version 2 stores a 4-byte header length.
  std::string v2 = v1.substr(0, 6) + "\x02" + std::string(1, '\0') + v1.substr(8, 2) +
                   std::string(2, '\0') + v1.substr(10);
  llvm::Expected<Array> b = parseNpy(v2, "v2");
  ASSERT_TRUE(static_cast<bool>(b)) << llvm::toString(b.takeError());
  EXPECT_EQ(b->shape, std::vector<int64_t>{3});
}

TEST(Npy, MalformedFilesAreErrorsThatSayWhy) {
  EXPECT_NE(errorOf("hello world").find("not a .npy file"), std::string::npos);
  EXPECT_NE(errorOf("\x93NUMPY\x01").find("not a .npy file"), std::string::npos);
  std::string truncated = serializeNpy(makeArray(DType::F32, {2, 2})).substr(0, 40);
  EXPECT_NE(errorOf(truncated).find("truncated header"), std::string::npos);

  std::string fortran = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", std::string(8, '\0'));
  EXPECT_NE(errorOf(fortran).find("Fortran-ordered"), std::string::npos);

  std::string bigEndian = npyWithHeader(
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'));
  EXPECT_NE(errorOf(bigEndian).find("unsupported dtype '>f4'"), std::string::npos);

  std::string object = npyWithHeader(
      "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0'));
  EXPECT_NE(errorOf(object).find("unsupported dtype"), std::string::npos);

  std::string shortData = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", std::string(20, '\0'));
  EXPECT_NE(errorOf(shortData).find("holds 20 data bytes, but shape [2, 3] of float32 needs 24"),
            std::string::npos);

  std::string badShape = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", std::string(8, '\0'));
  EXPECT_NE(errorOf(badShape).find("malformed shape"), std::string::npos);

  std::string noShape =
      npyWithHeader("{'descr': '<f4', 'fortran_order': False, }", std::string(8, '\0'));
  EXPECT_NE(errorOf(noShape).find("malformed header"), std::string::npos);

  std::string version9 = serializeNpy(makeArray(DType::F32, {1}));
  version9[6] = 9;
  EXPECT_NE(errorOf(version9).find("unsupported .npy format version 9"), std::string::npos);
}

TEST(Npy, MissingFileNamesThePath) {
  llvm::Expected<Array> a = readNpy("/nonexistent/dir/q.npy");
  ASSERT_FALSE(static_cast<bool>(a));
  EXPECT_NE(llvm::toString(a.takeError()).find("/nonexistent/dir/q.npy: cannot read"),
            std::string::npos);
}

TEST(ArrayMetrics, RelativeRmsErrorAndNonFinite) {
  Array ref(DType::F64, {4}), out(DType::F64, {4});
  ref.data = {3, 0, 4, 0};
  out.data = {3, 0, 4, 0.05};
  EXPECT_DOUBLE_EQ(relativeRmsError(out, ref), 0.01);
  Array zeros(DType::F64, {2});
  Array small(DType::F64, {2});
  small.data = {3e-3, 4e-3};
  EXPECT_DOUBLE_EQ(relativeRmsError(small, zeros), 5e-3); // ‖out‖₂ when ref is zero
  EXPECT_FALSE(hasNonFinite(out));
  out.data[1] = NAN;
  EXPECT_TRUE(hasNonFinite(out));
  out.data[1] = -INFINITY;
  EXPECT_TRUE(hasNonFinite(out));
}

} // namespace

// Hostile headers: sizes that overflow, headers far longer than numpy writes. Each is a short
// error, never an abort, a stack overflow or the header echoed back.
TEST(Npy, HostileHeadersAreBoundedErrors) {
  std::string overflow = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", "");
  EXPECT_NE(errorOf(overflow).find("has too many elements"), std::string::npos);

  std::string junk = npyWithHeader(std::string(60000, 'x'), "");
  std::string message = errorOf(junk);
  EXPECT_NE(message.find("malformed header"), std::string::npos);
  EXPECT_LT(message.size(), 300u) << "the header is not echoed whole";

  // A std::regex recursed once per character of a long value and overflowed the stack.
  std::string longShape = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(60000, '1'), "");
  EXPECT_NE(errorOf(longShape).find("malformed header"), std::string::npos);

  // Version 2 declares a 4-byte length: more than 64 KiB is refused before it is read.
  std::string huge = std::string("\x93NUMPY\x02", 7) + std::string(1, '\0') +
                     std::string("\x00\x90\x01\x00", 4) + std::string(102400, ' ');
  EXPECT_NE(errorOf(huge).find("header of 102400 bytes (at most 65536)"), std::string::npos);
}

TEST(Npy, OnlyRegularFilesAreRead) {
  EXPECT_NE(llvm::toString(readNpy("/dev/zero").takeError()).find("not a regular file"),
            std::string::npos);
}
