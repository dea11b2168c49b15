//===- half_fallback.cpp - the portable f16 conversions against _Float16 --===//
//
// Half.cpp converts f16 through the compiler's _Float16 where it has one
// and keeps a portable fallback for compilers without (the GPU machine may
// have one). This program is Half.cpp built with the fallback
// (-DSKIPATTN_HAVE_FLOAT16=0) and compares it with _Float16 on every f16
// value and on a sweep of 17 million floats across all exponents: the same
// bits, except that NaN need only stay a NaN of the same sign.
//
//===----------------------------------------------------------------------===//

#include "Half.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

using namespace skipattn::runtime;

static uint16_t viaCompiler(float value) {
  _Float16 half = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &half, 2);
  return bits;
}

static bool isNan16(uint16_t bits) {
  return (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff);
}

int main() {
  long mismatches = 0, count = 0;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    _Float16 half;
    uint16_t h = static_cast<uint16_t>(bits);
    std::memcpy(&half, &h, 2);
    float expected = static_cast<float>(half), got = halfToFloat(h);
    bool same = std::isnan(expected)
                    ? std::isnan(got) && std::signbit(got) == std::signbit(expected)
                    : std::memcmp(&expected, &got, 4) == 0;
    if (!same && mismatches++ < 5)
      std::printf("MISMATCH f16->f32 0x%04x\n", bits);
    ++count;
  }
  std::printf("f16->f32: %ld values\n", count);
  count = 0;
  for (uint64_t bits = 0; bits < (1ull << 32); bits += 251) {
    uint32_t b = static_cast<uint32_t>(bits);
    float value;
    std::memcpy(&value, &b, 4);
    uint16_t expected = viaCompiler(value), got = floatToHalf(value);
    bool same = isNan16(expected)
                    ? isNan16(got) && (got & 0x8000) == (expected & 0x8000)
                    : got == expected;
    if (!same && mismatches++ < 10)
      std::printf("MISMATCH f32->f16 0x%08x: 0x%04x, _Float16 0x%04x\n", b,
                  got, expected);
    ++count;
  }
  std::printf("f32->f16: %ld values\n", count);
  std::printf("%ld mismatches\n", mismatches);
  return mismatches != 0;
}
