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

#include "backend/cpu/parallel.h"
#include "backend/cpu/vmath.h"

enum { COLS = 256 };

/* The elementwise layers over a whole batch ([B, C] and wider: the MoE's
 * gates and experts are 2.5M values at batch 128) run on the CPU backend's
 * worker pool in slices; each element or row is computed as in one thread,
 * so the bits do not change. Below PAR_ELEMS values per thread, one thread. */
enum { PAR_ELEMS = 1 << 15 };

static int imin(int a, int b) { return a < b ? a : b; }

/* ---- matmul ------------------------------------------------------------- */

/* Every sgemm below is cut into column slices (or row slices, when there are
 * few columns) of at least GEMM_MIN_COLS, one per thread of the CPU backend's
 * pool, each a single-threaded OpenBLAS call (parallel.c turns OpenBLAS's
 * own threads off). One pool on the cores instead of two: a step's Adam and
 * softmax passes and its sgemms share the same threads. */
enum { GEMM_MIN_COLS = 64, GEMM_MIN_MACS = 1 << 20 };

typedef struct {
  CBLAS_TRANSPOSE ta, tb;
  int M, N, K; /* C (M,N) += op(A) (M,K) op(B) (K,N) */
  float alpha, beta;
  const float *A, *B;
  float *C;
  int lda, ldb, ldc;
} gemm_job;

static void gemm_cols(void *ctx, size_t lo, size_t hi) { /* columns lo..hi-1 of C */
  const gemm_job *g = ctx;
  const float *B = g->tb == CblasNoTrans ? g->B + lo : g->B + lo * (size_t)g->ldb;
  cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->M, (int)(hi - lo), g->K, g->alpha, g->A, g->lda, B, g->ldb,
              g->beta, g->C + lo, g->ldc);
}

static void gemm_rows(void *ctx, size_t lo, size_t hi) { /* rows lo..hi-1 of C */
  const gemm_job *g = ctx;
  const float *A = g->ta == CblasNoTrans ? g->A + lo * (size_t)g->lda : g->A + lo;
  cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)(hi - lo), g->N, g->K, g->alpha, A, g->lda, g->B, g->ldb,
              g->beta, g->C + lo * (size_t)g->ldc, g->ldc);
}

/* C = alpha op(A) op(B) + beta C, row-major, on the pool */
static void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  gemm_job g = {ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
  int threads = (double)M * N * K >= GEMM_MIN_MACS ? yt_cpu_threads() : 1;
  if (threads > 1 && N >= threads * GEMM_MIN_COLS)
    yt_parallel_for((size_t)N, 16, GEMM_MIN_COLS, gemm_cols, &g);
  else if (threads > 1 && M >= threads * 16)
    yt_parallel_for((size_t)M, 1, 16, gemm_rows, &g);
  else
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// x (N,D)  w (D,K)  bias (K)  out (N,K)
void yt_matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int D, int K) {
  if (N <= 0 || K <= 0) return;
  if (bias)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * K, bias, (size_t)K * sizeof *out);
  if (D <= 0) {
    if (!bias) memset(out, 0, (size_t)N * K * sizeof *out);
    return;
  }
  sgemm(CblasNoTrans, CblasNoTrans, N, K, D, 1.0f, x, D, w, K, bias ? 1.0f : 0.0f, out, K);
}

// dout (N,K)  x (N,D)  w (D,K)  dx (N,D)  dw (D,K)  dbias (K)
void yt_matmul_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x, const float *w,
                        int N, int D, int K) {
  if (N <= 0 || K <= 0) return;
  if (dx && D > 0) sgemm(CblasNoTrans, CblasTrans, N, D, K, 1.0f, dout, K, w, K, 1.0f, dx, D);
  if (dw && D > 0) sgemm(CblasTrans, CblasNoTrans, D, K, N, 1.0f, x, D, dout, K, 1.0f, dw, K);
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

typedef struct { /* rows of K values; backward: out = dx, x = the forward's input or output */
  float *out;
  const float *x;
  int K;
  const float *dout;
} rows_job;

/* 1 / (1 + e^-x); four at a time with vmath.h's exp (within 4 ulp of libm's sigmoid),
 * libm's expf for a group with an argument outside its range (NaN included) */
static void sigmoid_range(void *ctx, size_t lo, size_t hi) {
  const rows_job *j = ctx;
  size_t i = lo;
#ifdef __SSE2__
  const __m128 one = _mm_set1_ps(1.0f);
  for (; i + 4 <= hi; i += 4) {
    __m128 nx = _mm_sub_ps(_mm_setzero_ps(), _mm_loadu_ps(j->x + i));
    if (!yt_v4_in(nx, YT_V4_EXP_LO, YT_V4_EXP_HI)) {
      for (size_t k = i; k < i + 4; k++) j->out[k] = 1.0f / (1.0f + expf(-j->x[k]));
      continue;
    }
    _mm_storeu_ps(j->out + i, _mm_div_ps(one, _mm_add_ps(one, yt_v4_exp(nx))));
  }
#endif
  for (; i < hi; i++) j->out[i] = 1.0f / (1.0f + expf(-j->x[i]));
}

// x, out (n)
void yt_sigmoid_forward(float *out, const float *x, size_t n) {
  rows_job j = {.out = out, .x = x, .K = 1};
  yt_parallel_for(n, 16, PAR_ELEMS, sigmoid_range, &j);
}

typedef struct {
  float *dx;
  const float *dout, *out;
} sigmoid_bwd_job;

static void sigmoid_backward_range(void *ctx, size_t lo, size_t hi) {
  const sigmoid_bwd_job *j = ctx;
  for (size_t i = lo; i < hi; i++) j->dx[i] += j->dout[i] * j->out[i] * (1.0f - j->out[i]);
}

// dout, out, dx (n)
void yt_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n) {
  sigmoid_bwd_job j = {dx, dout, out};
  yt_parallel_for(n, 16, PAR_ELEMS, sigmoid_backward_range, &j);
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

static void softmax_range(void *ctx, size_t lo, size_t hi) { /* rows lo..hi-1 */
  const rows_job *j = ctx;
  int K = j->K;
  for (size_t n = lo; n < hi; n++) {
    const float *xr = j->x + n * K;
    float *o = j->out + n * K;
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

// x, out (N,K)
void yt_softmax_forward(float *out, const float *x, int N, int K) {
  if (N <= 0 || K <= 0) return;
  rows_job j = {.out = out, .x = x, .K = K};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / K + 1, softmax_range, &j);
}

static void softmax_backward_range(void *ctx, size_t lo, size_t hi) { /* rows lo..hi-1 */
  const rows_job *j = ctx; /* out = dx, x = the softmax's output */
  int K = j->K;
  for (size_t n = lo; n < hi; n++) {
    const float *d = j->dout + n * K, *o = j->x + n * K;
    float *g = j->out + n * K;
    double dot = 0;
    for (int k = 0; k < K; k++) dot += (double)d[k] * o[k];
    float fdot = (float)dot;
    for (int k = 0; k < K; k++) g[k] += o[k] * (d[k] - fdot);
  }
}

// dout, out, dx (N,K)
void yt_softmax_backward(float *dx, const float *dout, const float *out, int N, int K) {
  if (N <= 0 || K <= 0) return;
  rows_job j = {.out = dx, .x = out, .K = K, .dout = dout};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / K + 1, softmax_backward_range, &j);
}

/* ---- batch norm ----------------------------------------------------------- */

/* Batch norm runs on the pool by column slices (multiples of 16 columns): each
 * column's sums run over the rows in order, as in one thread, so the bits do
 * not depend on the slicing. */
typedef struct {
  float *out, *mean, *rstd, *moving_mean, *moving_var;
  float *dx, *dgamma, *dbeta;
  const float *x, *dout, *gamma, *beta, *cmean, *crstd;
  int N, C, training;
  float momentum;
} bn_job;

static void bn_forward_range(void *ctx, size_t lo, size_t hi) { /* columns lo..hi-1 */
  const bn_job *b = ctx;
  const float *x = b->x, *gamma = b->gamma, *beta = b->beta;
  float *out = b->out, *mean = b->mean, *rstd = b->rstd, *moving_mean = b->moving_mean,
        *moving_var = b->moving_var;
  int N = b->N, C = b->C;
  for (int c0 = (int)lo; c0 < (int)hi; c0 += COLS) {
    int cn = imin(COLS, (int)hi - c0);
    float scale[COLS], shift[COLS]; /* out = (x - shift) * scale + beta */
    if (b->training) {
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
        if (moving_mean) moving_mean[c] -= (moving_mean[c] - mean[c]) * b->momentum;
        if (moving_var) {
          float unbiased = (float)(N > 1 ? q[j] / (N - 1) : var);
          moving_var[c] -= (moving_var[c] - unbiased) * b->momentum;
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

// x, out (N,C)  gamma, beta, mean, rstd, moving_mean, moving_var (C)
void yt_batchnorm_forward(float *out, float *mean, float *rstd, float *moving_mean, float *moving_var,
                          const float *x, const float *gamma, const float *beta, int N, int C, int training,
                          float decay) {
  if (C <= 0) return;
  bn_job j = {.out = out, .mean = mean, .rstd = rstd, .moving_mean = moving_mean, .moving_var = moving_var,
              .x = x, .gamma = gamma, .beta = beta, .N = N, .C = C, .training = training,
              .momentum = (float)(1.0 - (double)decay)}; /* tf: convert_to_tensor(1.0 - decay) */
  yt_parallel_for((size_t)C, 16, PAR_ELEMS / ((size_t)N + 1) + 1, bn_forward_range, &j);
}

static void bn_backward_range(void *ctx, size_t lo, size_t hi) { /* columns lo..hi-1 */
  const bn_job *b = ctx;
  const float *x = b->x, *dout = b->dout, *mean = b->cmean, *rstd = b->crstd, *gamma = b->gamma;
  float *dx = b->dx, *dgamma = b->dgamma, *dbeta = b->dbeta;
  int N = b->N, C = b->C;
  for (int c0 = (int)lo; c0 < (int)hi; c0 += COLS) {
    int cn = imin(COLS, (int)hi - c0);
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

// dout, x, dx (N,C)  mean, rstd, gamma, dgamma, dbeta (C)
void yt_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *gamma, int N, int C) {
  if (N <= 0 || C <= 0) return;
  bn_job j = {.dx = dx, .dgamma = dgamma, .dbeta = dbeta, .x = x, .dout = dout, .cmean = mean, .crstd = rstd,
              .gamma = gamma, .N = N, .C = C};
  yt_parallel_for((size_t)C, 16, PAR_ELEMS / (size_t)N + 1, bn_backward_range, &j);
}

/* ---- l2 normalization ------------------------------------------------------ */

static double sumsq(const float *x, int D) {
  double s = 0;
  for (int d = 0; d < D; d++) s += (double)x[d] * x[d];
  return s;
}

static void l2norm_forward_range(void *ctx, size_t lo, size_t hi) { /* rows lo..hi-1 */
  const rows_job *j = ctx;
  int D = j->K;
  for (size_t n = lo; n < hi; n++) {
    const float *r = j->x + n * D;
    float *o = j->out + n * D;
    double s = sumsq(r, D);
    float inv = (float)(1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS));
    for (int d = 0; d < D; d++) o[d] = r[d] * inv;
  }
}

// x, out (N,D)
void yt_l2norm_forward(float *out, const float *x, int N, int D) {
  if (N <= 0 || D <= 0) return;
  rows_job j = {.out = out, .x = x, .K = D};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / (size_t)D + 1, l2norm_forward_range, &j);
}

static void l2norm_backward_range(void *ctx, size_t lo, size_t hi) { /* rows lo..hi-1 */
  const rows_job *j = ctx;
  int D = j->K;
  for (size_t n = lo; n < hi; n++) {
    const float *r = j->x + n * D, *g = j->dout + n * D;
    float *o = j->out + n * D;
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

// dout, x, dx (N,D)
void yt_l2norm_backward(float *dx, const float *dout, const float *x, int N, int D) {
  if (N <= 0 || D <= 0) return;
  rows_job j = {.out = dx, .x = x, .K = D, .dout = dout};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / (size_t)D + 1, l2norm_backward_range, &j);
}

/* ---- pooling over frames ---------------------------------------------------- */

static int frames_of(const int32_t *num_frames, int b, int F) {
  if (!num_frames) return F;
  int n = num_frames[b];
  return n < 0 ? 0 : n > F ? F : n;
}

/* Videos are independent: pooling runs on the pool by videos. */
typedef struct {
  float *out, *dx;
  const float *x, *dout, *pooled;
  const int32_t *num_frames;
  int F, D;
} pool_job;

/* fn over videos 0..B-1, a thread from PAR_ELEMS values of (F, D) frames */
static void by_videos(yt_range_fn fn, pool_job *j, int B) {
  if (B > 0 && j->D > 0) yt_parallel_for((size_t)B, 1, PAR_ELEMS / ((size_t)j->F * j->D + 1) + 1, fn, j);
}

static void meanpool_forward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const pool_job *j = ctx;
  int F = j->F, D = j->D;
  for (size_t b = lo; b < hi; b++) {
    int n = frames_of(j->num_frames, (int)b, F);
    float *o = j->out + b * D;
    memset(o, 0, (size_t)D * sizeof *o);
    if (n == 0) continue;
    for (int t = 0; t < n; t++) {
      const float *r = j->x + (b * F + t) * D;
      for (int d = 0; d < D; d++) o[d] += r[d];
    }
    float fn = (float)n;
    for (int d = 0; d < D; d++) o[d] /= fn;
  }
}

// x (B,F,D)  num_frames (B)  out (B,D)
void yt_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D) {
  pool_job j = {.out = out, .x = x, .num_frames = num_frames, .F = F, .D = D};
  by_videos(meanpool_forward_range, &j, B);
}

static void meanpool_backward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const pool_job *j = ctx;
  int F = j->F, D = j->D;
  for (size_t b = lo; b < hi; b++) {
    int n = frames_of(j->num_frames, (int)b, F);
    float fn = (float)n;
    const float *g = j->dout + b * D;
    for (int t = 0; t < n; t++) {
      float *o = j->dx + (b * F + t) * D;
      for (int d = 0; d < D; d++) o[d] += g[d] / fn;
    }
  }
}

// dout (B,D)  dx (B,F,D)
void yt_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B, int F, int D) {
  pool_job j = {.dx = dx, .dout = dout, .num_frames = num_frames, .F = F, .D = D};
  by_videos(meanpool_backward_range, &j, B);
}

static void maxpool_forward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const pool_job *j = ctx;
  int F = j->F, D = j->D;
  for (size_t b = lo; b < hi; b++) {
    int n = frames_of(j->num_frames, (int)b, F);
    float *o = j->out + b * D;
    if (n == 0) {
      memset(o, 0, (size_t)D * sizeof *o);
      continue;
    }
    memcpy(o, j->x + b * F * D, (size_t)D * sizeof *o);
    for (int t = 1; t < n; t++) {
      const float *r = j->x + (b * F + t) * D;
      for (int d = 0; d < D; d++)
        if (r[d] > o[d]) o[d] = r[d];
    }
  }
}

// x (B,F,D)  num_frames (B)  out (B,D)
void yt_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int D) {
  pool_job j = {.out = out, .x = x, .num_frames = num_frames, .F = F, .D = D};
  by_videos(maxpool_forward_range, &j, B);
}

static void maxpool_backward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const pool_job *j = ctx;
  int F = j->F, D = j->D;
  for (size_t b = lo; b < hi; b++) {
    int n = frames_of(j->num_frames, (int)b, F);
    const float *o = j->pooled + b * D, *g = j->dout + b * D;
    for (int d0 = 0; d0 < D; d0 += COLS) {
      int dn = imin(COLS, D - d0);
      int cnt[COLS] = {0};
      for (int t = 0; t < n; t++) {
        const float *r = j->x + (b * F + t) * D + d0;
        for (int k = 0; k < dn; k++) cnt[k] += r[k] == o[d0 + k];
      }
      for (int t = 0; t < n; t++) {
        const float *r = j->x + (b * F + t) * D + d0;
        float *q = j->dx + (b * F + t) * D + d0;
        for (int k = 0; k < dn; k++)
          if (r[k] == o[d0 + k]) q[k] += (1.0f / (float)cnt[k]) * g[d0 + k]; /* tf: indicators / count * grad */
      }
    }
  }
}

// dout (B,D)  x, dx (B,F,D)  out (B,D)
void yt_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                         const int32_t *num_frames, int B, int F, int D) {
  pool_job j = {.dx = dx, .dout = dout, .x = x, .pooled = out, .num_frames = num_frames, .F = F, .D = D};
  by_videos(maxpool_backward_range, &j, B);
}

/* ---- mixture of experts ------------------------------------------------------ */

typedef struct {
  float *p, *dgate_logits, *dexpert_logits;
  const float *dp, *gate_p, *expert_p;
  int M;
} moe_job;

static void moe_forward_range(void *ctx, size_t lo, size_t hi) { /* rows (b, c) lo..hi-1 */
  const moe_job *j = ctx;
  int M = j->M;
  for (size_t i = lo; i < hi; i++) {
    const float *g = j->gate_p + i * (M + 1), *e = j->expert_p + i * M;
    float s = 0.0f;
    for (int m = 0; m < M; m++) s += g[m] * e[m];
    j->p[i] = s;
  }
}

// gate_logits, gate_p (B, C(M+1))  expert_logits, expert_p (B, CM)  p (B,C)
void yt_moe_combine_forward(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                            const float *expert_logits, int B, int C, int M) {
  size_t rows = (size_t)B * C;
  yt_softmax_forward(gate_p, gate_logits, (int)rows, M + 1);
  yt_sigmoid_forward(expert_p, expert_logits, rows * M);
  moe_job j = {.p = p, .gate_p = gate_p, .expert_p = expert_p, .M = M};
  yt_parallel_for(rows, 1, PAR_ELEMS / (M + 1) + 1, moe_forward_range, &j);
}

static void moe_backward_range(void *ctx, size_t lo, size_t hi) {
  const moe_job *j = ctx;
  int M = j->M;
  for (size_t i = lo; i < hi; i++) {
    const float *g = j->gate_p + i * (M + 1), *e = j->expert_p + i * M;
    float d = j->dp[i];
    /* d p / d gate_p[m] = e[m] (m < M), 0 for the dummy; then the softmax */
    float dot = 0.0f;
    for (int m = 0; m < M; m++) dot += g[m] * (d * e[m]);
    if (j->dgate_logits) {
      float *dg = j->dgate_logits + i * (M + 1);
      for (int m = 0; m < M; m++) dg[m] += g[m] * (d * e[m] - dot);
      dg[M] += g[M] * (0.0f - dot);
    }
    if (j->dexpert_logits) {
      float *de = j->dexpert_logits + i * M;
      for (int m = 0; m < M; m++) de[m] += d * g[m] * e[m] * (1.0f - e[m]);
    }
  }
}

// dp (B,C)  gate_p, dgate_logits (B, C(M+1))  expert_p, dexpert_logits (B, CM)
void yt_moe_combine_backward(float *dgate_logits, float *dexpert_logits, const float *dp, const float *gate_p,
                             const float *expert_p, int B, int C, int M) {
  moe_job j = {.dgate_logits = dgate_logits, .dexpert_logits = dexpert_logits, .dp = dp, .gate_p = gate_p,
               .expert_p = expert_p, .M = M};
  yt_parallel_for((size_t)B * C, 1, PAR_ELEMS / (M + 1) + 1, moe_backward_range, &j);
}
