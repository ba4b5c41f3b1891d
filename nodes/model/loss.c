/* loss.c: the label losses (see loss.h). Per-element terms in float as TF
 * writes them, the sums in double. */
#include "model/loss.h"

#include <math.h>

#include "backend/cpu/parallel.h"

/* Sums over the batch in CE_BLOCKS blocks of rows: each block's double sum on
 * the pool (backend/cpu/parallel.h), then the blocks in order, so the value
 * depends on B and C alone, not on the threads. */
enum { CE_BLOCKS = 64 };

typedef struct {
  const float *p, *y;
  size_t C, rows_per_block, rows;
  double *part;
} ce_fwd_job;

static void ce_forward_range(void *ctx, size_t lo, size_t hi) { /* blocks lo..hi-1 */
  const ce_fwd_job *j = ctx;
  for (size_t k = lo; k < hi; k++) {
    size_t r0 = k * j->rows_per_block, r1 = r0 + j->rows_per_block < j->rows ? r0 + j->rows_per_block : j->rows;
    const float *p = j->p, *y = j->y;
    double total = 0;
    for (size_t i = r0 * j->C; i < r1 * j->C; i++) {
      /* a term whose weight is 0 is -0.0 (its log is finite: p + eps > 0), and
       * adding -0.0 changes nothing: with 0/1 labels one logf per element */
      float pos = y[i] != 0.0f ? y[i] * logf(p[i] + YT_CE_EPS) : 0.0f;
      float neg = y[i] != 1.0f ? (1.0f - y[i]) * logf(1.0f - p[i] + YT_CE_EPS) : 0.0f;
      total -= pos + neg;
    }
    j->part[k] = total;
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

static void ce_backward_range(void *ctx, size_t lo, size_t hi) {
  const ce_job *j = ctx;
  const float *p = j->p, *y = j->y;
  for (size_t i = lo; i < hi; i++)
    j->dp[i] += j->inv * ((1.0f - y[i]) / (1.0f - p[i] + YT_CE_EPS) - y[i] / (p[i] + YT_CE_EPS));
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
