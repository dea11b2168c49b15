//===- Npy.cpp - reading and writing NumPy .npy files -----------*- C++ -*-===//
//
// The .npy format: the magic "\x93NUMPY", a version, a little-endian header
// length (2 bytes in 1.0, 4 in 2.0 and 3.0), then a Python dict literal
// such as {'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 7, 64), }
// padded with spaces and a newline, then the raw elements.
//
// The header is parsed with a small parser for the Python literals numpy
// writes (strings, True/False/None, integers, tuples, lists, dicts), not by
// pattern matching, so that any valid header is read and any other is
// reported. The data length must match the header exactly: a short file is
// truncated and a long one is not what its header says.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <tuple>

using namespace skipattn::npy;

const char *skipattn::npy::descr(ElementType type) {
  switch (type) {
  case ElementType::Float32:
    return "<f4";
  case ElementType::Float16:
    return "<f2";
  case ElementType::Bool:
    return "|b1";
  case ElementType::Int32:
    return "<i4";
  }
  return "?";
}

const char *skipattn::npy::typeName(ElementType type) {
  switch (type) {
  case ElementType::Float32:
    return "float32";
  case ElementType::Float16:
    return "float16";
  case ElementType::Bool:
    return "bool";
  case ElementType::Int32:
    return "int32";
  }
  return "?";
}

static size_t elementSize(ElementType type) {
  switch (type) {
  case ElementType::Float32:
  case ElementType::Int32:
    return 4;
  case ElementType::Float16:
    return 2;
  case ElementType::Bool:
    return 1;
  }
  return 1;
}

//===----------------------------------------------------------------------===//
// Header literal
//===----------------------------------------------------------------------===//

namespace {
struct PyValue {
  enum class Kind { String, Bool, None, Int, Tuple, List, Dict };
  Kind kind = Kind::None;
  std::string string;
  bool boolean = false;
  int64_t integer = 0;
  std::vector<PyValue> items;
  std::vector<std::pair<std::string, PyValue>> entries;
};

/// Parses the Python literal subset of .npy headers.
class LiteralParser {
public:
  explicit LiteralParser(const std::string &text) : text(text) {}

  bool parse(PyValue &result, std::string &error) {
    bool ok = parseValue(result, 0);
    skipSpace();
    if (ok && pos != text.size())
      ok = fail("unexpected text after the dict");
    if (!ok)
      error = message;
    return ok;
  }

private:
  const std::string &text;
  size_t pos = 0;
  std::string message;

  bool fail(const std::string &what) {
    message = what + " at offset " + std::to_string(pos);
    return false;
  }
  char peek() const { return pos < text.size() ? text[pos] : '\0'; }
  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' ||
                                 text[pos] == '\t' || text[pos] == '\r'))
      ++pos;
  }
  bool startsWith(const char *word) const {
    return text.compare(pos, std::strlen(word), word) == 0;
  }

  bool parseValue(PyValue &out, int depth) {
    skipSpace();
    if (depth > 16)
      return fail("nesting too deep");
    char c = peek();
    if (c == '\'' || c == '"') {
      out.kind = PyValue::Kind::String;
      return parseString(out.string);
    }
    if (c == '{')
      return parseDict(out, depth);
    if (c == '(' || c == '[') {
      out.kind = c == '(' ? PyValue::Kind::Tuple : PyValue::Kind::List;
      return parseSequence(out, c == '(' ? ')' : ']', depth);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseInt(out);
    for (auto [word, kind, value] :
         {std::tuple{"True", PyValue::Kind::Bool, true},
          std::tuple{"False", PyValue::Kind::Bool, false},
          std::tuple{"None", PyValue::Kind::None, false}}) {
      if (startsWith(word)) {
        pos += std::strlen(word);
        out.kind = kind;
        out.boolean = value;
        return true;
      }
    }
    return fail("expected a Python literal");
  }

  bool parseString(std::string &out) {
    char quote = text[pos++];
    while (pos < text.size() && text[pos] != quote) {
      // numpy's headers never need escapes; accept the simple ones.
      if (text[pos] == '\\' && pos + 1 < text.size())
        ++pos;
      out += text[pos++];
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }

  bool parseInt(PyValue &out) {
    bool negative = peek() == '-';
    if (negative)
      ++pos;
    if (!(peek() >= '0' && peek() <= '9'))
      return fail("expected a digit");
    int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      int digit = peek() - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return fail("integer too large");
      value = value * 10 + digit;
      ++pos;
    }
    // Python 2 era files write longs as "3L".
    if (peek() == 'L')
      ++pos;
    out.kind = PyValue::Kind::Int;
    out.integer = negative ? -value : value;
    return true;
  }

  bool parseSequence(PyValue &out, char close, int depth) {
    ++pos;
    while (true) {
      skipSpace();
      if (peek() == close) {
        ++pos;
        return true;
      }
      out.items.emplace_back();
      if (!parseValue(out.items.back(), depth + 1))
        return false;
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() != close)
        return fail(std::string("expected ',' or '") + close + "'");
    }
  }

  bool parseDict(PyValue &out, int depth) {
    out.kind = PyValue::Kind::Dict;
    ++pos;
    while (true) {
      skipSpace();
      if (peek() == '}') {
        ++pos;
        return true;
      }
      if (peek() != '\'' && peek() != '"')
        return fail("expected a string key");
      std::string key;
      if (!parseString(key))
        return false;
      skipSpace();
      if (peek() != ':')
        return fail("expected ':'");
      ++pos;
      out.entries.emplace_back(key, PyValue());
      if (!parseValue(out.entries.back().second, depth + 1))
        return false;
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() != '}')
        return fail("expected ',' or '}'");
    }
  }
};
} // namespace

/// A readable name for a numpy descr such as '<f8' or '>f4'.
static std::string describeDescr(const std::string &text) {
  if (text.size() < 3)
    return "";
  std::string order;
  if (text[0] == '>')
    order = "big-endian ";
  const char *kind = nullptr;
  switch (text[1]) {
  case 'f':
    kind = "float";
    break;
  case 'i':
    kind = "int";
    break;
  case 'u':
    kind = "uint";
    break;
  case 'c':
    kind = "complex";
    break;
  case 'b':
    return order + "bool";
  default:
    return "";
  }
  // The item size: numpy's are 1 to 16 bytes; anything else (or digits
  // that would overflow) is not a type to name.
  std::string size = text.substr(2);
  if (size.empty() || size.size() > 2 ||
      size.find_first_not_of("0123456789") != std::string::npos)
    return "";
  int bytes = std::stoi(size);
  if (bytes <= 0)
    return "";
  return order + kind + std::to_string(bytes * 8);
}

static bool parseHeader(const std::string &path, const std::string &header,
                        Array &array, std::string &error) {
  PyValue dict;
  std::string why;
  if (!LiteralParser(header).parse(dict, why) ||
      dict.kind != PyValue::Kind::Dict) {
    error = path + ": cannot parse the .npy header" +
            (why.empty() ? std::string(" (not a dict)") : ": " + why);
    return false;
  }
  const PyValue *descrValue = nullptr, *fortran = nullptr, *shape = nullptr;
  for (const auto &[key, value] : dict.entries) {
    if (key == "descr")
      descrValue = &value;
    else if (key == "fortran_order")
      fortran = &value;
    else if (key == "shape")
      shape = &value;
    else {
      error = path + ": unexpected key '" + key + "' in the .npy header";
      return false;
    }
  }
  if (!descrValue || !fortran || !shape) {
    error = path + ": the .npy header must have the keys 'descr', "
                   "'fortran_order' and 'shape'";
    return false;
  }

  if (descrValue->kind == PyValue::Kind::List) {
    error = path + ": structured dtypes are not supported (expected '<f4' "
                   "float32 or '<f2' float16)";
    return false;
  }
  if (descrValue->kind != PyValue::Kind::String) {
    error = path + ": the .npy header's 'descr' is not a string";
    return false;
  }
  const std::string &d = descrValue->string;
  if (d == "<f4")
    array.type = ElementType::Float32;
  else if (d == "<f2")
    array.type = ElementType::Float16;
  else if (d == "|b1")
    array.type = ElementType::Bool;
  else if (d == "<i4")
    array.type = ElementType::Int32;
  else {
    std::string name = describeDescr(d);
    error = path + ": unsupported dtype '" + d + "'" +
            (name.empty() ? "" : " (" + name + ")") +
            "; expected '<f4' float32 or '<f2' float16 (or '|b1' bool for a "
            "mask, '<i4' int32 for a block table)";
    return false;
  }

  if (fortran->kind != PyValue::Kind::Bool) {
    error = path + ": the .npy header's 'fortran_order' is not a bool";
    return false;
  }
  if (fortran->boolean) {
    error = path + ": Fortran-order arrays are not supported (save a C-order "
                   "array, e.g. np.ascontiguousarray(x))";
    return false;
  }

  if (shape->kind != PyValue::Kind::Tuple) {
    error = path + ": the .npy header's 'shape' is not a tuple";
    return false;
  }
  for (const PyValue &dim : shape->items) {
    if (dim.kind != PyValue::Kind::Int || dim.integer < 0) {
      error = path + ": the .npy header's 'shape' must hold non-negative "
                     "integers";
      return false;
    }
    array.shape.push_back(dim.integer);
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {
struct FileCloser {
  void operator()(std::FILE *file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;
} // namespace

/// Headers are short; a larger length field means a corrupt file, and
/// allocating it would only waste memory.
static constexpr uint32_t maxHeaderBytes = 1 << 20;

bool skipattn::npy::readNpy(const std::string &path, Array &array,
                            std::string &error) {
  array = Array();
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  return readNpy(file.get(), path, array, error);
}

bool skipattn::npy::readNpy(std::FILE *stream, const std::string &path,
                            Array &array, std::string &error) {
  array = Array();
  struct Borrowed {
    std::FILE *stream;
    std::FILE *get() const { return stream; }
  } file{stream};
  // The file size bounds the data before anything is allocated.
  if (std::fseek(file.get(), 0, SEEK_END) != 0) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  long fileSize = std::ftell(file.get());
  std::rewind(file.get());
  if (fileSize < 0) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }

  unsigned char prefix[12];
  size_t got = std::fread(prefix, 1, 8, file.get());
  if (got < 6 || std::memcmp(prefix, "\x93NUMPY", 6) != 0) {
    error = path + ": not a .npy file (it does not start with \\x93NUMPY)";
    return false;
  }
  if (got < 8) {
    error = path + ": truncated .npy header";
    return false;
  }
  int major = prefix[6], minor = prefix[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    error = path + ": unsupported .npy format version " +
            std::to_string(major) + "." + std::to_string(minor) +
            " (supported: 1.0, 2.0, 3.0)";
    return false;
  }
  size_t lengthBytes = major == 1 ? 2 : 4;
  if (std::fread(prefix + 8, 1, lengthBytes, file.get()) != lengthBytes) {
    error = path + ": truncated .npy header";
    return false;
  }
  uint32_t headerLength = prefix[8] | (prefix[9] << 8);
  if (major != 1)
    headerLength |= static_cast<uint32_t>(prefix[10]) << 16 |
                    static_cast<uint32_t>(prefix[11]) << 24;
  long dataOffset = static_cast<long>(8 + lengthBytes + headerLength);
  if (headerLength > maxHeaderBytes || dataOffset > fileSize) {
    error = path + ": truncated .npy header (it claims " +
            std::to_string(headerLength) + " bytes, the file has " +
            std::to_string(fileSize - static_cast<long>(8 + lengthBytes)) + ")";
    return false;
  }
  std::string header(headerLength, '\0');
  if (std::fread(header.data(), 1, headerLength, file.get()) != headerLength) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  if (!parseHeader(path, header, array, error))
    return false;

  uint64_t bytes = elementSize(array.type);
  for (int64_t dim : array.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      error = path + ": the shape in the .npy header is too large";
      return false;
    }
  uint64_t available = static_cast<uint64_t>(fileSize - dataOffset);
  if (available != bytes) {
    error = path + ": " +
            (available < bytes ? "truncated data"
                               : "trailing bytes after the data") +
            " (the header's shape needs " + std::to_string(bytes) +
            " bytes, the file has " + std::to_string(available) + ")";
    return false;
  }
  array.data.resize(bytes);
  if (bytes && std::fread(array.data.data(), 1, bytes, file.get()) != bytes) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

bool skipattn::npy::writeNpyFloat32(const std::string &path,
                                    const std::vector<int64_t> &shape,
                                    const float *data, std::string &error) {
  // Byte for byte what numpy 1.x's np.save writes: sorted keys, the shape's
  // repr, room for the first axis to grow to 21 digits, then spaces and a
  // newline up to a multiple of 64 bytes (ARRAY_ALIGN).
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1)
    dims += ",";
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  if (!shape.empty())
    header.append(21 - std::to_string(shape[0]).size(), ' ');
  size_t unpadded = 10 + header.size() + 1;
  header.append(64 - unpadded % 64, ' ');
  header += '\n';

  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  unsigned char prefix[10] = {0x93,
                              'N',
                              'U',
                              'M',
                              'P',
                              'Y',
                              1,
                              0,
                              static_cast<unsigned char>(header.size() & 0xff),
                              static_cast<unsigned char>(header.size() >> 8)};
  size_t count = 1;
  for (int64_t dim : shape)
    count *= static_cast<size_t>(dim);
  bool ok =
      std::fwrite(prefix, 1, sizeof(prefix), file.get()) == sizeof(prefix) &&
      std::fwrite(header.data(), 1, header.size(), file.get()) ==
          header.size() &&
      (count == 0 ||
       std::fwrite(data, sizeof(float), count, file.get()) == count);
  // fclose flushes; a full disk shows up here.
  ok = (std::fclose(file.release()) == 0) && ok;
  if (!ok) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  return true;
}
