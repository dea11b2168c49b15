//===- Json.cpp - strict JSON for manifests, through nlohmann-json -------===//
//
// nlohmann-json does the parsing; this file adds what a manifest reader
// needs on top: a parser callback that refuses duplicate keys and deep
// nesting (nlohmann builds the tree without recursion, but our readers of
// launch expressions recurse), messages without nlohmann's exception ids,
// and small accessors that keep the integer/float distinction a manifest
// relies on.
//
//===----------------------------------------------------------------------===//

#include "Json.h"

#include <limits>
#include <set>
#include <vector>

using namespace skipattn::runtime;

namespace {
/// Thrown from the parser callback to stop parsing with our message.
struct Refused {
  std::string message;
};
} // namespace

/// nlohmann's what() reads "[json.exception.parse_error.101] parse error at
/// line 1, column 4: syntax error while parsing value - unexpected ']'";
/// the id is noise to a user.
static std::string withoutId(const char *what) {
  std::string text = what;
  if (text.rfind("[json.exception.", 0) == 0)
    if (size_t close = text.find("] "); close != std::string::npos)
      text = text.substr(close + 2);
  const std::string prefix = "parse error at ";
  if (text.rfind(prefix, 0) == 0)
    text = text.substr(prefix.size());
  return text;
}

bool skipattn::runtime::parseJson(std::string_view text, Json &result,
                                  std::string &error) {
  // The keys of the objects being parsed, innermost last.
  std::vector<std::set<std::string>> keys;
  auto callback = [&](int depth, Json::parse_event_t event, Json &parsed) {
    if (depth > maxJsonDepth)
      throw Refused{"nesting deeper than " + std::to_string(maxJsonDepth) +
                    " levels"};
    switch (event) {
    case Json::parse_event_t::object_start:
      keys.emplace_back();
      break;
    case Json::parse_event_t::object_end:
      if (!keys.empty())
        keys.pop_back();
      break;
    case Json::parse_event_t::key: {
      const std::string &key = parsed.get_ref<const std::string &>();
      if (!keys.empty() && !keys.back().insert(key).second)
        throw Refused{"duplicate key " + quote(key)};
      break;
    }
    default:
      break;
    }
    return true;
  };
  try {
    result = Json::parse(text.begin(), text.end(), callback,
                         /*allow_exceptions=*/true, /*ignore_comments=*/false);
    return true;
  } catch (const Refused &refused) {
    error = refused.message;
  } catch (const Json::exception &e) {
    error = withoutId(e.what());
  }
  result = Json();
  return false;
}

const char *skipattn::runtime::describeKind(const Json &value) {
  switch (value.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "a boolean";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
  case Json::value_t::number_float:
    return "a number";
  case Json::value_t::string:
    return "a string";
  case Json::value_t::array:
    return "an array";
  case Json::value_t::object:
    return "an object";
  default:
    return "unknown";
  }
}

bool skipattn::runtime::asInt64(const Json &value, int64_t &out) {
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<int64_t>();
    return true;
  }
  return false;
}

std::string skipattn::runtime::formatValue(const Json &value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string skipattn::runtime::quote(std::string_view text) {
  // Bytes that are not UTF-8 (a path, a symbol) become U+FFFD rather than
  // an exception.
  return formatValue(Json(std::string(text)));
}

const Json *skipattn::runtime::findMember(const Json &object,
                                          const char *key) {
  if (!object.is_object())
    return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}
