/* dequant.c: uint8 -> float32 dequantization, exactly as utils.Dequantize.
 *
 * x = q * (4/255) + (4/512 - 2) as a float32 multiply then a float32 add. The
 * reference is the plain C loop; an AVX2 version (picked by cpuid) does 32
 * bytes a step. The build uses -ffp-contract=off and the AVX2 code calls mul
 * and add separately, so nothing fuses the multiply-add (an FMA would change
 * 157 of the 256 values); tests compare both against the table for every
 * byte and every alignment. yt_dequantize_nt is the same with streaming
 * stores (the batcher's float32 batches). */
#include <stdint.h>
#include <string.h>

#include "yt8m.h"

static void dequantize_scalar(float *restrict out, const uint8_t *restrict q, size_t n) {
  const float scale = YT_DQ_SCALE, bias = YT_DQ_BIAS;
  for (size_t i = 0; i < n; i++) out[i] = (float)q[i] * scale + bias;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) static inline

/* 8 bytes -> 8 floats: widen to i32, convert, multiply, add. Separate mul
 * and add intrinsics: two roundings, as the scalar loop. */
AVX2_INLINE __m256 dq8(__m128i b8) {
  __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b8));
  return _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(YT_DQ_SCALE)), _mm256_set1_ps(YT_DQ_BIAS));
}

AVX2_INLINE void store8(float *p, __m256 v, int streaming) {
  if (streaming) _mm256_stream_ps(p, v); /* p 32-byte aligned */
  else _mm256_storeu_ps(p, v);
}

/* From i, 32 values a step while 32 remain; returns where it stopped.
 * `streaming` is a constant at both call sites: each gets its own loop. */
AVX2_INLINE size_t dq_blocks(float *restrict out, const uint8_t *restrict q, size_t i, size_t n, int streaming) {
  for (; i + 32 <= n; i += 32) {
    __m256i bytes = _mm256_loadu_si256((const __m256i *)(q + i));
    __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
    store8(out + i, dq8(lo), streaming);
    store8(out + i + 8, dq8(_mm_srli_si128(lo, 8)), streaming);
    store8(out + i + 16, dq8(hi), streaming);
    store8(out + i + 24, dq8(_mm_srli_si128(hi, 8)), streaming);
  }
  return i;
}

__attribute__((target("avx2"))) static void dequantize_avx2(float *restrict out, const uint8_t *restrict q,
                                                            size_t n) {
  size_t i = dq_blocks(out, q, 0, n, 0);
  dequantize_scalar(out + i, q + i, n - i);
}

/* The same with streaming stores (ntstore.h's reasoning: a batch of tens of
 * MB that another process reads later): scalar up to out's next 32-byte
 * boundary (out is a float array: 4-byte aligned), then 32 values a step,
 * then the tail; a store fence at the end. Same values as dequantize_avx2. */
__attribute__((target("avx2"))) static void dequantize_avx2_nt(float *restrict out, const uint8_t *restrict q,
                                                               size_t n) {
  size_t i = ((32 - ((uintptr_t)out & 31)) / 4) & 7; /* floats before the boundary */
  if (i > n) i = n;
  dequantize_scalar(out, q, i);
  i = dq_blocks(out, q, i, n, 1);
  _mm_sfence();
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

void yt_dequantize_nt(float *restrict out, const uint8_t *restrict q, size_t n) {
  static void (*impl)(float *restrict, const uint8_t *restrict, size_t);
  if (!impl) { /* the streaming twin of what yt_dequantize picks */
    impl = pick_impl();
#if defined(__x86_64__)
    if (impl == dequantize_avx2) impl = dequantize_avx2_nt;
#endif
  }
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
