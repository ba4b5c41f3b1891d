/* dequant.c: uint8 -> float32 dequantization, exactly as utils.Dequantize.
 *
 * x = q * (4/255) + (4/512 - 2) as a float32 multiply then a float32 add. The
 * reference is the plain C loop; an AVX2 version (picked by cpuid) does 32
 * bytes a step. The build uses -ffp-contract=off and the AVX2 code calls mul
 * and add separately, so nothing fuses the multiply-add (an FMA would change
 * 157 of the 256 values); tests compare both against the table for every
 * byte and every alignment. */
#include <string.h>

#include "yt8m.h"

static void dequantize_scalar(float *restrict out, const uint8_t *restrict q, size_t n) {
  const float scale = YT_DQ_SCALE, bias = YT_DQ_BIAS;
  for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * scale + bias;
}

#if defined(__x86_64__)
#include <immintrin.h>

/* 32 bytes -> 32 floats per step: widen u8 to i32, convert, multiply, add.
 * Separate mul and add intrinsics: two roundings, as the scalar loop. */
__attribute__((target("avx2"))) static void dequantize_avx2(float *restrict out, const uint8_t *restrict q,
                                                            size_t n) {
  const __m256 scale = _mm256_set1_ps(YT_DQ_SCALE), bias = _mm256_set1_ps(YT_DQ_BIAS);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i bytes = _mm256_loadu_si256((const __m256i *)(q + i));
    __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
    __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    __m256 c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    __m256 d = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_mul_ps(a, scale), bias));
    _mm256_storeu_ps(out + i + 8, _mm256_add_ps(_mm256_mul_ps(b, scale), bias));
    _mm256_storeu_ps(out + i + 16, _mm256_add_ps(_mm256_mul_ps(c, scale), bias));
    _mm256_storeu_ps(out + i + 24, _mm256_add_ps(_mm256_mul_ps(d, scale), bias));
  }
  dequantize_scalar(out + i, q + i, n - i);
}
#endif

static void (*pick_impl(void))(float *restrict, const uint8_t *restrict, size_t) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return dequantize_avx2;
#endif
  return dequantize_scalar;
}

void yt_dequantize(float *restrict out, const uint8_t *restrict q, size_t n) {
  static void (*impl)(float *restrict, const uint8_t *restrict, size_t);
  if (!impl) impl = pick_impl(); /* idempotent: a race picks the same function */
  impl(out, q, n);
}

void yt_dequantize_portable(float *out, const uint8_t *q, size_t n) { dequantize_scalar(out, q, n); }

static float table[256];
static int table_ready;

const float *yt_dequantize_table(void) {
  if (!table_ready) {
    for (int q = 0; q < 256; q++) {
      volatile float prod = (float)q * YT_DQ_SCALE; /* first rounding */
      table[q] = prod + YT_DQ_BIAS;                 /* second rounding */
    }
    table_ready = 1;
  }
  return table;
}

void yt_record_dequantize(const yt_record *r, const yt_schema *s, float *out) {
  for (int t = 0; t < r->num_frames; t++) {
    float *row = out + (size_t)t * (size_t)s->dim;
    for (int i = 0; i < s->n; i++) {
      const uint8_t *q = r->rows[(size_t)t * (size_t)s->n + (size_t)i];
      if (q) yt_dequantize(row + s->offsets[i], q, (size_t)s->sizes[i]);
      else memset(row + s->offsets[i], 0, sizeof(float) * (size_t)s->sizes[i]);
    }
  }
}
