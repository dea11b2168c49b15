//===- Calibration.cpp - thresholds from calibration JSON -------*- C++ -*-===//
//
// skipattn-calibrate writes, per phase, the TensorRT-LLM-style scale factor
// (lambda = factor / kv_len) that gave each target sparsity on the samples,
// and a fit factor = a * exp(b * sparsity), pooled over every sample and
// per layer when the samples named layers. skipattn_calibration_factor
// reads that file for C and C++ hosts (skipattn-run --calibration) with the
// rule the Python op uses: the factor calibrated for exactly the target,
// else the fit.
//
//===----------------------------------------------------------------------===//

#include "Errors.h"
#include "Json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace skipattn::runtime;

/// Calibration files are a few kilobytes; anything this large is not one.
static constexpr long maxCalibrationBytes = 1 << 20;

static skipattn_status readFile(const char *path, std::string &text) {
  std::FILE *file = std::fopen(path, "rb");
  if (!file)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string("cannot read '") + path +
                    "': " + std::strerror(errno));
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    text.append(buffer, count);
    if (static_cast<long>(text.size()) > maxCalibrationBytes) {
      std::fclose(file);
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string("'") + path +
                      "' is too large for a calibration file");
    }
  }
  std::fclose(file);
  return SKIPATTN_OK;
}

/// The number `key` of `object`, or a failure naming where it is missing.
static skipattn_status number(const JsonValue &object, const char *key,
                              const std::string &where, double &out) {
  const JsonValue *value = object.find(key);
  if (!value || value->kind != JsonValue::Kind::Number)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                where + " has no number " + quote(key));
  out = value->number;
  return SKIPATTN_OK;
}

extern "C" skipattn_status
skipattn_calibration_factor(const char *path, const char *layer,
                            const char *phase, double target, double *factor) {
  return guard([&] {
    if (!path || !factor)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_calibration_factor: path and factor must not be "
                  "NULL");
    if (!(target >= 0.0 && target < 1.0))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_calibration_factor: the target sparsity must be "
                  "in [0, 1), got " +
                      std::to_string(target));
    std::string name = phase ? phase : "prefill";
    std::string text;
    if (skipattn_status status = readFile(path, text))
      return status;
    JsonValue root;
    std::string error;
    if (!parseJson(text, root, error))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": invalid JSON: " + error);
    const JsonValue *calibration = root.find("calibration");
    if (root.kind != JsonValue::Kind::Object || !calibration ||
        calibration->kind != JsonValue::Kind::Object)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": not a skipattn-calibrate file (no "
                                      "\"calibration\" object)");
    std::string where = std::string(path) + ": \"calibration";
    if (layer) {
      const JsonValue *layers = calibration->find("layers");
      const JsonValue *mine = layers ? layers->find(layer) : nullptr;
      if (!mine || mine->kind != JsonValue::Kind::Object)
        return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                    std::string(path) + ": no layer " + quote(layer) +
                        " in it");
      calibration = mine;
      where += ".layers." + std::string(layer);
    }
    const JsonValue *entry = calibration->find(name);
    if (!entry || entry->kind != JsonValue::Kind::Object)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": no " + quote(name) + " calibration" +
                      (layer ? " for layer " + quote(layer) : "") + " in it");
    where += "." + name + "\"";

    // A factor calibrated for exactly this target.
    if (const JsonValue *targets = entry->find("targets");
        targets && targets->kind == JsonValue::Kind::Array) {
      for (const JsonValue &t : targets->array) {
        if (t.kind != JsonValue::Kind::Object)
          return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                      where + ".targets holds " + describeKind(t.kind));
        double value;
        if (skipattn_status status =
                number(t, "target", where + ".targets[]", value))
          return status;
        if (std::fabs(value - target) < 1e-9) {
          if (skipattn_status status =
                  number(t, "factor", where + ".targets[]", *factor))
            return status;
          clearError();
          return SKIPATTN_OK;
        }
      }
    }
    // Else the fit factor = a * exp(b * target).
    const JsonValue *fit = entry->find("fit");
    if (!fit || fit->kind != JsonValue::Kind::Object)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  where + " calibrated no target " + std::to_string(target) +
                      " and has no fit (the samples had too few skippable "
                      "tiles)");
    double a, b;
    if (skipattn_status status = number(*fit, "a", where + ".fit", a))
      return status;
    if (skipattn_status status = number(*fit, "b", where + ".fit", b))
      return status;
    *factor = a * std::exp(b * target);
    clearError();
    return SKIPATTN_OK;
  });
}
