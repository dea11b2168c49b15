/*===- naive_attention.c - TEST FIXTURE: a fake cpu bundle kernel ---------===//
 *
 * TEST FIXTURE ONLY. This is not skipattn's kernel and nothing ships it.
 *
 * The skipattn-run tests need a library with the entry ABI of a cpu bundle
 * before skipattn-compile can produce real ones, so that the whole call
 * path (manifest, dlopen, memref descriptors, dtype conversions, lambda and
 * stats plumbing, the JSON line) is checked end to end. make_bundle.py
 * compiles this file with `cc -shared` into a bundle directory, choosing the
 * signature and constants with -D flags that match the manifest it writes:
 *
 *   FIXTURE_DTYPE       0 f32, 1 f16, 2 bf16 (q, k, v, out)
 *   FIXTURE_MASK_DTYPE  -1 no mask, else 0 f32, 1 f16, 2 bf16, 3 i1
 *   FIXTURE_SKIP        0 dense, 1 the entry takes the threshold lambda,
 *                       2 it takes the scale factor F (lambda = F / Skv)
 *   FIXTURE_STATS       1 if the entry takes stats ([B, Hq, 2] counters)
 *   FIXTURE_CAUSAL, FIXTURE_SCALE, FIXTURE_BLOCK_M, FIXTURE_BLOCK_N
 *
 * It computes attention naively in float, one q-block at a time with the
 * online softmax and the skip test of DESIGN.md section 4 (vote group = the
 * whole q-block), so tiles_total and tiles_skipped mean what they mean for
 * real kernels. It also checks the descriptors the runtime built (offset 0,
 * aligned == allocated, row-major strides, matching sizes) and writes NaN
 * everywhere if one is wrong, so a broken descriptor fails the tests.
 *
 *===----------------------------------------------------------------------===*/

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[4];
  int64_t strides[4];
} Desc4;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} Desc3;

static float bitsToFloat(uint32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint32_t floatToBits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return bits;
}

/* f16 -> f32 through the exact exponent arithmetic (no table, no
 * intrinsics); the runtime's own conversion is independent of this one. */
static float halfToFloat(uint16_t h) {
  int exponent = (h >> 10) & 0x1f;
  int mantissa = h & 0x3ff;
  float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0x1f)
    return mantissa ? NAN : sign * INFINITY;
  if (exponent == 0)
    return sign * ldexpf((float)mantissa, -24);
  return sign * ldexpf((float)(mantissa | 0x400), exponent - 25);
}

/* f32 -> f16 by rounding through double arithmetic: scale into the 11-bit
 * significand range and let rint (round half to even) do the rounding. */
static uint16_t floatToHalf(float f) {
  uint16_t sign = signbit(f) ? 0x8000 : 0;
  double a = fabs((double)f);
  if (isnan(f))
    return 0x7e00;
  if (a >= 65520.0)
    return sign | 0x7c00;
  if (a < ldexp(1.0, -14)) /* subnormal: units of 2^-24 */
    return sign | (uint16_t)rint(ldexp(a, 24));
  int e;
  frexp(a, &e);                      /* a = m * 2^e, m in [0.5, 1) */
  double m = rint(ldexp(a, 11 - e)); /* 11 significant bits */
  if (m >= 2048.0) {
    m /= 2.0;
    ++e;
  }
  return sign | (uint16_t)(((e + 14) << 10) | ((int)m - 1024));
}

static float bfloatToFloat(uint16_t b) {
  return bitsToFloat((uint32_t)b << 16);
}

static uint16_t floatToBFloat(float f) {
  if (isnan(f))
    return 0x7fc0;
  uint32_t bits = floatToBits(f);
  uint32_t lower = bits & 0xffff, upper = bits >> 16;
  if (lower > 0x8000 || (lower == 0x8000 && (upper & 1)))
    ++upper;
  return (uint16_t)upper;
}

static float load(const void *base, int dtype, int64_t index) {
  switch (dtype) {
  case 0:
    return ((const float *)base)[index];
  case 1:
    return halfToFloat(((const uint16_t *)base)[index]);
  case 2:
    return bfloatToFloat(((const uint16_t *)base)[index]);
  default:
    return ((const uint8_t *)base)[index] ? 1.0f : 0.0f;
  }
}

static void store(void *base, int dtype, int64_t index, float value) {
  switch (dtype) {
  case 0:
    ((float *)base)[index] = value;
    break;
  case 1:
    ((uint16_t *)base)[index] = floatToHalf(value);
    break;
  default:
    ((uint16_t *)base)[index] = floatToBFloat(value);
    break;
  }
}

/* 1 if the descriptor is what the runtime promises: dense row-major. */
static int wellFormed(const Desc4 *d, int64_t s0, int64_t s1, int64_t s2,
                      int64_t s3) {
  int64_t sizes[4] = {s0, s1, s2, s3};
  int64_t stride = 1;
  if (!d->aligned || d->aligned != d->allocated || d->offset != 0)
    return 0;
  for (int i = 3; i >= 0; --i) {
    if ((sizes[i] >= 0 && d->sizes[i] != sizes[i]) || d->strides[i] != stride)
      return 0;
    stride *= d->sizes[i];
  }
  return 1;
}

static int64_t offset4(const Desc4 *d, int64_t i0, int64_t i1, int64_t i2,
                       int64_t i3) {
  return i0 * d->strides[0] + i1 * d->strides[1] + i2 * d->strides[2] +
         i3 * d->strides[3];
}

enum { MaxBlockM = 256, MaxBlockN = 256, MaxDv = 512 };

static void attention(Desc4 *q, Desc4 *k, Desc4 *v, Desc4 *mask, Desc4 *out,
                      float skipParam, int64_t *stats) {
  const int dtype = FIXTURE_DTYPE, maskDtype = FIXTURE_MASK_DTYPE;
  const int64_t B = q->sizes[0], Hq = q->sizes[1], Sq = q->sizes[2],
                D = q->sizes[3], Hkv = k->sizes[1], Skv = k->sizes[2],
                Dv = v->sizes[3];
  const int64_t blockM = FIXTURE_BLOCK_M, blockN = FIXTURE_BLOCK_N;
  const float scale = (float)(FIXTURE_SCALE);
  const float lambda = FIXTURE_SKIP == 2 ? skipParam / (float)Skv : skipParam;
  const int skipping = FIXTURE_SKIP && lambda > 0.0f && lambda < 1.0f;
  const float logLambda = skipping ? logf(lambda) : 0.0f;

  int ok = blockM <= MaxBlockM && blockN <= MaxBlockN && Dv <= MaxDv &&
           wellFormed(q, -1, -1, -1, -1) && wellFormed(k, B, -1, -1, D) &&
           wellFormed(v, B, Hkv, Skv, -1) && wellFormed(out, B, Hq, Sq, Dv) &&
           Hq % Hkv == 0;
  if (mask)
    ok = ok && wellFormed(mask, -1, -1, -1, -1);
  if (!ok) {
    for (int64_t i = 0;
         i < out->sizes[0] * out->sizes[1] * out->sizes[2] * out->sizes[3]; ++i)
      store(out->aligned, dtype, i, NAN);
    return;
  }

  static float m[MaxBlockM], l[MaxBlockM], acc[MaxBlockM][MaxDv];
  static float scores[MaxBlockM][MaxBlockN];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t q0 = 0; q0 < Sq; q0 += blockM) {
        int64_t rows = Sq - q0 < blockM ? Sq - q0 : blockM;
        int64_t kh = h / (Hq / Hkv);
        for (int64_t r = 0; r < rows; ++r) {
          m[r] = -INFINITY;
          l[r] = 0.0f;
          for (int64_t c = 0; c < Dv; ++c)
            acc[r][c] = 0.0f;
        }
        /* Causal is bottom-right aligned: row i sees columns up to
         * i + Skv - Sq. Blocks past the last row's limit are not visited. */
        int64_t kvEnd = Skv;
        if (FIXTURE_CAUSAL) {
          kvEnd = q0 + rows - 1 + Skv - Sq + 1;
          if (kvEnd > Skv)
            kvEnd = Skv;
        }
        int first = 1;
        for (int64_t k0 = 0; k0 < kvEnd; k0 += blockN) {
          int64_t cols = Skv - k0 < blockN ? Skv - k0 : blockN;
          int allVoteSkip = 1;
          for (int64_t r = 0; r < rows; ++r) {
            int64_t i = q0 + r;
            float rowMax = -INFINITY;
            for (int64_t c = 0; c < cols; ++c) {
              int64_t j = k0 + c;
              float s = -INFINITY;
              if (!FIXTURE_CAUSAL || j <= i + Skv - Sq) {
                float dot = 0.0f;
                for (int64_t d = 0; d < D; ++d)
                  dot += load(q->aligned, dtype, offset4(q, b, h, i, d)) *
                         load(k->aligned, dtype, offset4(k, b, kh, j, d));
                s = dot * scale;
                if (mask) {
                  /* A mask extent of 1 broadcasts: index 0 there. */
                  int64_t at = offset4(mask, mask->sizes[0] == 1 ? 0 : b,
                                       mask->sizes[1] == 1 ? 0 : h,
                                       mask->sizes[2] == 1 ? 0 : i,
                                       mask->sizes[3] == 1 ? 0 : j);
                  float mv = load(mask->aligned, maskDtype, at);
                  if (maskDtype == 3)
                    s = mv != 0.0f ? s : -INFINITY;
                  else
                    s += mv;
                }
              }
              scores[r][c] = s;
              if (s > rowMax)
                rowMax = s;
            }
            /* Rows whose tile is all -inf vote to skip. */
            if (!(rowMax == -INFINITY || rowMax - m[r] < logLambda))
              allVoteSkip = 0;
          }
          int64_t *pair = stats ? stats + (b * Hq + h) * 2 : 0;
          if (pair)
            pair[0] += 1;
          if (skipping && !first && allVoteSkip) {
            if (pair)
              pair[1] += 1;
            continue;
          }
          first = 0;
          for (int64_t r = 0; r < rows; ++r) {
            float rowMax = m[r];
            for (int64_t c = 0; c < cols; ++c)
              if (scores[r][c] > rowMax)
                rowMax = scores[r][c];
            if (rowMax == -INFINITY)
              continue;
            float alpha = expf(m[r] - rowMax);
            l[r] *= alpha;
            for (int64_t c = 0; c < Dv; ++c)
              acc[r][c] *= alpha;
            for (int64_t c = 0; c < cols; ++c) {
              float p = expf(scores[r][c] - rowMax);
              l[r] += p;
              for (int64_t d = 0; d < Dv; ++d)
                acc[r][d] +=
                    p * load(v->aligned, dtype, offset4(v, b, kh, k0 + c, d));
            }
            m[r] = rowMax;
          }
        }
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t d = 0; d < Dv; ++d)
            store(out->aligned, dtype, offset4(out, b, h, q0 + r, d),
                  l[r] > 0.0f ? acc[r][d] / l[r] : 0.0f);
      }
}

/* The entry, with the parameter list the manifest's "arguments" names. */
#if FIXTURE_MASK_DTYPE >= 0
#define MASK_PARAM Desc4 *mask,
#define MASK_ARG mask
#else
#define MASK_PARAM
#define MASK_ARG 0
#endif
#if FIXTURE_SKIP
#define LAMBDA_PARAM , float lambda
#define LAMBDA_ARG lambda
#else
#define LAMBDA_PARAM
#define LAMBDA_ARG 0.0f
#endif
#if FIXTURE_STATS
#define STATS_PARAM , Desc3 *stats
#define STATS_ARG statsPointer(stats, q)
/* The counters: an int64 [B, Hq, 2] row-major memref, or NULL (no
 * counting) if malformed. */
static int64_t *statsPointer(Desc3 *d, const Desc4 *q) {
  if (!d->aligned || d->aligned != d->allocated || d->offset != 0 ||
      d->sizes[0] != q->sizes[0] || d->sizes[1] != q->sizes[1] ||
      d->sizes[2] != 2 || d->strides[0] != 2 * q->sizes[1] ||
      d->strides[1] != 2 || d->strides[2] != 1)
    return 0;
  return (int64_t *)d->aligned;
}
#else
#define STATS_PARAM
#define STATS_ARG 0
#endif

void _mlir_ciface_skipattn_attention(Desc4 *q, Desc4 *k, Desc4 *v,
                                     MASK_PARAM Desc4 *out LAMBDA_PARAM
                                         STATS_PARAM) {
  attention(q, k, v, MASK_ARG, out, LAMBDA_ARG, STATS_ARG);
}
