/* layers.c: the CPU layers (see layers.h). Reductions (batch statistics, sums
 * of squares, softmax denominators) run in double; elementwise math in float
 * as TensorFlow does it. Column reductions walk the rows in blocks of COLS
 * columns so that they read memory in row order without a heap scratch.
 * GCC's -O2 vectorizes almost nothing here (its very-cheap cost model); the
 * pragma lets it, which changes no result: no reduction is reordered and
 * -ffp-contract=off still forbids fused multiply-adds. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif
#include "model/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

enum { COLS = 256 };

static int imin(int a, int b) { return a < b ? a : b; }

/* ---- matmul ------------------------------------------------------------- */

// x (N,D)  w (D,K)  bias (K)  out (N,K)
void yt_matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int D, int K) {
  if (N <= 0 || K <= 0) return;
  if (bias)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * K, bias, (size_t)K * sizeof *out);
  if (D <= 0) {
    if (!bias) memset(out, 0, (size_t)N * K * sizeof *out);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, D, 1.0f, x, D, w, K, bias ? 1.0f : 0.0f, out,
              K);
}

// dout (N,K)  x (N,D)  w (D,K)  dx (N,D)  dw (D,K)  dbias (K)
void yt_matmul_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x, const float *w,
                        int N, int D, int K) {
  if (N <= 0 || K <= 0) return;
  if (dx && D > 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, D, K, 1.0f, dout, K, w, K, 1.0f, dx, D);
  if (dw && D > 0)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, N, 1.0f, x, D, dout, K, 1.0f, dw, K);
  if (dbias) {
    for (int k0 = 0; k0 < K; k0 += COLS) {
      int kn = imin(COLS, K - k0);
      double acc[COLS] = {0};
      for (int n = 0; n < N; n++) {
        const float *r = dout + (size_t)n * K + k0;
        for (int j = 0; j < kn; j++) acc[j] += r[j];
      }
      for (int j = 0; j < kn; j++) dbias[k0 + j] += (float)acc[j];
    }
  }
}

/* ---- activations ---------------------------------------------------------- */

// x, out (n)
void yt_sigmoid_forward(float *out, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-x[i]));
}

// dout, out, dx (n)
void yt_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] += dout[i] * out[i] * (1.0f - out[i]);
}

// x, out (n)
void yt_relu6_forward(float *out, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    out[i] = v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
  }
}

// dout, out, dx (n)
void yt_relu6_backward(float *dx, const float *dout, const float *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (out[i] > 0.0f && out[i] < 6.0f) dx[i] += dout[i];
}

// x, out (N,K)
void yt_softmax_forward(float *out, const float *x, int N, int K) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (size_t)n * K;
    float *o = out + (size_t)n * K;
    float mx = xr[0];
    for (int k = 1; k < K; k++)
      if (xr[k] > mx) mx = xr[k];
    double sum = 0;
    for (int k = 0; k < K; k++) {
      o[k] = expf(xr[k] - mx);
      sum += o[k];
    }
    float inv = (float)(1.0 / sum);
    for (int k = 0; k < K; k++) o[k] *= inv;
  }
}

// dout, out, dx (N,K)
void yt_softmax_backward(float *dx, const float *dout, const float *out, int N, int K) {
  for (int n = 0; n < N; n++) {
    const float *d = dout + (size_t)n * K, *o = out + (size_t)n * K;
    float *g = dx + (size_t)n * K;
    double dot = 0;
    for (int k = 0; k < K; k++) dot += (double)d[k] * o[k];
    float fdot = (float)dot;
    for (int k = 0; k < K; k++) g[k] += o[k] * (d[k] - fdot);
  }
}

/* ---- batch norm ----------------------------------------------------------- */

// x, out (N,C)  gamma, beta, mean, rstd, moving_mean, moving_var (C)
void yt_batchnorm_forward(float *out, float *mean, float *rstd, float *moving_mean, float *moving_var,
                          const float *x, const float *gamma, const float *beta, int N, int C, int training,
                          float decay) {
  const float momentum = (float)(1.0 - (double)decay); /* tf: convert_to_tensor(1.0 - decay) */
  for (int c0 = 0; c0 < C; c0 += COLS) {
    int cn = imin(COLS, C - c0);
    float scale[COLS], shift[COLS]; /* out = (x - shift) * scale + beta */
    if (training) {
      /* one pass: sum and sum of squares in double (float data: the
       * cancellation in E[x^2] - E[x]^2 costs nothing at double precision) */
      double s[COLS] = {0}, q[COLS] = {0};
      for (int n = 0; n < N; n++) {
        const float *r = x + (size_t)n * C + c0;
        for (int j = 0; j < cn; j++) {
          double v = r[j];
          s[j] += v;
          q[j] += v * v;
        }
      }
      for (int j = 0; j < cn; j++) {
        int c = c0 + j;
        double mu = N > 0 ? s[j] / N : 0.0, var = N > 0 ? q[j] / N - mu * mu : 0.0;
        if (var < 0) var = 0;
        q[j] = var * N; /* sum of squared deviations, for the unbiased variance */
        mean[c] = (float)mu;
        rstd[c] = (float)(1.0 / sqrt(var + YT_BN_EPS));
        shift[j] = mean[c];
        scale[j] = rstd[c] * gamma[c];
        if (moving_mean) moving_mean[c] -= (moving_mean[c] - mean[c]) * momentum;
        if (moving_var) {
          float unbiased = (float)(N > 1 ? q[j] / (N - 1) : var);
          moving_var[c] -= (moving_var[c] - unbiased) * momentum;
        }
      }
    } else {
      for (int j = 0; j < cn; j++) {
        int c = c0 + j;
        shift[j] = moving_mean[c];
        scale[j] = gamma[c] / sqrtf(moving_var[c] + YT_BN_EPS);
      }
    }
    for (int n = 0; n < N; n++) {
      const float *r = x + (size_t)n * C + c0;
      float *o = out + (size_t)n * C + c0;
      for (int j = 0; j < cn; j++) o[j] = (r[j] - shift[j]) * scale[j] + beta[c0 + j];
    }
  }
}

// dout, x, dx (N,C)  mean, rstd, gamma, dgamma, dbeta (C)
void yt_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *gamma, int N, int C) {
  if (N <= 0) return;
  for (int c0 = 0; c0 < C; c0 += COLS) {
    int cn = imin(COLS, C - c0);
    double sdy[COLS] = {0}, sdyx[COLS] = {0};
    for (int n = 0; n < N; n++) {
      const float *r = x + (size_t)n * C + c0, *d = dout + (size_t)n * C + c0;
      for (int j = 0; j < cn; j++) {
        float xhat = (r[j] - mean[c0 + j]) * rstd[c0 + j];
        sdy[j] += d[j];
        sdyx[j] += (double)d[j] * xhat;
      }
    }
    for (int j = 0; j < cn; j++) {
      if (dbeta) dbeta[c0 + j] += (float)sdy[j];
      if (dgamma) dgamma[c0 + j] += (float)sdyx[j];
    }
    if (!dx) continue;
    float k[COLS], m1[COLS], m2[COLS];
    for (int j = 0; j < cn; j++) {
      k[j] = gamma[c0 + j] * rstd[c0 + j];
      m1[j] = (float)(sdy[j] / N);
      m2[j] = (float)(sdyx[j] / N);
    }
    for (int n = 0; n < N; n++) {
      const float *r = x + (size_t)n * C + c0, *d = dout + (size_t)n * C + c0;
      float *g = dx + (size_t)n * C + c0;
      for (int j = 0; j < cn; j++) {
        float xhat = (r[j] - mean[c0 + j]) * rstd[c0 + j];
        g[j] += k[j] * (d[j] - m1[j] - xhat * m2[j]);
      }
    }
  }
}

/* ---- l2 normalization ------------------------------------------------------ */

static double sumsq(const float *x, int D) {
  double s = 0;
  for (int d = 0; d < D; d++) s += (double)x[d] * x[d];
  return s;
}

// x, out (N,D)
void yt_l2norm_forward(float *out, const float *x, int N, int D) {
  for (int n = 0; n < N; n++) {
    const float *r = x + (size_t)n * D;
    float *o = out + (size_t)n * D;
    double s = sumsq(r, D);
    float inv = (float)(1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS));
    for (int d = 0; d < D; d++) o[d] = r[d] * inv;
  }
}

// dout, x, dx (N,D)
void yt_l2norm_backward(float *dx, const float *dout, const float *x, int N, int D) {
  for (int n = 0; n < N; n++) {
    const float *r = x + (size_t)n * D, *g = dout + (size_t)n * D;
    float *o = dx + (size_t)n * D;
    double s = sumsq(r, D);
    double inv = 1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS);
    float c = 0.0f; /* r^3 sum(dout x): the part through the norm (none under the floor) */
    if (s >= YT_L2NORM_EPS) {
      double dot = 0;
      for (int d = 0; d < D; d++) dot += (double)g[d] * r[d];
      c = (float)(inv * inv * inv * dot);
    }
    float fi = (float)inv;
    for (int d = 0; d < D; d++) o[d] += fi * g[d] - r[d] * c;
  }
}

/* ---- pooling over frames ---------------------------------------------------- */

static int frames_of(const int32_t *num_frames, int b, int F) {
  if (!num_frames) return F;
  int n = num_frames[b];
  return n < 0 ? 0 : n > F ? F : n;
}

// x (B,F,D)  num_frames (B)  out (B,D)
void yt_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D) {
  for (int b = 0; b < B; b++) {
    int n = frames_of(num_frames, b, F);
    float *o = out + (size_t)b * D;
    memset(o, 0, (size_t)D * sizeof *o);
    if (n == 0) continue;
    for (int t = 0; t < n; t++) {
      const float *r = x + ((size_t)b * F + t) * D;
      for (int d = 0; d < D; d++) o[d] += r[d];
    }
    float fn = (float)n;
    for (int d = 0; d < D; d++) o[d] /= fn;
  }
}

// dout (B,D)  dx (B,F,D)
void yt_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B, int F, int D) {
  for (int b = 0; b < B; b++) {
    int n = frames_of(num_frames, b, F);
    float fn = (float)n;
    const float *g = dout + (size_t)b * D;
    for (int t = 0; t < n; t++) {
      float *o = dx + ((size_t)b * F + t) * D;
      for (int d = 0; d < D; d++) o[d] += g[d] / fn;
    }
  }
}

// x (B,F,D)  num_frames (B)  out (B,D)
void yt_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D) {
  for (int b = 0; b < B; b++) {
    int n = frames_of(num_frames, b, F);
    float *o = out + (size_t)b * D;
    if (n == 0) {
      memset(o, 0, (size_t)D * sizeof *o);
      continue;
    }
    memcpy(o, x + (size_t)b * F * D, (size_t)D * sizeof *o);
    for (int t = 1; t < n; t++) {
      const float *r = x + ((size_t)b * F + t) * D;
      for (int d = 0; d < D; d++)
        if (r[d] > o[d]) o[d] = r[d];
    }
  }
}

// dout (B,D)  x, dx (B,F,D)  out (B,D)
void yt_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                         const int32_t *num_frames, int B, int F, int D) {
  for (int b = 0; b < B; b++) {
    int n = frames_of(num_frames, b, F);
    const float *o = out + (size_t)b * D, *g = dout + (size_t)b * D;
    for (int d0 = 0; d0 < D; d0 += COLS) {
      int dn = imin(COLS, D - d0);
      int cnt[COLS] = {0};
      for (int t = 0; t < n; t++) {
        const float *r = x + ((size_t)b * F + t) * D + d0;
        for (int j = 0; j < dn; j++) cnt[j] += r[j] == o[d0 + j];
      }
      for (int t = 0; t < n; t++) {
        const float *r = x + ((size_t)b * F + t) * D + d0;
        float *q = dx + ((size_t)b * F + t) * D + d0;
        for (int j = 0; j < dn; j++)
          if (r[j] == o[d0 + j]) q[j] += (1.0f / (float)cnt[j]) * g[d0 + j]; /* tf: indicators / count * grad */
      }
    }
  }
}

/* ---- mixture of experts ------------------------------------------------------ */

// gate_logits, gate_p (B, C(M+1))  expert_logits, expert_p (B, CM)  p (B,C)
void yt_moe_combine_forward(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                            const float *expert_logits, int B, int C, int M) {
  size_t rows = (size_t)B * C;
  yt_softmax_forward(gate_p, gate_logits, (int)rows, M + 1);
  yt_sigmoid_forward(expert_p, expert_logits, rows * M);
  for (size_t i = 0; i < rows; i++) {
    const float *g = gate_p + i * (M + 1), *e = expert_p + i * M;
    float s = 0.0f;
    for (int m = 0; m < M; m++) s += g[m] * e[m];
    p[i] = s;
  }
}

// dp (B,C)  gate_p, dgate_logits (B, C(M+1))  expert_p, dexpert_logits (B, CM)
void yt_moe_combine_backward(float *dgate_logits, float *dexpert_logits, const float *dp, const float *gate_p,
                             const float *expert_p, int B, int C, int M) {
  size_t rows = (size_t)B * C;
  for (size_t i = 0; i < rows; i++) {
    const float *g = gate_p + i * (M + 1), *e = expert_p + i * M;
    float d = dp[i];
    /* d p / d gate_p[m] = e[m] (m < M), 0 for the dummy; then the softmax */
    float dot = 0.0f;
    for (int m = 0; m < M; m++) dot += g[m] * (d * e[m]);
    if (dgate_logits) {
      float *dg = dgate_logits + i * (M + 1);
      for (int m = 0; m < M; m++) dg[m] += g[m] * (d * e[m] - dot);
      dg[M] += g[M] * (0.0f - dot);
    }
    if (dexpert_logits) {
      float *de = dexpert_logits + i * M;
      for (int m = 0; m < M; m++) de[m] += d * g[m] * e[m] * (1.0f - e[m]);
    }
  }
}
