//===- Errors.cpp - thread-local last-error message -------------*- C++ -*-===//
//
// The message behind skipattn_last_error(). It is thread-local so that hosts
// running bundles from several threads read their own failure, as with
// errno. Recording a message must not fail itself: when even the copy runs
// out of memory, a static text stands in.
//
//===----------------------------------------------------------------------===//

#include "Errors.h"

using namespace skipattn::runtime;

namespace {
struct LastError {
  std::string message;
  /// Points into message, or at a static string when copying failed.
  const char *text = "";
};
} // namespace

static thread_local LastError lastErrorState;

skipattn_status skipattn::runtime::fail(skipattn_status status,
                                        const std::string &message) {
  try {
    lastErrorState.message = message;
    lastErrorState.text = lastErrorState.message.c_str();
  } catch (...) {
    lastErrorState.text = "out of memory while reporting an error";
  }
  return status;
}

void skipattn::runtime::clearError() {
  lastErrorState.message.clear();
  lastErrorState.text = "";
}

const char *skipattn::runtime::lastError() { return lastErrorState.text; }

extern "C" const char *skipattn_last_error(void) { return lastError(); }

extern "C" const char *skipattn_status_name(skipattn_status status) {
  switch (rawEnum(status)) {
  case SKIPATTN_OK:
    return "SKIPATTN_OK";
  case SKIPATTN_ERROR_INVALID_ARGUMENT:
    return "SKIPATTN_ERROR_INVALID_ARGUMENT";
  case SKIPATTN_ERROR_BUNDLE:
    return "SKIPATTN_ERROR_BUNDLE";
  case SKIPATTN_ERROR_SHAPE:
    return "SKIPATTN_ERROR_SHAPE";
  case SKIPATTN_ERROR_TARGET:
    return "SKIPATTN_ERROR_TARGET";
  case SKIPATTN_ERROR_NO_DRIVER:
    return "SKIPATTN_ERROR_NO_DRIVER";
  case SKIPATTN_ERROR_DEVICE:
    return "SKIPATTN_ERROR_DEVICE";
  case SKIPATTN_ERROR_OUT_OF_MEMORY:
    return "SKIPATTN_ERROR_OUT_OF_MEMORY";
  }
  return "SKIPATTN_UNKNOWN";
}
