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
static skipattn_status number(const Json &object, const char *key,
                              const std::string &where, double &out) {
  const Json *value = findMember(object, key);
  if (!value || !value->is_number())
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                where + " has no number " + quote(key));
  out = value->get<double>();
  return SKIPATTN_OK;
}

/// Stores value in *factor when it is a scale factor (finite, at least 0):
/// a lambda computed from anything else would be NaN or negative, which
/// every run refuses with a message that would not name this file.
static skipattn_status checkedFactor(double value, const std::string &where,
                                     double *factor) {
  if (!std::isfinite(value) || value < 0.0) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                where + " gives the scale factor " + text +
                    ", not a finite number at least 0");
  }
  *factor = value;
  clearError();
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
    Json root;
    std::string error;
    if (!parseJson(text, root, error))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": invalid JSON: " + error);
    const Json *calibration = findMember(root, "calibration");
    if (!calibration || !calibration->is_object())
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": not a skipattn-calibrate file (no "
                                      "\"calibration\" object)");
    std::string where = std::string(path) + ": \"calibration";
    if (layer) {
      const Json *layers = findMember(*calibration, "layers");
      const Json *mine = layers ? findMember(*layers, layer) : nullptr;
      if (!mine || !mine->is_object())
        return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                    std::string(path) + ": no layer " + quote(layer) +
                        " in it");
      calibration = mine;
      where += ".layers." + std::string(layer);
    }
    const Json *entry = findMember(*calibration, name.c_str());
    if (!entry || !entry->is_object())
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  std::string(path) + ": no " + quote(name) + " calibration" +
                      (layer ? " for layer " + quote(layer) : "") + " in it");
    where += "." + name + "\"";

    // A factor calibrated for exactly this target.
    if (const Json *targets = findMember(*entry, "targets");
        targets && targets->is_array()) {
      for (const Json &t : *targets) {
        if (!t.is_object())
          return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                      where + ".targets holds " + describeKind(t));
        double value;
        if (skipattn_status status =
                number(t, "target", where + ".targets[]", value))
          return status;
        if (std::fabs(value - target) < 1e-9) {
          double found;
          if (skipattn_status status =
                  number(t, "factor", where + ".targets[]", found))
            return status;
          return checkedFactor(found, where + ".targets[]", factor);
        }
      }
    }
    // Else the fit factor = a * exp(b * target).
    const Json *fit = findMember(*entry, "fit");
    if (!fit || !fit->is_object())
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  where + " calibrated no target " + std::to_string(target) +
                      " and has no fit (the samples had too few skippable "
                      "tiles)");
    double a, b;
    if (skipattn_status status = number(*fit, "a", where + ".fit", a))
      return status;
    if (skipattn_status status = number(*fit, "b", where + ".fit", b))
      return status;
    return checkedFactor(a * std::exp(b * target), where + ".fit", factor);
  });
}
