//===- Half.h - f16 and bf16 conversions ------------------------*- C++ -*-===//
//
// Conversions between f32 and the two 16-bit float formats, for hosts that
// feed f32 data to f16/bf16 kernels: f16 through the compiler's _Float16
// (SKIPATTN_HAVE_FLOAT16, found by CMake), bf16 by bit manipulation. Every
// build gives the same bits, rounded to nearest even.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_HALF_H
#define SKIPATTN_RUNTIME_HALF_H

#include <cstdint>

namespace skipattn::runtime {

/// IEEE binary16 bits of value, rounded to nearest even.
uint16_t floatToHalf(float value);
/// The f32 value of IEEE binary16 bits; exact.
float halfToFloat(uint16_t bits);
/// bfloat16 bits of value, rounded to nearest even.
uint16_t floatToBFloat(float value);
/// The f32 value of bfloat16 bits; exact.
float bfloatToFloat(uint16_t bits);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_HALF_H
