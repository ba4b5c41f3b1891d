/* loss.c: the label losses (see loss.h). Per-element terms in float as TF
 * writes them, the sums in double. */
#include "model/loss.h"

#include <float.h>
#include <math.h>

#include "backend/cpu/parallel.h"
#include "backend/cpu/vmath.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Sums over the batch in CE_BLOCKS blocks of rows: each block's double sum on
 * the pool (backend/cpu/parallel.h), then the blocks in order, so the value
 * depends on B and C alone, not on the threads. */
enum { CE_BLOCKS = 64 };

typedef struct {
  const float *p, *y;
  size_t C, rows_per_block, rows;
  double *part;
} ce_fwd_job;

/* One element's term, as TF writes it: a term whose weight is 0 is -0.0 (its
 * log is finite: p + eps > 0), and adding -0.0 changes nothing, so with 0/1
 * labels one logf per element. */
static inline float ce_term(float p, float y) {
  float pos = y != 0.0f ? y * logf(p + YT_CE_EPS) : 0.0f;
  float neg = y != 1.0f ? (1.0f - y) * logf(1.0f - p + YT_CE_EPS) : 0.0f;
  return pos + neg;
}

#ifdef __SSE2__
/* Four elements' arguments: xp = p + eps, xn = 1 - p + eps, and where every
 * label is 0 or 1 (*binary), x = the one argument whose term has weight 1
 * (y 1: xp, y 0: xn) and *pos = the lanes with y 1. */
typedef struct {
  __m128 xp, xn, x, pos;
  int binary;
} ce_args;

static inline ce_args ce_args4(__m128 pv, __m128 yv) {
  const __m128 one = _mm_set1_ps(1.0f), eps = _mm_set1_ps(YT_CE_EPS);
  ce_args a;
  a.xp = _mm_add_ps(pv, eps);
  a.xn = _mm_add_ps(_mm_sub_ps(one, pv), eps);
  a.pos = _mm_cmpeq_ps(yv, one);
  a.binary = _mm_movemask_ps(_mm_or_ps(a.pos, _mm_cmpeq_ps(yv, _mm_setzero_ps()))) == 0xf;
  a.x = _mm_or_ps(_mm_and_ps(a.pos, a.xp), _mm_andnot_ps(a.pos, a.xn));
  return a;
}
#endif

/* The sum of ce_term over elements [i0, i1), in double: four lanes (element
 * i into lane (i - i0) % 4 where SSE2 is there, lane 0 elsewhere), added up
 * at the end. Four at a time, the logs are vmath.h's (within 1.4 ulp of logf;
 * only the reported loss reads them: the gradient takes no log). */
static double ce_sum(const float *p, const float *y, size_t i0, size_t i1) {
  double lane[4] = {0};
  size_t i = i0;
#ifdef __SSE2__
  const __m128 one = _mm_set1_ps(1.0f);
  __m128d a01 = _mm_setzero_pd(), a23 = _mm_setzero_pd();
  for (; i + 4 <= i1; i += 4) {
    __m128 yv = _mm_loadu_ps(y + i), t;
    ce_args a = ce_args4(_mm_loadu_ps(p + i), yv);
    if (a.binary && yt_v4_in(a.x, FLT_MIN, FLT_MAX)) {
      t = yt_v4_log(a.x); /* 0/1 labels: the one term of weight 1 (the other is 0), as ce_term */
    } else if (yt_v4_in(a.xp, FLT_MIN, FLT_MAX) && yt_v4_in(a.xn, FLT_MIN, FLT_MAX)) {
      t = _mm_add_ps(_mm_mul_ps(yv, yt_v4_log(a.xp)), _mm_mul_ps(_mm_sub_ps(one, yv), yt_v4_log(a.xn)));
    } else { /* NaN, inf or p outside [0, 1]: logf's answer, lane by lane */
      float tt[4];
      for (int k = 0; k < 4; k++) tt[k] = ce_term(p[i + k], y[i + k]);
      t = _mm_loadu_ps(tt);
    }
    a01 = _mm_add_pd(a01, _mm_cvtps_pd(t));
    a23 = _mm_add_pd(a23, _mm_cvtps_pd(_mm_movehl_ps(t, t)));
  }
  _mm_storeu_pd(lane, a01);
  _mm_storeu_pd(lane + 2, a23);
#endif
  for (; i < i1; i++) lane[0] += ce_term(p[i], y[i]);
  return -((lane[0] + lane[1]) + (lane[2] + lane[3]));
}

static void ce_forward_range(void *ctx, size_t lo, size_t hi) { /* blocks lo..hi-1 */
  const ce_fwd_job *j = ctx;
  for (size_t k = lo; k < hi; k++) {
    size_t r0 = k * j->rows_per_block, r1 = r0 + j->rows_per_block < j->rows ? r0 + j->rows_per_block : j->rows;
    j->part[k] = ce_sum(j->p, j->y, r0 * j->C, r1 * j->C);
  }
}

// p, y (B,C)
float yt_ce_loss_forward(const float *p, const float *y, int B, int C) {
  if (B <= 0 || C <= 0) return 0.0f;
  double part[CE_BLOCKS];
  size_t per = ((size_t)B + CE_BLOCKS - 1) / CE_BLOCKS, blocks = ((size_t)B + per - 1) / per;
  ce_fwd_job j = {p, y, (size_t)C, per, (size_t)B, part};
  yt_parallel_for(blocks, 1, (size_t)(1 << 15) / ((size_t)C * per) + 1, ce_forward_range, &j);
  double total = 0;
  for (size_t k = 0; k < blocks; k++) total += part[k];
  return (float)(total / B);
}

typedef struct {
  float *dp;
  const float *p, *y;
  float inv;
} ce_job;

/* dp += inv ((1 - y) / (1 - p + eps) - y / (p + eps)). Four at a time: with
 * 0/1 labels one of the two quotients is 0 / x = 0 and the other 1 / x, so
 * one divide gives the same bits (x - 0 = x, 0 - x = -x). */
static void ce_backward_range(void *ctx, size_t lo, size_t hi) {
  const ce_job *j = ctx;
  const float *p = j->p, *y = j->y;
  float *dp = j->dp;
  size_t i = lo;
#ifdef __SSE2__
  const __m128 one = _mm_set1_ps(1.0f), inv = _mm_set1_ps(j->inv), sign = _mm_set1_ps(-0.0f);
  for (; i + 4 <= hi; i += 4) {
    __m128 yv = _mm_loadu_ps(y + i), t;
    ce_args a = ce_args4(_mm_loadu_ps(p + i), yv);
    if (a.binary) { /* y 1: -1 / (p + eps); y 0: 1 / (1 - p + eps) */
      t = _mm_xor_ps(_mm_div_ps(one, a.x), _mm_and_ps(a.pos, sign));
    } else {
      t = _mm_sub_ps(_mm_div_ps(_mm_sub_ps(one, yv), a.xn), _mm_div_ps(yv, a.xp));
    }
    _mm_storeu_ps(dp + i, _mm_add_ps(_mm_loadu_ps(dp + i), _mm_mul_ps(inv, t)));
  }
#endif
  for (; i < hi; i++) dp[i] += j->inv * ((1.0f - y[i]) / (1.0f - p[i] + YT_CE_EPS) - y[i] / (p[i] + YT_CE_EPS));
}

// p, y, dp (B,C)
void yt_ce_loss_backward(float *dp, const float *p, const float *y, int B, int C) {
  /* elementwise: on the CPU backend's pool (backend/cpu/parallel.h), same bits */
  ce_job j = {dp, p, y, 1.0f / (float)B};
  yt_parallel_for((size_t)B * C, 16, 1 << 15, ce_backward_range, &j);
}

// p, y (B,C)
float yt_hinge_loss_forward(const float *p, const float *y, int B, int C) {
  double total = 0;
  for (size_t i = 0; i < (size_t)B * C; i++) {
    float h = 1.0f - (2.0f * y[i] - 1.0f) * p[i];
    if (h > 0.0f) total += h;
  }
  return B > 0 ? (float)(total / B) : 0.0f;
}

// p, y, dp (B,C)
void yt_hinge_loss_backward(float *dp, const float *p, const float *y, int B, int C) {
  float inv = 1.0f / (float)B;
  for (size_t i = 0; i < (size_t)B * C; i++) {
    float sign = 2.0f * y[i] - 1.0f;
    if (1.0f - sign * p[i] > 0.0f) dp[i] -= inv * sign; /* tf.maximum(0, h): h gets the gradient when h > 0 */
  }
}

/* Row b's normalizer 1/max(sum y, eps), max and log-sum-exp of p. */
static void softmax_row(const float *p, const float *y, int C, float *ynorm, float *mx, double *lse) {
  double ys = 0;
  float m = p[0];
  for (int c = 0; c < C; c++) {
    ys += y[c];
    if (p[c] > m) m = p[c];
  }
  double s = 0;
  for (int c = 0; c < C; c++) s += exp((double)p[c] - m);
  *ynorm = (float)(1.0 / (ys > YT_SOFTMAX_EPS ? ys : YT_SOFTMAX_EPS));
  *mx = m;
  *lse = log(s);
}

// p, y (B,C)
float yt_softmax_loss_forward(const float *p, const float *y, int B, int C) {
  double total = 0;
  for (int b = 0; b < B; b++) {
    const float *pr = p + (size_t)b * C, *yr = y + (size_t)b * C;
    float ynorm, mx;
    double lse;
    softmax_row(pr, yr, C, &ynorm, &mx, &lse);
    for (int c = 0; c < C; c++) total -= (double)(yr[c] * ynorm) * ((double)pr[c] - mx - lse);
  }
  return B > 0 ? (float)(total / B) : 0.0f;
}

// p, y, dp (B,C)
void yt_softmax_loss_backward(float *dp, const float *p, const float *y, int B, int C) {
  float inv = 1.0f / (float)B;
  for (int b = 0; b < B; b++) {
    const float *pr = p + (size_t)b * C, *yr = y + (size_t)b * C;
    float *g = dp + (size_t)b * C;
    float ynorm, mx;
    double lse, ysum = 0;
    softmax_row(pr, yr, C, &ynorm, &mx, &lse);
    for (int c = 0; c < C; c++) ysum += yr[c] * ynorm;
    /* d/dp_c of -sum_k y~_k (p_k - lse) = softmax_c sum_k y~_k - y~_c */
    for (int c = 0; c < C; c++) {
      float s = (float)exp((double)pr[c] - mx - lse);
      g[c] += inv * (s * (float)ysum - yr[c] * ynorm);
    }
  }
}

float yt_loss_forward(int kind, const float *p, const float *y, int B, int C) {
  switch (kind) {
  case YT_LOSS_HINGE: return yt_hinge_loss_forward(p, y, B, C);
  case YT_LOSS_SOFTMAX: return yt_softmax_loss_forward(p, y, B, C);
  default: return yt_ce_loss_forward(p, y, B, C);
  }
}

void yt_loss_backward(int kind, float *dp, const float *p, const float *y, int B, int C) {
  switch (kind) {
  case YT_LOSS_HINGE: yt_hinge_loss_backward(dp, p, y, B, C); break;
  case YT_LOSS_SOFTMAX: yt_softmax_loss_backward(dp, p, y, B, C); break;
  default: yt_ce_loss_backward(dp, p, y, B, C); break;
  }
}

const char *yt_loss_name(int kind) {
  switch (kind) {
  case YT_LOSS_CE: return "CrossEntropyLoss";
  case YT_LOSS_HINGE: return "HingeLoss";
  case YT_LOSS_SOFTMAX: return "SoftmaxLoss";
  default: return NULL;
  }
}
