//===- Half.cpp - f16 and bf16 conversions ----------------------*- C++ -*-===//
//
// f32 <-> f16 through the compiler's _Float16 where it has one, f32 <-> bf16
// by bit manipulation, and the bulk conversion of the C API. Rounding is to
// nearest, ties to even, as numpy's astype and the hardware converters do,
// so a host converting here and a reference computed with numpy see the
// same inputs. NaN stays NaN (quieted); f32 values too large for f16 become
// infinity.
//
//===----------------------------------------------------------------------===//

#include "Half.h"
#include "Errors.h"

#include <cstring>
#include <string>

using namespace skipattn::runtime;

static uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static float bitsFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

#if SKIPATTN_HAVE_FLOAT16
// The compiler's binary16 type: its conversions are IEEE's (round to nearest
// even, NaN stays NaN, overflow to infinity), in hardware where the host has
// F16C and in libgcc/compiler-rt elsewhere.

uint16_t skipattn::runtime::floatToHalf(float value) {
  _Float16 half = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &half, sizeof(bits));
  return bits;
}

float skipattn::runtime::halfToFloat(uint16_t bits) {
  _Float16 half;
  std::memcpy(&half, &bits, sizeof(half));
  return static_cast<float>(half);
}

#else
// A compiler without _Float16 (GCC before 12 on x86, which the GPU machine
// may have): the same conversions by hand. test/Runtime/half-fallback.test
// checks them against _Float16 on every f16 value and a sweep of floats.

/// Shifts mantissa right by shift (1..31), rounding to nearest even.
static uint32_t shiftRoundEven(uint32_t mantissa, unsigned shift) {
  uint32_t result = mantissa >> shift;
  uint32_t rest = mantissa & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (result & 1)))
    ++result;
  return result;
}

uint16_t skipattn::runtime::floatToHalf(float value) {
  uint32_t bits = floatBits(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;

  if (magnitude >= 0x7f800000) {
    if (magnitude == 0x7f800000)
      return sign | 0x7c00;
    // Keep the top payload bits and force the quiet bit, so NaN stays NaN
    // even when the payload lives only in the low bits.
    return sign | 0x7e00 | static_cast<uint16_t>((magnitude >> 13) & 0x3ff);
  }
  // 65520 is halfway between 65504 (the largest f16) and 65536; the tie goes
  // to the even neighbour, which is infinity.
  if (magnitude >= 0x477ff000)
    return sign | 0x7c00;

  unsigned exponent = magnitude >> 23;
  if (exponent >= 113) {
    // Normal f16: rebias the exponent; a rounding carry out of the mantissa
    // correctly bumps the exponent.
    uint32_t half = ((exponent - 112) << 10) | ((magnitude & 0x7fffff) >> 13);
    uint32_t rest = magnitude & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
      ++half;
    return sign | static_cast<uint16_t>(half);
  }
  // Below 2^-25 everything rounds to zero (2^-25 itself ties to even zero).
  if (exponent < 102)
    return sign;
  // Subnormal f16: units of 2^-24. A result of 0x400 is the smallest normal,
  // which is the right bit pattern too.
  uint32_t mantissa = (magnitude & 0x7fffff) | 0x800000;
  return sign | static_cast<uint16_t>(shiftRoundEven(mantissa, 126 - exponent));
}

float skipattn::runtime::halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f)
    return bitsFloat(sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0)
    return bitsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0)
    return bitsFloat(sign);
  // Subnormal f16 values are normal in f32: normalize the mantissa.
  uint32_t biased = 113;
  while (!(mantissa & 0x400)) {
    mantissa <<= 1;
    --biased;
  }
  return bitsFloat(sign | (biased << 23) | ((mantissa & 0x3ff) << 13));
}

#endif // SKIPATTN_HAVE_FLOAT16

// bfloat16 by hand everywhere: __bf16 conversions need __truncsfbf2, which
// Debian 12's libgcc (GCC 12) does not have, so clang links them nowhere
// here either. Rounding is two integer operations anyway.

uint16_t skipattn::runtime::floatToBFloat(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7fffffff) > 0x7f800000)
    // Truncating could clear every payload bit and turn NaN into infinity.
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; overflow
  // into the exponent gives the next binade or infinity, both correct.
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

float skipattn::runtime::bfloatToFloat(uint16_t bits) {
  return bitsFloat(static_cast<uint32_t>(bits) << 16);
}

//===----------------------------------------------------------------------===//
// C API
//===----------------------------------------------------------------------===//

extern "C" uint16_t skipattn_f32_to_f16(float value) {
  return floatToHalf(value);
}
extern "C" float skipattn_f16_to_f32(uint16_t bits) {
  return halfToFloat(bits);
}
extern "C" uint16_t skipattn_f32_to_bf16(float value) {
  return floatToBFloat(value);
}
extern "C" float skipattn_bf16_to_f32(uint16_t bits) {
  return bfloatToFloat(bits);
}

/// dtype comes from a C caller: any int.
static bool isFloatType(const skipattn_dtype &dtype) {
  auto raw = rawEnum(dtype);
  return raw == SKIPATTN_DTYPE_F32 || raw == SKIPATTN_DTYPE_F16 ||
         raw == SKIPATTN_DTYPE_BF16;
}

static float loadFloat(const void *base, skipattn_dtype dtype, size_t i) {
  if (dtype == SKIPATTN_DTYPE_F32) {
    float value;
    std::memcpy(&value, static_cast<const char *>(base) + 4 * i, 4);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, static_cast<const char *>(base) + 2 * i, 2);
  return dtype == SKIPATTN_DTYPE_F16 ? halfToFloat(bits) : bfloatToFloat(bits);
}

static void storeFloat(void *base, skipattn_dtype dtype, size_t i,
                       float value) {
  if (dtype == SKIPATTN_DTYPE_F32) {
    std::memcpy(static_cast<char *>(base) + 4 * i, &value, 4);
    return;
  }
  uint16_t bits =
      dtype == SKIPATTN_DTYPE_F16 ? floatToHalf(value) : floatToBFloat(value);
  std::memcpy(static_cast<char *>(base) + 2 * i, &bits, 2);
}

extern "C" skipattn_status skipattn_convert(const void *src,
                                            skipattn_dtype srcDtype, void *dst,
                                            skipattn_dtype dstDtype,
                                            size_t count) {
  return guard([&] {
    if (!isFloatType(srcDtype) || !isFloatType(dstDtype))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_convert converts between f32, f16 and bf16 only "
                  "(got dtype " +
                      std::to_string(rawEnum(srcDtype)) + " to " +
                      std::to_string(rawEnum(dstDtype)) + ")");
    if (count && (!src || !dst))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_convert: src and dst must not be NULL");
    // memcpy-based element access keeps this valid for unaligned buffers
    // (numpy arrays read from a file need not be aligned).
    for (size_t i = 0; i < count; ++i)
      storeFloat(dst, dstDtype, i, loadFloat(src, srcDtype, i));
    clearError();
    return SKIPATTN_OK;
  });
}
