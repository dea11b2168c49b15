//===- Json.h - a small strict JSON parser ----------------------*- C++ -*-===//
//
// The manifest is JSON that another tool wrote; the runtime reads it with
// this parser rather than a third-party library so that it keeps no
// dependencies beyond the C++ standard library and libdl. It accepts exactly
// RFC 8259 (no comments, no trailing commas, no NaN) and rejects duplicate
// keys, since a manifest that says two things is corrupt.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_JSON_H
#define SKIPATTN_RUNTIME_JSON_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skipattn::runtime {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  /// True when the number was written without fraction or exponent and fits
  /// in int64_t; integer then holds it exactly.
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  /// Members in document order.
  std::vector<std::pair<std::string, JsonValue>> members;

  /// The member named key of an object, or null if absent.
  const JsonValue *find(std::string_view key) const;
};

/// "null", "a boolean", "a number", "a string", "an array", "an object".
const char *describeKind(JsonValue::Kind kind);

/// text as a JSON string literal, quotes included; messages quote keys and
/// values this way so that control characters stay visible.
std::string quote(std::string_view text);

/// Parses text as one JSON document. On failure returns false and sets error
/// to "line L, column C: what went wrong".
bool parseJson(std::string_view text, JsonValue &result, std::string &error);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_JSON_H
