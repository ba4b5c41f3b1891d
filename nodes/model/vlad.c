/* vlad.c: the CPU layers of vlad.h. Reductions (cluster weights' sums,
 * column sums of squares) run in double as layers.c does; the per-video
 * products aT x, x dv and a dvT are OpenBLAS sgemm calls. Column reductions
 * walk rows in blocks of COLS columns, reading memory in row order without a
 * heap scratch. Loops over videos or rows run on the CPU backend's pool
 * (backend/cpu/parallel.h); each sum keeps its order, so the bits do not
 * depend on the number of threads. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif
#include "model/vlad.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/parallel.h"

#include "model/layers.h"

enum { COLS = 256 };

static int imin(int a, int b) {
  return a < b ? a : b;
}

/* ---- frames and columns ------------------------------------------------------ */

/* Copies by rows on the pool (memory-bound; the bits do not depend on the slicing). */
enum { PAR_ELEMS = 1 << 15 };

typedef struct {
  float *out;
  const float *x;
  const int32_t *idx;
  int S, F, W, ldo, ldx;
} copy_job;

static void gather_range(void *ctx, size_t lo, size_t hi) { /* output rows lo..hi-1 */
  const copy_job *j = ctx;
  for (size_t i = lo; i < hi; i++) {
    size_t b = i / (size_t)j->S;
    memcpy(j->out + i * j->W, j->x + (b * j->F + j->idx[i]) * j->W, (size_t)j->W * sizeof *j->out);
  }
}

// x (B,F,D)  idx (B,S)  out (B*S,D)
void yt_gather_frames(float *out, const float *x, const int32_t *idx, int B, int S, int F, int D) {
  if (B <= 0 || S <= 0 || D <= 0) return;
  copy_job j = {.out = out, .x = x, .idx = idx, .S = S, .F = F, .W = D};
  yt_parallel_for((size_t)B * S, 1, PAR_ELEMS / (size_t)D + 1, gather_range, &j);
}

static void cols_forward_range(void *ctx, size_t lo, size_t hi) {
  const copy_job *j = ctx;
  for (size_t n = lo; n < hi; n++)
    memcpy(j->out + n * j->ldo, j->x + n * j->ldx, (size_t)j->W * sizeof *j->out);
}

// x (N, ldx)  out (N, ldo)
void yt_cols_forward(float *out, const float *x, int N, int W, int ldo, int ldx) {
  if (N <= 0 || W <= 0) return;
  copy_job j = {.out = out, .x = x, .W = W, .ldo = ldo, .ldx = ldx};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / (size_t)W + 1, cols_forward_range, &j);
}

static void cols_backward_range(void *ctx, size_t lo, size_t hi) {
  const copy_job *j = ctx; /* out = dx (N, ldx), x = dout (N, ldo) */
  for (size_t n = lo; n < hi; n++) {
    float *g = j->out + n * j->ldx;
    const float *d = j->x + n * j->ldo;
    for (int k = 0; k < j->W; k++) g[k] += d[k];
  }
}

// dout (N, ldo)  dx (N, ldx)
void yt_cols_backward(float *dx, const float *dout, int N, int W, int ldo, int ldx) {
  if (N <= 0 || W <= 0) return;
  copy_job j = {.out = dx, .x = dout, .W = W, .ldo = ldo, .ldx = ldx};
  yt_parallel_for((size_t)N, 1, PAR_ELEMS / (size_t)W + 1, cols_backward_range, &j);
}

/* ---- VLAD aggregation ----------------------------------------------------------- */

typedef struct {
  float *v, *asum, *da, *dx, *dc;
  const float *a, *x, *c, *dv, *asum_c;
  int S, D, K, B;
} vlad_job;

static void vlad_forward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const vlad_job *j = ctx;
  int S = j->S, D = j->D, K = j->K;
  for (size_t b = lo; b < hi; b++) {
    const float *ab = j->a + b * S * K, *xb = j->x + b * S * D;
    float *vb = j->v + b * D * K, *sb = j->asum + b * K;
    for (int k0 = 0; k0 < K; k0 += COLS) {
      int kn = imin(COLS, K - k0);
      double acc[COLS] = {0};
      for (int s = 0; s < S; s++) {
        const float *r = ab + (size_t)s * K + k0;
        for (int q = 0; q < kn; q++) acc[q] += r[q];
      }
      for (int q = 0; q < kn; q++) sb[k0 + q] = (float)acc[q];
    }
    if (S <= 0) {
      memset(vb, 0, (size_t)D * K * sizeof *vb);
      continue;
    }
    /* vb (D,K) = xbT (D,S) ab (S,K) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, S, 1.0f, xb, D, ab, K, 0.0f, vb, K);
    if (!j->c) continue;
    for (int d = 0; d < D; d++) {
      float *r = vb + (size_t)d * K;
      const float *cr = j->c + (size_t)d * K;
      for (int k = 0; k < K; k++) r[k] -= sb[k] * cr[k];
    }
  }
}

/* Videos are independent: they run on the CPU backend's pool
 * (backend/cpu/parallel.h), one single-threaded sgemm each. */
// a (B,S,K)  x (B,S,D)  c (D,K)  v (B,D,K)  asum (B,K)
void yt_vlad_forward(float *v, float *asum, const float *a, const float *x, const float *c, int B, int S,
                     int D, int K) {
  if (B <= 0) return;
  vlad_job j = {.v = v, .asum = asum, .a = a, .x = x, .c = c, .S = S, .D = D, .K = K};
  yt_parallel_for((size_t)B, 1, 1, vlad_forward_range, &j);
}

static void vlad_backward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1: da, dx */
  const vlad_job *j = ctx;
  int S = j->S, D = j->D, K = j->K;
  const float *c = j->c;
  for (size_t b = lo; b < hi; b++) {
    const float *ab = j->a + b * S * K, *xb = j->x + b * S * D, *gb = j->dv + b * D * K;
    if (j->da) {
      float *db = j->da + b * S * K;
      /* through aT x: da_b (S,K) += x_b (S,D) dv_b (D,K) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, K, D, 1.0f, xb, D, gb, K, 1.0f, db, K);
      if (c) { /* through asum c: every frame's da[., k] -= sum_d dv[d,k] c[d,k] */
        for (int k0 = 0; k0 < K; k0 += COLS) {
          int kn = imin(COLS, K - k0);
          double w[COLS] = {0};
          for (int d = 0; d < D; d++) {
            const float *g = gb + (size_t)d * K + k0, *cr = c + (size_t)d * K + k0;
            for (int q = 0; q < kn; q++) w[q] += (double)g[q] * cr[q];
          }
          float wf[COLS];
          for (int q = 0; q < kn; q++) wf[q] = (float)w[q];
          for (int s = 0; s < S; s++) {
            float *r = db + (size_t)s * K + k0;
            for (int q = 0; q < kn; q++) r[q] -= wf[q];
          }
        }
      }
    }
    /* dx_b (S,D) += a_b (S,K) dv_bT (K,D) */
    if (j->dx)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, D, K, 1.0f, ab, K, gb, K, 1.0f, j->dx + b * S * D,
                  D);
  }
}

static void vlad_dc_range(void *ctx, size_t lo, size_t hi) { /* rows d lo..hi-1 of dc, summed over b in order */
  const vlad_job *j = ctx;
  int K = j->K, D = j->D;
  for (int b = 0; b < j->B; b++) {
    const float *sb = j->asum_c + (size_t)b * K, *gb = j->dv + (size_t)b * D * K;
    for (size_t d = lo; d < hi; d++) {
      float *r = j->dc + d * K;
      const float *g = gb + d * K;
      for (int k = 0; k < K; k++) r[k] -= sb[k] * g[k];
    }
  }
}

// dv (B,D,K)  a, da (B,S,K)  x, dx (B,S,D)  c, dc (D,K)  asum (B,K)
void yt_vlad_backward(float *da, float *dx, float *dc, const float *dv, const float *a, const float *x,
                      const float *c, const float *asum, int B, int S, int D, int K) {
  if (B <= 0 || S <= 0 || D <= 0 || K <= 0) return;
  /* da and dx per video on the pool; dc sums over the videos, in their order */
  vlad_job j = {.da = da, .dx = dx, .a = a, .x = x, .c = c, .dv = dv, .S = S, .D = D, .K = K};
  if (da || dx) yt_parallel_for((size_t)B, 1, 1, vlad_backward_range, &j);
  if (!dc || !c) return;
  j.dc = dc, j.asum_c = asum, j.B = B;
  yt_parallel_for((size_t)D, 1, PAR_ELEMS / ((size_t)B * K) + 1, vlad_dc_range, &j);
}

/* ---- intra-normalization ------------------------------------------------------------ */

/* The sums of squares over d of columns k0..k0+kn of one (D,K) block. */
static void colsumsq(double *s, const float *x, int D, int K, int k0, int kn) {
  for (int j = 0; j < kn; j++) s[j] = 0;
  for (int d = 0; d < D; d++) {
    const float *r = x + (size_t)d * K + k0;
    for (int j = 0; j < kn; j++) s[j] += (double)r[j] * r[j];
  }
}

/* Videos run on the pool (independent; the bits do not depend on the slicing). */
typedef struct {
  float *out;
  const float *x, *dout;
  int D, K;
} cols_norm_job;

static void l2norm_cols_forward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const cols_norm_job *jb = ctx;
  int D = jb->D, K = jb->K;
  for (size_t b = lo; b < hi; b++) {
    const float *xb = jb->x + b * D * K;
    float *ob = jb->out + b * D * K;
    for (int k0 = 0; k0 < K; k0 += COLS) {
      int kn = imin(COLS, K - k0);
      double s[COLS];
      float inv[COLS];
      colsumsq(s, xb, D, K, k0, kn);
      for (int j = 0; j < kn; j++) inv[j] = (float)(1.0 / sqrt(s[j] > YT_L2NORM_EPS ? s[j] : YT_L2NORM_EPS));
      for (int d = 0; d < D; d++) {
        const float *r = xb + (size_t)d * K + k0;
        float *o = ob + (size_t)d * K + k0;
        for (int j = 0; j < kn; j++) o[j] = r[j] * inv[j];
      }
    }
  }
}

// x, out (B,D,K)
void yt_l2norm_cols_forward(float *out, const float *x, int B, int D, int K) {
  if (B <= 0 || D <= 0 || K <= 0) return;
  cols_norm_job j = {.out = out, .x = x, .D = D, .K = K};
  yt_parallel_for((size_t)B, 1, PAR_ELEMS / ((size_t)D * K) + 1, l2norm_cols_forward_range, &j);
}

static void l2norm_cols_backward_range(void *ctx, size_t lo, size_t hi) { /* videos lo..hi-1 */
  const cols_norm_job *jb = ctx;
  int D = jb->D, K = jb->K;
  for (size_t b = lo; b < hi; b++) {
    const float *xb = jb->x + b * D * K, *gb = jb->dout + b * D * K;
    float *ob = jb->out + b * D * K;
    for (int k0 = 0; k0 < K; k0 += COLS) {
      int kn = imin(COLS, K - k0);
      double s[COLS], dot[COLS] = {0};
      float fi[COLS], cf[COLS];
      colsumsq(s, xb, D, K, k0, kn);
      for (int d = 0; d < D; d++) {
        const float *r = xb + (size_t)d * K + k0, *g = gb + (size_t)d * K + k0;
        for (int j = 0; j < kn; j++) dot[j] += (double)g[j] * r[j];
      }
      for (int j = 0; j < kn; j++) {
        double inv = 1.0 / sqrt(s[j] > YT_L2NORM_EPS ? s[j] : YT_L2NORM_EPS);
        fi[j] = (float)inv;
        cf[j] = s[j] >= YT_L2NORM_EPS ? (float)(inv * inv * inv * dot[j]) : 0.0f; /* none under the floor */
      }
      for (int d = 0; d < D; d++) {
        const float *r = xb + (size_t)d * K + k0, *g = gb + (size_t)d * K + k0;
        float *o = ob + (size_t)d * K + k0;
        for (int j = 0; j < kn; j++) o[j] += fi[j] * g[j] - r[j] * cf[j];
      }
    }
  }
}

// dout, x, dx (B,D,K)
void yt_l2norm_cols_backward(float *dx, const float *dout, const float *x, int B, int D, int K) {
  if (B <= 0 || D <= 0 || K <= 0) return;
  cols_norm_job j = {.out = dx, .x = x, .dout = dout, .D = D, .K = K};
  yt_parallel_for((size_t)B, 1, PAR_ELEMS / ((size_t)D * K) + 1, l2norm_cols_backward_range, &j);
}

/* ---- gating ------------------------------------------------------------------------------ */

// x, g, out (n)
void yt_gate_forward(float *out, const float *x, const float *g, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = x[i] * g[i];
}

// dout, x, g, dx, dg (n)
void yt_gate_backward(float *dx, float *dg, const float *dout, const float *x, const float *g, size_t n) {
  if (dx)
    for (size_t i = 0; i < n; i++) dx[i] += dout[i] * g[i];
  if (dg)
    for (size_t i = 0; i < n; i++) dg[i] += dout[i] * x[i];
}

// x, out (N,H)  w (H,H)
void yt_remove_diag_forward(float *out, const float *x, const float *w, int N, int H) {
  for (int n = 0; n < N; n++) {
    const float *r = x + (size_t)n * H;
    float *o = out + (size_t)n * H;
    for (int i = 0; i < H; i++) o[i] -= w[(size_t)i * H + i] * r[i];
  }
}

// dout, x, dx (N,H)  w, dw (H,H)
void yt_remove_diag_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int N,
                             int H) {
  if (dx)
    for (int n = 0; n < N; n++) {
      const float *g = dout + (size_t)n * H;
      float *o = dx + (size_t)n * H;
      for (int i = 0; i < H; i++) o[i] -= g[i] * w[(size_t)i * H + i];
    }
  if (dw)
    for (int i0 = 0; i0 < H; i0 += COLS) {
      int in = imin(COLS, H - i0);
      double acc[COLS] = {0};
      for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * H + i0, *r = x + (size_t)n * H + i0;
        for (int j = 0; j < in; j++) acc[j] += (double)g[j] * r[j];
      }
      for (int j = 0; j < in; j++) dw[(size_t)(i0 + j) * H + i0 + j] -= (float)acc[j];
    }
}
