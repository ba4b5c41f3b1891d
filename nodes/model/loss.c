/* loss.c: the label losses (see loss.h). Per-element terms in float as TF
 * writes them, the sums in double. */
#include "model/loss.h"

#include <math.h>

// p, y (B,C)
float yt_ce_loss_forward(const float *p, const float *y, int B, int C) {
  double total = 0;
  for (size_t i = 0; i < (size_t)B * C; i++)
    total -= y[i] * logf(p[i] + YT_CE_EPS) + (1.0f - y[i]) * logf(1.0f - p[i] + YT_CE_EPS);
  return B > 0 ? (float)(total / B) : 0.0f;
}

// p, y, dp (B,C)
void yt_ce_loss_backward(float *dp, const float *p, const float *y, int B, int C) {
  float inv = 1.0f / (float)B;
  for (size_t i = 0; i < (size_t)B * C; i++)
    dp[i] += inv * ((1.0f - y[i]) / (1.0f - p[i] + YT_CE_EPS) - y[i] / (p[i] + YT_CE_EPS));
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
