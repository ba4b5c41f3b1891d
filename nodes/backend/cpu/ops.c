/* ops.c: the CPU twins of the backend's non-layer operations (see ops.h).
 * The Adam update does adam.c's float operations in adam.c's order, four
 * lanes at a time where SSE is there (GCC does not vectorize sqrtf without
 * -fno-math-errno); the lanes and the scalar tail give the same bits. */
#include "backend/cpu/ops.h"

#include <math.h>
#include <string.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "formats/yt8m.h"

// x (n)
void yt_sumsq(float *out, const float *x, size_t n) {
  /* 8 independent double sums: one running sum is a chain of dependent adds */
  double acc[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += (double)x[k + j] * x[k + j];
  for (; k < n; k++) acc[0] += (double)x[k] * x[k];
  out[0] = (float)(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
}

// x, y (n)
void yt_axpy(float *y, float a, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

// w, m, v, g (n)
void yt_adam_update(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip, size_t n,
                    float lr_t, float b1, float b2, float eps) {
  const float one = 1.0f;
  float c1 = one - b1, c2 = one - b2;
  float num = 1.0f, denom = 1.0f; /* g num / denom; 1/1 leaves g exact */
  if (clip > 0.0f) {
    float norm = (float)sqrt((double)gsumsq[0]);
    num = clip;
    denom = norm > clip ? norm : clip;
  }
  size_t k = 0;
#ifdef __SSE__
  __m128 vnum = _mm_set1_ps(num), vden = _mm_set1_ps(denom), valpha = _mm_set1_ps(lr_t);
  __m128 vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2), veps = _mm_set1_ps(eps);
  for (; k + 4 <= n; k += 4) {
    __m128 gk = _mm_div_ps(_mm_mul_ps(_mm_loadu_ps(g + k), vnum), vden);
    __m128 mk = _mm_loadu_ps(m + k), vk = _mm_loadu_ps(v + k);
    mk = _mm_add_ps(mk, _mm_mul_ps(_mm_sub_ps(gk, mk), vc1));
    vk = _mm_add_ps(vk, _mm_mul_ps(_mm_sub_ps(_mm_mul_ps(gk, gk), vk), vc2));
    __m128 step = _mm_div_ps(_mm_mul_ps(mk, valpha), _mm_add_ps(_mm_sqrt_ps(vk), veps));
    _mm_storeu_ps(m + k, mk);
    _mm_storeu_ps(v + k, vk);
    _mm_storeu_ps(w + k, _mm_sub_ps(_mm_loadu_ps(w + k), step));
  }
#endif
  for (; k < n; k++) {
    float gk = g[k] * num / denom;
    m[k] += (gk - m[k]) * c1;
    v[k] += (gk * gk - v[k]) * c2;
    w[k] -= (m[k] * lr_t) / (sqrtf(v[k]) + eps);
  }
}

// idx (N)  x (rows, D)  out (N, D)
void yt_gather_rows(float *out, const float *x, const int32_t *idx, int N, int D) {
  if (D <= 0) return;
  for (int i = 0; i < N; i++) memcpy(out + (size_t)i * D, x + (size_t)idx[i] * D, (size_t)D * sizeof *out);
}

// q, out (B,F,D)  num_frames (B)
void yt_dequantize_frames(float *out, const uint8_t *q, const int32_t *num_frames, int B, int F, int D,
                          float scale, float bias) {
  if (F <= 0 || D <= 0) return;
  /* yt_dequantize (AVX2) gives the same bits as the loop for the standard constants */
  int standard = scale == YT_DQ_SCALE && bias == YT_DQ_BIAS;
  for (int b = 0; b < B; b++) {
    int n = num_frames ? num_frames[b] : F;
    n = n < 0 ? 0 : n > F ? F : n;
    size_t row0 = (size_t)b * F * D, live = (size_t)n * D, all = (size_t)F * D;
    if (standard) {
      yt_dequantize(out + row0, q + row0, live);
    } else {
      for (size_t i = 0; i < live; i++) out[row0 + i] = (float)q[row0 + i] * scale + bias;
    }
    memset(out + row0 + live, 0, (all - live) * sizeof *out);
  }
}

// shadow, w (n)
void yt_ema_update(float *shadow, const float *w, float decay, size_t n) {
  const float one = 1.0f;
  float keep = decay, take = one - decay;
  for (size_t i = 0; i < n; i++) {
    float a = keep * shadow[i], b = take * w[i]; /* two products, then the sum (no fused multiply-add) */
    shadow[i] = a + b;
  }
}
