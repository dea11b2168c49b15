//===- Json.h - strict JSON for manifests, through nlohmann-json -*- C++ -*-===//
//
// The manifest (and the descriptor a kernel carries) is JSON that another
// tool wrote. It is read with nlohmann-json (Debian's nlohmann-json3-dev,
// header only) in its strict mode: RFC 8259 only (no comments, no trailing
// commas, no NaN), plus two checks of ours, because a machine-written file
// that needs them is corrupt: duplicate keys are refused (nlohmann would
// keep the last), and nesting is capped so that the recursive readers of
// launch expressions cannot overflow the stack.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_JSON_H
#define SKIPATTN_RUNTIME_JSON_H

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace skipattn::runtime {

using Json = nlohmann::json;

/// Manifests nest about eight levels deep (launch expressions included).
constexpr int maxJsonDepth = 64;

/// Parses text as one JSON document. On failure returns false and sets error
/// to "line L, column C: what went wrong" (or "duplicate key ...").
bool parseJson(std::string_view text, Json &result, std::string &error);

/// "null", "a boolean", "a number", "a string", "an array", "an object".
const char *describeKind(const Json &value);

/// The value as an int64 when it is a JSON integer that fits (no fraction,
/// no exponent); false otherwise.
bool asInt64(const Json &value, int64_t &out);

/// The value as written, for messages ("4.5", "\"x\"").
std::string formatValue(const Json &value);

/// text as a JSON string literal, quotes included; messages quote keys and
/// values this way so that control characters stay visible.
std::string quote(std::string_view text);

/// The member named key of an object, or null when absent (or value is
/// not an object).
const Json *findMember(const Json &object, const char *key);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_JSON_H
