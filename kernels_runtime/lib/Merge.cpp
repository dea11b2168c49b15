//===- Merge.cpp - merging partial attentions by log-sum-exp ----*- C++ -*-===//
//
// skipattn_merge_lse: two attentions of the same query rows over disjoint
// key ranges, each with the log-sum-exp of its rows (a bundle compiled with
// --lse), combine into the attention over both key ranges. This is the step
// that ring and context-parallel attention run between devices, and the
// combine of a split kv range, on the host.
//
//===----------------------------------------------------------------------===//

#include "Errors.h"
#include "Half.h"

#include "skipattn/runtime.h"

#include <cmath>
#include <limits>

using namespace skipattn::runtime;

namespace {
/// Reads and writes element i of a row-major array of one float dtype.
struct FloatArray {
  skipattn_dtype dtype;

  float load(const void *data, size_t i) const {
    switch (dtype) {
    case SKIPATTN_DTYPE_F16:
      return halfToFloat(static_cast<const uint16_t *>(data)[i]);
    case SKIPATTN_DTYPE_BF16:
      return bfloatToFloat(static_cast<const uint16_t *>(data)[i]);
    default:
      return static_cast<const float *>(data)[i];
    }
  }

  void store(void *data, size_t i, float value) const {
    switch (dtype) {
    case SKIPATTN_DTYPE_F16:
      static_cast<uint16_t *>(data)[i] = floatToHalf(value);
      return;
    case SKIPATTN_DTYPE_BF16:
      static_cast<uint16_t *>(data)[i] = floatToBFloat(value);
      return;
    default:
      static_cast<float *>(data)[i] = value;
      return;
    }
  }
};
} // namespace

extern "C" skipattn_status
skipattn_merge_lse(skipattn_dtype dtype, size_t rows, size_t dv,
                   const void *outA, const float *lseA, const void *outB,
                   const float *lseB, void *out, float *lse) {
  return guard([&] {
    if ((rows && dv) && (!outA || !outB || !out))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_merge_lse: out_a, out_b and out must not be NULL");
    if (rows && (!lseA || !lseB || !lse))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_merge_lse: lse_a, lse_b and lse must not be NULL");
    if (dtype != SKIPATTN_DTYPE_F32 && dtype != SKIPATTN_DTYPE_F16 &&
        dtype != SKIPATTN_DTYPE_BF16)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_merge_lse: dtype must be f32, f16 or bf16");
    FloatArray array{dtype};
    constexpr float ninf = -std::numeric_limits<float>::infinity();
    for (size_t r = 0; r < rows; ++r) {
      float a = lseA[r], b = lseB[r];
      if (std::isnan(a) || std::isnan(b) || a == INFINITY || b == INFINITY)
        return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                    "skipattn_merge_lse: lse of row " + std::to_string(r) +
                        " is not a log-sum-exp (NaN or +inf)");
      // Weights relative to the larger of the two; a row that attended
      // nothing (-inf) weighs 0, and two of them give -inf and zeros.
      float top = std::fmax(a, b);
      float wa = a == ninf ? 0.0f : std::exp(a - top);
      float wb = b == ninf ? 0.0f : std::exp(b - top);
      float sum = wa + wb;
      float merged = sum > 0.0f ? top + std::log(sum) : ninf;
      if (sum > 0.0f) {
        wa /= sum;
        wb /= sum;
      }
      for (size_t c = 0; c < dv; ++c) {
        size_t i = r * dv + c;
        float value = wa * array.load(outA, i) + wb * array.load(outB, i);
        array.store(out, i, value);
      }
      lse[r] = merged;
    }
    clearError();
    return SKIPATTN_OK;
  });
}
