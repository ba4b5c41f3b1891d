/* ops.c: the CPU twins of the backend's non-layer operations (see ops.h).
 * The Adam update does adam.c's float operations in adam.c's order, four
 * lanes at a time where SSE is there (GCC does not vectorize sqrtf without
 * -fno-math-errno); the lanes and the scalar tail give the same bits.
 * The loops over a whole tensor (sumsq, axpy, Adam, EMA) are memory-bound and
 * run on the worker pool (parallel.h); their results do not depend on how
 * many threads there are. */
#include "backend/cpu/ops.h"

#include <math.h>
#include <string.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "backend/cpu/parallel.h"
#include "formats/yt8m.h"

/* Below this many floats per thread a loop stays in the caller: waking a
 * worker costs tens of microseconds, about what 64k floats take to stream. */
enum { PAR_MIN = 1 << 16 };

/* ---- sum of squares: fixed blocks, so the result is the same on any number of threads ---- */

enum { SUMSQ_MAX_BLOCKS = 4096 };

typedef struct {
  const float *x;
  size_t n, block;
  double *part; /* [nblocks] */
} sumsq_job;

/* 8 independent double sums: one running sum is a chain of dependent adds */
static double sumsq_block(const float *x, size_t n) {
  double acc[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += (double)x[k + j] * x[k + j];
  for (; k < n; k++) acc[0] += (double)x[k] * x[k];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void sumsq_range(void *ctx, size_t lo, size_t hi) { /* lo, hi: block numbers */
  sumsq_job *j = ctx;
  for (size_t b = lo; b < hi; b++) {
    size_t at = b * j->block, len = j->n - at < j->block ? j->n - at : j->block;
    j->part[b] = sumsq_block(j->x + at, len);
  }
}

// x (n)
void yt_sumsq(float *out, const float *x, size_t n) {
  /* blocks of at least 64k floats, at most SUMSQ_MAX_BLOCKS of them: the
   * block size depends on n alone, and the block sums add up in order */
  size_t block = (size_t)1 << 16;
  if (n / block >= SUMSQ_MAX_BLOCKS) block = ((n + SUMSQ_MAX_BLOCKS - 1) / SUMSQ_MAX_BLOCKS + 7) / 8 * 8;
  size_t nblocks = n ? (n + block - 1) / block : 0;
  double part[SUMSQ_MAX_BLOCKS];
  sumsq_job j = {x, n, block, part};
  yt_parallel_for(nblocks, 1, 1, sumsq_range, &j);
  double sum = 0;
  for (size_t b = 0; b < nblocks; b++) sum += part[b];
  out[0] = (float)sum;
}

/* ---- axpy ---- */

typedef struct {
  float *y;
  float a;
  const float *x;
} axpy_job;

static void axpy_range(void *ctx, size_t lo, size_t hi) {
  axpy_job *j = ctx;
  for (size_t i = lo; i < hi; i++) j->y[i] += j->a * j->x[i];
}

// x, y (n)
void yt_axpy(float *y, float a, const float *x, size_t n) {
  axpy_job j = {y, a, x};
  yt_parallel_for(n, 16, PAR_MIN, axpy_range, &j);
}

/* ---- Adam ---- */

typedef struct {
  float *w, *m, *v;
  const float *g;
  float num, denom, lr_t, c1, c2, eps;
} adam_job;

static void adam_range(void *ctx, size_t lo, size_t hi) {
  const adam_job *j = ctx;
  float *w = j->w, *m = j->m, *v = j->v;
  const float *g = j->g;
  float num = j->num, denom = j->denom, lr_t = j->lr_t, c1 = j->c1, c2 = j->c2, eps = j->eps;
  size_t k = lo;
#ifdef __SSE__
  __m128 vnum = _mm_set1_ps(num), vden = _mm_set1_ps(denom), valpha = _mm_set1_ps(lr_t);
  __m128 vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2), veps = _mm_set1_ps(eps);
  for (; k + 4 <= hi; k += 4) {
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
  for (; k < hi; k++) {
    float gk = g[k] * num / denom;
    m[k] += (gk - m[k]) * c1;
    v[k] += (gk * gk - v[k]) * c2;
    w[k] -= (m[k] * lr_t) / (sqrtf(v[k]) + eps);
  }
}

// w, m, v, g (n)
void yt_adam_update(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip, size_t n,
                    float lr_t, float b1, float b2, float eps) {
  const float one = 1.0f;
  adam_job j = {w, m, v, g, 1.0f, 1.0f, lr_t, one - b1, one - b2, eps}; /* g num / denom; 1/1 leaves g exact */
  if (clip > 0.0f) {
    float norm = (float)sqrt((double)gsumsq[0]);
    j.num = clip;
    j.denom = norm > clip ? norm : clip;
  }
  yt_parallel_for(n, 16, PAR_MIN, adam_range, &j);
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

/* ---- EMA ---- */

typedef struct {
  float *shadow;
  const float *w;
  float keep, take;
} ema_job;

static void ema_range(void *ctx, size_t lo, size_t hi) {
  const ema_job *j = ctx;
  for (size_t i = lo; i < hi; i++) {
    float a = j->keep * j->shadow[i], b = j->take * j->w[i]; /* two products, then the sum (no fused multiply-add) */
    j->shadow[i] = a + b;
  }
}

// shadow, w (n)
void yt_ema_update(float *shadow, const float *w, float decay, size_t n) {
  const float one = 1.0f;
  ema_job j = {shadow, w, decay, one - decay};
  yt_parallel_for(n, 16, PAR_MIN, ema_range, &j);
}
