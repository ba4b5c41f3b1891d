/* vmath.h: exp and log of four floats at a time (SSE2), for the CPU
 * backend's elementwise loops that spend their time in libm: the sigmoid
 * (model/layers.c) and the cross-entropy loss (model/loss.c).
 *
 * Cephes' expf and logf: the same range reductions and polynomials. Measured
 * where they are used (tests/model/test_vmath.c): the sigmoid within 4 ulp of
 * glibc's 1 / (1 + expf(-x)) over [-100, 100], the loss's logs within 1.4
 * ulp of logf. So a CPU run's bits differ from a libm build's, not its
 * results: the CUDA twins (expf, logf of the device) differ from both. They handle finite arguments in a stated range only; the
 * callers check a group of four first (yt_v4_in) and take libm for a group
 * with anything else (NaN, inf, a huge argument), so those keep libm's
 * answers. Not here: the sums (the callers keep their own lanes). */
#ifndef YT_BACKEND_CPU_VMATH_H
#define YT_BACKEND_CPU_VMATH_H

#ifdef __SSE2__
#include <emmintrin.h>

/* 1 when every lane x satisfies lo <= x <= hi (NaN fails) */
static inline int yt_v4_in(__m128 x, float lo, float hi) {
  __m128 ok = _mm_and_ps(_mm_cmpge_ps(x, _mm_set1_ps(lo)), _mm_cmple_ps(x, _mm_set1_ps(hi)));
  return _mm_movemask_ps(ok) == 0xf;
}

/* e^x for x in [YT_V4_EXP_LO, YT_V4_EXP_HI]: x = n ln2 + r with |r| <= ln2 / 2
 * (ln2 in two parts), e^r by a degree-6 polynomial, times 2^n through the
 * exponent bits. */
#define YT_V4_EXP_LO (-87.0f)
#define YT_V4_EXP_HI 88.0f
static inline __m128 yt_v4_exp(__m128 x) {
  __m128 fx = _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)), _mm_set1_ps(0.5f));
  __m128i n = _mm_cvttps_epi32(fx); /* truncation: floor for fx >= 0, one too big below */
  __m128 nf = _mm_cvtepi32_ps(n);
  __m128 over = _mm_cmpgt_ps(nf, fx);
  nf = _mm_sub_ps(nf, _mm_and_ps(over, _mm_set1_ps(1.0f)));
  n = _mm_cvttps_epi32(nf);
  __m128 r = _mm_sub_ps(x, _mm_mul_ps(nf, _mm_set1_ps(0.693359375f)));
  r = _mm_sub_ps(r, _mm_mul_ps(nf, _mm_set1_ps(-2.12194440e-4f)));
  __m128 z = _mm_mul_ps(r, r);
  __m128 y = _mm_set1_ps(1.9875691500e-4f);
  y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(1.3981999507e-3f));
  y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(8.3334519073e-3f));
  y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(4.1665795894e-2f));
  y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(1.6666665459e-1f));
  y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(5.0000001201e-1f));
  y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(y, z), r), _mm_set1_ps(1.0f));
  __m128i pow2n = _mm_slli_epi32(_mm_add_epi32(n, _mm_set1_epi32(127)), 23);
  return _mm_mul_ps(y, _mm_castsi128_ps(pow2n));
}

/* log(x) for positive normal x (FLT_MIN <= x <= FLT_MAX): x = m 2^e with m
 * in [sqrt(1/2), sqrt(2)), log(m) by a degree-9 polynomial, plus e ln2 (ln2
 * in two parts). */
static inline __m128 yt_v4_log(__m128 x) {
  const __m128 one = _mm_set1_ps(1.0f);
  __m128i xi = _mm_castps_si128(x);
  __m128 e = _mm_cvtepi32_ps(_mm_sub_epi32(_mm_srli_epi32(xi, 23), _mm_set1_epi32(126)));
  __m128 m = _mm_castsi128_ps(_mm_or_si128(_mm_and_si128(xi, _mm_set1_epi32(0x007fffff)), _mm_set1_epi32(0x3f000000)));
  /* m in [0.5, 1): below sqrt(1/2) take 2m - 1 and e - 1, else m - 1 */
  __m128 small = _mm_cmplt_ps(m, _mm_set1_ps(0.707106781186547524f));
  e = _mm_sub_ps(e, _mm_and_ps(one, small));
  m = _mm_add_ps(_mm_sub_ps(m, one), _mm_and_ps(m, small));
  __m128 z = _mm_mul_ps(m, m);
  static const float c[9] = {7.0376836292e-2f, -1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f,
                             1.4249322787e-1f, -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f,
                             3.3333331174e-1f};
  __m128 y = _mm_set1_ps(c[0]);
  for (int k = 1; k < 9; k++) y = _mm_add_ps(_mm_mul_ps(y, m), _mm_set1_ps(c[k]));
  y = _mm_mul_ps(_mm_mul_ps(y, m), z);
  y = _mm_add_ps(y, _mm_mul_ps(e, _mm_set1_ps(-2.12194440e-4f)));
  y = _mm_sub_ps(y, _mm_mul_ps(z, _mm_set1_ps(0.5f)));
  return _mm_add_ps(_mm_add_ps(m, y), _mm_mul_ps(e, _mm_set1_ps(0.693359375f)));
}
#endif

#endif
