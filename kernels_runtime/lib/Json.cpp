//===- Json.cpp - a small strict JSON parser --------------------*- C++ -*-===//
//
// A recursive-descent parser for RFC 8259 JSON. It is strict because the
// input is machine-written: anything a lenient parser would guess about (a
// trailing comma, a lone surrogate, a duplicate key) means the manifest was
// corrupted or hand-edited wrongly, and saying so beats guessing. Nesting is
// capped so that a hostile file cannot overflow the stack.
//
//===----------------------------------------------------------------------===//

#include "Json.h"

#include <charconv>
#include <unordered_set>

using namespace skipattn::runtime;

const JsonValue *JsonValue::find(std::string_view key) const {
  for (const auto &member : members)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *skipattn::runtime::describeKind(JsonValue::Kind kind) {
  switch (kind) {
  case JsonValue::Kind::Null:
    return "null";
  case JsonValue::Kind::Bool:
    return "a boolean";
  case JsonValue::Kind::Number:
    return "a number";
  case JsonValue::Kind::String:
    return "a string";
  case JsonValue::Kind::Array:
    return "an array";
  case JsonValue::Kind::Object:
    return "an object";
  }
  return "unknown";
}

std::string skipattn::runtime::quote(std::string_view text) {
  std::string result = "\"";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      result += '\\';
      result += c;
    } else if (u < 0x20) {
      static const char digits[] = "0123456789abcdef";
      result += "\\u00";
      result += digits[u >> 4];
      result += digits[u & 15];
    } else {
      result += c;
    }
  }
  return result + "\"";
}

namespace {
/// Manifests nest about eight levels deep (launch expressions included); 64
/// leaves room and bounds recursion.
constexpr int maxDepth = 64;

class Parser {
public:
  explicit Parser(std::string_view text) : text(text) {}

  bool parseDocument(JsonValue &result, std::string &error) {
    bool ok = parseValue(result, 0);
    if (ok) {
      skipSpace();
      if (pos != text.size())
        ok = fail("unexpected content after the JSON value");
    }
    if (!ok)
      error = message;
    return ok;
  }

private:
  std::string_view text;
  size_t pos = 0;
  std::string message;

  bool fail(const std::string &what) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    message = "line " + std::to_string(line) + ", column " +
              std::to_string(column) + ": " + what;
    return false;
  }

  bool atEnd() const { return pos >= text.size(); }
  char peek() const { return atEnd() ? '\0' : text[pos]; }

  /// Names the character at pos for an error message.
  std::string describeHere() const {
    if (atEnd())
      return "end of input";
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x20 && c < 0x7f)
      return std::string("'") + static_cast<char>(c) + "'";
    static const char digits[] = "0123456789abcdef";
    return std::string("byte 0x") + digits[c >> 4] + digits[c & 15];
  }

  void skipSpace() {
    while (!atEnd() && (text[pos] == ' ' || text[pos] == '\t' ||
                        text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool expectLiteral(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return fail("expected a JSON value, got " + describeHere());
    pos += word.size();
    return true;
  }

  bool parseValue(JsonValue &out, int depth) {
    skipSpace();
    if (depth > maxDepth)
      return fail("nesting deeper than " + std::to_string(maxDepth) +
                  " levels");
    char c = peek();
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(out);
    if (c == 't') {
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return expectLiteral("true");
    }
    if (c == 'f') {
      out.kind = JsonValue::Kind::Bool;
      out.boolean = false;
      return expectLiteral("false");
    }
    if (c == 'n') {
      out.kind = JsonValue::Kind::Null;
      return expectLiteral("null");
    }
    return fail("expected a JSON value, got " + describeHere());
  }

  bool parseObject(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos; // '{'
    skipSpace();
    if (peek() == '}') {
      ++pos;
      return true;
    }
    // A set rather than a scan of members: a hostile file with many keys
    // must not make the duplicate check quadratic.
    std::unordered_set<std::string> seen;
    while (true) {
      skipSpace();
      if (peek() != '"')
        return fail("expected a string key, got " + describeHere());
      size_t keyPos = pos;
      std::string key;
      if (!parseString(key))
        return false;
      if (!seen.insert(key).second) {
        pos = keyPos;
        return fail("duplicate key \"" + key + "\"");
      }
      skipSpace();
      if (peek() != ':')
        return fail("expected ':' after a key, got " + describeHere());
      ++pos;
      out.members.emplace_back(std::move(key), JsonValue());
      if (!parseValue(out.members.back().second, depth + 1))
        return false;
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == '}') {
        ++pos;
        return true;
      }
      return fail("expected ',' or '}' in an object, got " + describeHere());
    }
  }

  bool parseArray(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos; // '['
    skipSpace();
    if (peek() == ']') {
      ++pos;
      return true;
    }
    while (true) {
      out.array.emplace_back();
      if (!parseValue(out.array.back(), depth + 1))
        return false;
      skipSpace();
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == ']') {
        ++pos;
        return true;
      }
      return fail("expected ',' or ']' in an array, got " + describeHere());
    }
  }

  static void appendUtf8(std::string &out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  bool parseHex4(uint32_t &code) {
    code = 0;
    for (int i = 0; i < 4; ++i, ++pos) {
      char c = peek();
      code <<= 4;
      if (c >= '0' && c <= '9')
        code |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        code |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        code |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return fail("expected 4 hex digits after \\u, got " + describeHere());
    }
    return true;
  }

  /// Length of the well-formed UTF-8 sequence at pos, or 0.
  size_t utf8Length() const {
    auto byte = [&](size_t i) {
      return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i])
                                   : 0u;
    };
    auto cont = [&](size_t i) { return (byte(i) & 0xc0) == 0x80; };
    unsigned b0 = byte(0);
    if (b0 >= 0xc2 && b0 <= 0xdf)
      return cont(1) ? 2 : 0;
    if (b0 >= 0xe0 && b0 <= 0xef) {
      unsigned b1 = byte(1);
      // Reject overlong forms (e0 80..9f) and UTF-16 surrogates (ed a0..bf).
      if ((b0 == 0xe0 && b1 < 0xa0) || (b0 == 0xed && b1 >= 0xa0))
        return 0;
      return cont(1) && cont(2) ? 3 : 0;
    }
    if (b0 >= 0xf0 && b0 <= 0xf4) {
      unsigned b1 = byte(1);
      if ((b0 == 0xf0 && b1 < 0x90) || (b0 == 0xf4 && b1 >= 0x90))
        return 0;
      return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }

  bool parseString(std::string &out) {
    ++pos; // '"'
    while (true) {
      if (atEnd())
        return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character in a string (escape it)");
      if (c >= 0x80) {
        size_t length = utf8Length();
        if (!length)
          return fail("invalid UTF-8 in a string");
        out.append(text.substr(pos, length));
        pos += length;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos;
        continue;
      }
      ++pos;
      char e = peek();
      ++pos;
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t code;
        if (!parseHex4(code))
          return false;
        if (code >= 0xdc00 && code <= 0xdfff)
          return fail("unpaired low surrogate in \\u escape");
        if (code >= 0xd800 && code <= 0xdbff) {
          uint32_t low;
          if (text.substr(pos, 2) != "\\u")
            return fail("unpaired high surrogate in \\u escape");
          pos += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xdc00 || low > 0xdfff)
            return fail("unpaired high surrogate in \\u escape");
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        }
        appendUtf8(out, code);
        break;
      }
      default:
        --pos;
        return fail("invalid escape in a string: \\" + describeHere());
      }
    }
  }

  bool parseNumber(JsonValue &out) {
    // Check the RFC 8259 grammar first; from_chars alone would accept forms
    // such as "01" or "1.".
    size_t start = pos;
    auto digits = [&] {
      size_t first = pos;
      while (!atEnd() && text[pos] >= '0' && text[pos] <= '9')
        ++pos;
      return pos - first;
    };
    if (peek() == '-')
      ++pos;
    if (peek() == '0') {
      ++pos;
      if (peek() >= '0' && peek() <= '9')
        return fail("leading zero in a number");
    } else if (!digits()) {
      return fail("expected a digit, got " + describeHere());
    }
    bool integral = true;
    if (peek() == '.') {
      ++pos;
      integral = false;
      if (!digits())
        return fail("expected a digit after '.', got " + describeHere());
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos;
      integral = false;
      if (peek() == '+' || peek() == '-')
        ++pos;
      if (!digits())
        return fail("expected a digit in the exponent, got " + describeHere());
    }
    const char *first = text.data() + start;
    const char *last = text.data() + pos;
    out.kind = JsonValue::Kind::Number;
    // from_chars, unlike strtod, ignores the C locale's decimal point: a host
    // that called setlocale must not break manifest parsing.
    auto parsed = std::from_chars(first, last, out.number);
    if (parsed.ec == std::errc::result_out_of_range) {
      pos = start;
      return fail("number out of range");
    }
    if (parsed.ec != std::errc() || parsed.ptr != last) {
      pos = start;
      return fail("malformed number");
    }
    if (integral) {
      auto asInteger = std::from_chars(first, last, out.integer);
      out.isInteger = asInteger.ec == std::errc() && asInteger.ptr == last;
    }
    return true;
  }
};
} // namespace

bool skipattn::runtime::parseJson(std::string_view text, JsonValue &result,
                                  std::string &error) {
  result = JsonValue();
  return Parser(text).parseDocument(result, error);
}
