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
#ifdef __SSE2__
#include <emmintrin.h>
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

/* 8 independent double sums (one running sum is a chain of dependent adds),
 * lane j over x[8i + j]; the lanes added as below. The SSE2 path keeps the
 * same 8 lanes, two to a register, so it gives the scalar loop's bits. */
typedef struct {
  double acc[8];
} sum8;

static double sum8_total(const sum8 *s) {
  const double *a = s->acc;
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

#ifdef __SSE2__
/* acc[0..7] += (double)x[0..7]^2 */
static inline void sum8_add(__m128d acc[4], __m128 lo, __m128 hi) {
  __m128d d0 = _mm_cvtps_pd(lo), d1 = _mm_cvtps_pd(_mm_movehl_ps(lo, lo));
  __m128d d2 = _mm_cvtps_pd(hi), d3 = _mm_cvtps_pd(_mm_movehl_ps(hi, hi));
  acc[0] = _mm_add_pd(acc[0], _mm_mul_pd(d0, d0));
  acc[1] = _mm_add_pd(acc[1], _mm_mul_pd(d1, d1));
  acc[2] = _mm_add_pd(acc[2], _mm_mul_pd(d2, d2));
  acc[3] = _mm_add_pd(acc[3], _mm_mul_pd(d3, d3));
}
static inline void sum8_store(sum8 *s, const __m128d acc[4]) {
  for (int r = 0; r < 4; r++) _mm_storeu_pd(s->acc + 2 * r, acc[r]);
}
#endif

static double sumsq_block(const float *x, size_t n) {
  sum8 s = {{0}};
  size_t k = 0;
#ifdef __SSE2__
  __m128d acc[4] = {_mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd()};
  for (; k + 8 <= n; k += 8) sum8_add(acc, _mm_loadu_ps(x + k), _mm_loadu_ps(x + k + 4));
  sum8_store(&s, acc);
#endif
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) s.acc[j] += (double)x[k + j] * x[k + j];
  for (; k < n; k++) s.acc[0] += (double)x[k] * x[k];
  return sum8_total(&s);
}

/* The blocks of a sum over n floats: at least 64k floats each, at most
 * SUMSQ_MAX_BLOCKS of them; the block size depends on n alone. */
static size_t sumsq_block_size(size_t n) {
  size_t block = (size_t)1 << 16;
  if (n / block >= SUMSQ_MAX_BLOCKS) block = ((n + SUMSQ_MAX_BLOCKS - 1) / SUMSQ_MAX_BLOCKS + 7) / 8 * 8;
  return block;
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
  /* the block sums add up in order */
  size_t block = sumsq_block_size(n);
  size_t nblocks = n ? (n + block - 1) / block : 0;
  double part[SUMSQ_MAX_BLOCKS];
  sumsq_job j = {x, n, block, part};
  yt_parallel_for(nblocks, 1, 1, sumsq_range, &j);
  double sum = 0;
  for (size_t b = 0; b < nblocks; b++) sum += part[b];
  out[0] = (float)sum;
}

/* ---- the L2 term of one tensor: yt_sumsq(w), yt_axpy(g, l2, w), yt_sumsq(g) in one pass ---- */

typedef struct {
  float *g;
  const float *w;
  float l2;
  size_t n, block;
  double *wpart, *gpart; /* [nblocks] */
} l2_job;

/* one block: the same lanes as sumsq_block over w, then over the new g */
static void l2_block(float *g, const float *w, float l2, size_t n, double *wsum, double *gsum) {
  sum8 sw = {{0}}, sg = {{0}};
  size_t k = 0;
#ifdef __SSE2__
  __m128d aw[4] = {_mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd()};
  __m128d ag[4] = {_mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd()};
  __m128 va = _mm_set1_ps(l2);
  for (; k + 8 <= n; k += 8) {
    __m128 w0 = _mm_loadu_ps(w + k), w1 = _mm_loadu_ps(w + k + 4);
    __m128 g0 = _mm_add_ps(_mm_loadu_ps(g + k), _mm_mul_ps(va, w0)); /* axpy's g + (a w) */
    __m128 g1 = _mm_add_ps(_mm_loadu_ps(g + k + 4), _mm_mul_ps(va, w1));
    _mm_storeu_ps(g + k, g0);
    _mm_storeu_ps(g + k + 4, g1);
    sum8_add(aw, w0, w1);
    sum8_add(ag, g0, g1);
  }
  sum8_store(&sw, aw);
  sum8_store(&sg, ag);
#endif
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) {
      sw.acc[j] += (double)w[k + j] * w[k + j];
      g[k + j] += l2 * w[k + j];
      sg.acc[j] += (double)g[k + j] * g[k + j];
    }
  for (; k < n; k++) {
    sw.acc[0] += (double)w[k] * w[k];
    g[k] += l2 * w[k];
    sg.acc[0] += (double)g[k] * g[k];
  }
  *wsum = sum8_total(&sw);
  *gsum = sum8_total(&sg);
}

static void l2_range(void *ctx, size_t lo, size_t hi) { /* lo, hi: block numbers */
  l2_job *j = ctx;
  for (size_t b = lo; b < hi; b++) {
    size_t at = b * j->block, len = j->n - at < j->block ? j->n - at : j->block;
    l2_block(j->g + at, j->w + at, j->l2, len, j->wpart + b, j->gpart + b);
  }
}

// g, w (n)
void yt_l2_grad(float *wsumsq, float *gsumsq, float *g, const float *w, float l2, size_t n) {
  size_t block = sumsq_block_size(n);
  size_t nblocks = n ? (n + block - 1) / block : 0;
  double wpart[SUMSQ_MAX_BLOCKS], gpart[SUMSQ_MAX_BLOCKS];
  l2_job j = {g, w, l2, n, block, wpart, gpart};
  yt_parallel_for(nblocks, 1, 1, l2_range, &j);
  double ws = 0, gs = 0;
  for (size_t b = 0; b < nblocks; b++) ws += wpart[b], gs += gpart[b];
  wsumsq[0] = (float)ws;
  gsumsq[0] = (float)gs;
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
#ifdef __SSE2__
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
