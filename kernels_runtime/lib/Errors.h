//===- Errors.h - failure reporting of the runtime --------------*- C++ -*-===//
//
// Every C entry point reports failure as a status plus a thread-local message.
// These helpers set that message, and `guard` turns any C++ exception that
// escapes an entry point's body into a status, since unwinding through a C
// caller (or ctypes) would be undefined.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_ERRORS_H
#define SKIPATTN_RUNTIME_ERRORS_H

#include "skipattn/runtime.h"

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace skipattn::runtime {

/// Records message as this thread's last error and returns status.
skipattn_status fail(skipattn_status status, const std::string &message);

/// Forgets the last error, so that a successful call leaves "".
void clearError();

/// The current message; never null.
const char *lastError();

/// An enum argument of a C entry point as the integer the caller passed. C
/// allows any int there, while C++ must not read an enum object outside
/// its enumerators' range (undefined behavior), so its bytes are read.
template <typename Enum>
std::underlying_type_t<Enum> rawEnum(const Enum &value) noexcept {
  std::underlying_type_t<Enum> raw;
  std::memcpy(&raw, &value, sizeof(raw));
  return raw;
}

/// Runs body, a callable returning skipattn_status, and maps exceptions to
/// statuses.
template <typename Body> skipattn_status guard(Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(SKIPATTN_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception &e) {
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT, "internal error");
  }
}

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_ERRORS_H
