//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "linrec/Runtime/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>

using llvm::Expected;
using llvm::StringRef;

namespace linrec {

static llvm::Error npyError(StringRef what, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 (what + ": " + message).str());
}

static const char *descrOf(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<V2"; // how ml_dtypes' bfloat16 is stored
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  }
  return "";
}

/// Extracts the value text of `key` in the header dict, e.g. "'<f4'" or "(2, 3)": a linear
/// scan (a std::regex over a hostile 60 KB header overflowed the stack).
static std::optional<std::string> headerField(StringRef header, StringRef key) {
  std::string quoted = ("'" + key + "'").str();
  size_t at = header.find(quoted);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + quoted.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  rest = rest.ltrim();
  for (StringRef word : {"True", "False"})
    if (rest.starts_with(word))
      return word.str();
  char open = rest.empty() ? 0 : rest.front();
  char close = open == '\'' ? '\'' : open == '(' ? ')' : 0;
  if (!close)
    return std::nullopt;
  size_t end = rest.find(close, 1);
  if (end == StringRef::npos)
    return std::nullopt;
  return rest.take_front(end + 1).str();
}

/// At most the first 80 characters of a header, for messages.
static std::string excerpt(StringRef text) {
  return text.size() <= 80 ? text.str() : (text.take_front(80) + "...").str();
}

/// The largest header linrec reads (numpy writes a few hundred bytes).
constexpr size_t kMaxHeaderBytes = 64 * 1024;

Expected<Array> parseNpy(StringRef bytes, StringRef what) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return npyError(what, "not a .npy file (missing the \\x93NUMPY magic)");
  unsigned major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return npyError(what, "truncated header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return npyError(what, "unsupported .npy format version " + llvm::Twine(major));
  }
  if (headerLen > kMaxHeaderBytes)
    return npyError(what, "header of " + llvm::Twine(headerLen) + " bytes (at most " +
                              llvm::Twine(kMaxHeaderBytes) + ")");
  if (bytes.size() < headerStart + headerLen)
    return npyError(what, "truncated header");
  StringRef header = bytes.substr(headerStart, headerLen);

  auto descr = headerField(header, "descr");
  auto fortran = headerField(header, "fortran_order");
  auto shapeText = headerField(header, "shape");
  if (!descr || !fortran || !shapeText)
    return npyError(what, "malformed header '" + excerpt(header) + "'");
  if (*fortran != "False")
    return npyError(what, "Fortran-ordered arrays are not supported (save C order)");

  Array array;
  std::string d = descr->substr(1, descr->size() - 2);
  if (d == "<f4")
    array.dtype = DType::F32;
  else if (d == "<f8")
    array.dtype = DType::F64;
  else if (d == "<f2")
    array.dtype = DType::F16;
  else if (d == "<i4")
    array.dtype = DType::I32;
  else if (d == "<i8")
    array.dtype = DType::I64;
  else if (d == "<V2" || d == "bfloat16")
    array.dtype = DType::BF16;
  else
    return npyError(what, "unsupported dtype '" + d +
                              "' (supported: <f2, <f4, <f8, <i4, <i8, bfloat16; little-endian)");

  std::string dims = shapeText->substr(1, shapeText->size() - 2);
  for (StringRef rest = dims; !rest.trim().empty();) {
    auto [item, tail] = rest.split(',');
    int64_t dim;
    if (item.trim().getAsInteger(10, dim) || dim < 0)
      return npyError(what, "malformed shape '" + excerpt(*shapeText) + "'");
    array.shape.push_back(dim);
    rest = tail;
  }

  // The data's size, checked: a shape whose byte count overflows is an error, not an
  // allocation of a wrapped size.
  int64_t count = 1, bytesNeeded = 0;
  for (int64_t dim : array.shape)
    if (llvm::MulOverflow(count, dim, count))
      return npyError(what, "shape " + array.shapeString() + " has too many elements");
  if (llvm::MulOverflow(count, dtypeBytes(array.dtype), bytesNeeded))
    return npyError(what, "shape " + array.shapeString() + " has too many elements");
  size_t dataStart = headerStart + headerLen;
  size_t expected = static_cast<size_t>(bytesNeeded);
  if (bytes.size() - dataStart != expected)
    return npyError(what, "holds " + llvm::Twine(bytes.size() - dataStart) +
                              " data bytes, but shape " + array.shapeString() + " of " +
                              dtypeName(array.dtype) + " needs " + llvm::Twine(expected));
  array.data.resize(count);
  const char *p = bytes.data() + dataStart;
  for (int64_t i = 0; i < count; ++i) {
    switch (array.dtype) {
    case DType::F16:
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      array.data[i] = array.dtype == DType::F16 ? halfToDouble(h) : bf16ToDouble(h);
      break;
    }
    case DType::F32: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      array.data[i] = f;
      break;
    }
    case DType::F64:
      std::memcpy(&array.data[i], p + 8 * i, 8);
      break;
    case DType::I32: {
      int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      array.data[i] = v;
      break;
    }
    case DType::I64: {
      int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      array.data[i] = static_cast<double>(v);
      break;
    }
    }
  }
  return array;
}

Expected<Array> readNpy(StringRef path) {
  // Only regular files: a FIFO would block the open, /dev/zero never end.
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return npyError(path, "cannot read: " + ec.message());
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return npyError(path, "not a regular file");
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return npyError(path, "cannot read: " + buffer.getError().message());
  return parseNpy((*buffer)->getBuffer(), path);
}

std::string serializeNpy(const Array &array) {
  std::string shape = "(";
  for (int64_t d : array.shape)
    shape += std::to_string(d) + ",";
  if (array.shape.size() > 1)
    shape.pop_back();
  shape += ")";
  std::string header = std::string("{'descr': '") + descrOf(array.dtype) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes, ending the header with '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (double x : array.data) {
    char bytes[8];
    size_t n = dtypeBytes(array.dtype);
    switch (array.dtype) {
    case DType::F16: {
      uint16_t h = doubleToHalf(x);
      std::memcpy(bytes, &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = doubleToBf16(x);
      std::memcpy(bytes, &h, 2);
      break;
    }
    case DType::F32: {
      float f = static_cast<float>(x);
      std::memcpy(bytes, &f, 4);
      break;
    }
    case DType::F64:
      std::memcpy(bytes, &x, 8);
      break;
    case DType::I32: {
      int32_t v = static_cast<int32_t>(x);
      std::memcpy(bytes, &v, 4);
      break;
    }
    case DType::I64: {
      int64_t v = static_cast<int64_t>(x);
      std::memcpy(bytes, &v, 8);
      break;
    }
    }
    out.append(bytes, n);
  }
  return out;
}

llvm::Error writeNpy(StringRef path, const Array &array) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return npyError(path, "cannot write: " + ec.message());
  os << serializeNpy(array);
  return llvm::Error::success();
}

} // namespace linrec
