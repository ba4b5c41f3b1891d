/* vlad.cu: vlad.h's layers (NetVLADModelLF; the frame gather also DbofModel)
 * as kernels and cuBLAS. The per-video products of the VLAD aggregation are
 * one cublasSgemmStridedBatched each (a video is one batch entry). Column
 * reductions (cluster weights' sums, per-cluster sums of squares, the
 * diagonal's gradient) take one thread per column and walk the rows in the
 * CPU's order, in double as vlad.c: those results are the CPU's bits.
 * Shapes as in vlad.h; row major, so a row-major (R,C) matrix is cuBLAS's
 * column-major (C,R) and each product below is the transposed one. */
#include "backend/cuda/common.cuh"
#include "model/layers.h" /* YT_L2NORM_EPS */

/* ---- frames and columns ------------------------------------------------------------------ */

// x (B,F,D)  idx (B*S)  out (B*S,D)
__global__ static void k_gather_frames(float *out, const float *x, const int32_t *idx, int B, int S, int F,
                                       int D) {
  FOR_EACH(i, (size_t)B * S * D) {
    size_t row = i / D; /* b S + s */
    size_t b = row / S;
    out[i] = x[(b * F + idx[row]) * D + i % D];
  }
}

extern "C" void yt_cuda_gather_frames(float *out, const float *x, const int32_t *idx, int B, int S, int F,
                                      int D) {
  if (B > 0 && S > 0 && D > 0)
    LAUNCH(k_gather_frames, blocks_for((size_t)B * S * D), THREADS, out, x, idx, B, S, F, D);
}

// x (N, ldx)  out (N, ldo): a strided copy of W columns
extern "C" void yt_cuda_cols_forward(float *out, const float *x, int N, int W, int ldo, int ldx) {
  if (N > 0 && W > 0)
    CU(cudaMemcpy2DAsync(out, (size_t)ldo * sizeof *out, x, (size_t)ldx * sizeof *x, (size_t)W * sizeof *x,
                         (size_t)N, cudaMemcpyDeviceToDevice, yt_cuda_stream()));
}

__global__ static void k_cols_backward(float *dx, const float *dout, int N, int W, int ldo, int ldx) {
  FOR_EACH(i, (size_t)N * W) {
    size_t n = i / W, j = i % W;
    dx[n * ldx + j] += dout[n * ldo + j];
  }
}

// dout (N, ldo)  dx (N, ldx)
extern "C" void yt_cuda_cols_backward(float *dx, const float *dout, int N, int W, int ldo, int ldx) {
  if (N > 0 && W > 0) LAUNCH(k_cols_backward, blocks_for((size_t)N * W), THREADS, dx, dout, N, W, ldo, ldx);
}

/* ---- VLAD aggregation ---------------------------------------------------------------------- */

/* asum[b,k] = sum_s a[b,s,k] in double, s in order: one thread per (b,k) */
__global__ static void k_vlad_asum(float *asum, const float *a, int B, int S, int K) {
  FOR_EACH(i, (size_t)B * K) {
    size_t b = i / K, k = i % K;
    const float *col = a + b * S * K + k;
    double acc = 0;
    for (int s = 0; s < S; s++) acc += col[(size_t)s * K];
    asum[i] = (float)acc;
  }
}

/* v[b,d,k] -= asum[b,k] c[d,k] */
__global__ static void k_vlad_center(float *v, const float *asum, const float *c, int B, int D, int K) {
  FOR_EACH(i, (size_t)B * D * K) {
    size_t k = i % K, dk = i % ((size_t)D * K), b = i / ((size_t)D * K);
    v[i] -= asum[b * K + k] * c[dk];
  }
}

// a (B,S,K)  x (B,S,D)  c (D,K)  v (B,D,K)  asum (B,K)
extern "C" void yt_cuda_vlad_forward(float *v, float *asum, const float *a, const float *x, const float *c,
                                     int B, int S, int D, int K) {
  if (B <= 0 || K <= 0) return;
  LAUNCH(k_vlad_asum, blocks_for((size_t)B * K), THREADS, asum, a, B, S, K); /* 0 when S <= 0 */
  if (D <= 0) return;
  if (S <= 0) {
    CU(cudaMemsetAsync(v, 0, (size_t)B * D * K * sizeof *v, yt_cuda_stream()));
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  /* v_b^T (K,D) = a_b^T (K,S) x_b (S,D); a_b is stored as a_b^T (K,S), x_b as x_b^T (D,S) */
  BLAS("sgemm batched vlad_forward (per video)", D, K, S,
       cublasSgemmStridedBatched(yt_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_T, K, D, S, &one, a, K, (long long)S * K,
                                 x, D, (long long)S * D, &zero, v, K, (long long)D * K, B));
  if (c) LAUNCH(k_vlad_center, blocks_for((size_t)B * D * K), THREADS, v, asum, c, B, D, K);
}

/* da[b,s,k] -= (float)(sum_d dv[b,d,k] c[d,k]) (the sum in double, d in order): one thread per (b,k) */
__global__ static void k_vlad_back_center(float *da, const float *dv, const float *c, int B, int S, int D,
                                          int K) {
  FOR_EACH(i, (size_t)B * K) {
    size_t b = i / K, k = i % K;
    const float *g = dv + b * D * K + k, *cr = c + k;
    double w = 0;
    for (int d = 0; d < D; d++) w += (double)g[(size_t)d * K] * cr[(size_t)d * K];
    float wf = (float)w;
    float *r = da + b * S * K + k;
    for (int s = 0; s < S; s++) r[(size_t)s * K] -= wf;
  }
}

/* dc[d,k] -= asum[b,k] dv[b,d,k] for b in order: one thread per (d,k) */
__global__ static void k_vlad_dc(float *dc, const float *dv, const float *asum, int B, int D, int K) {
  FOR_EACH(i, (size_t)D * K) {
    size_t k = i % K, DK = (size_t)D * K;
    float r = dc[i];
    for (int b = 0; b < B; b++) r -= asum[(size_t)b * K + k] * dv[b * DK + i];
    dc[i] = r;
  }
}

// dv (B,D,K)  a, da (B,S,K)  x, dx (B,S,D)  c, dc (D,K)  asum (B,K)
extern "C" void yt_cuda_vlad_backward(float *da, float *dx, float *dc, const float *dv, const float *a,
                                      const float *x, const float *c, const float *asum, int B, int S, int D,
                                      int K) {
  if (B <= 0 || S <= 0 || D <= 0 || K <= 0) return;
  const float one = 1.0f;
  if (da) {
    /* da_b^T (K,S) += dv_b^T (K,D) x_b^T (D,S) */
    BLAS("sgemm batched vlad_backward da (per video)", S, K, D,
         cublasSgemmStridedBatched(yt_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_N, K, S, D, &one, dv, K,
                                   (long long)D * K, x, D, (long long)S * D, &one, da, K, (long long)S * K, B));
    if (c) LAUNCH(k_vlad_back_center, blocks_for((size_t)B * K), THREADS, da, dv, c, B, S, D, K);
  }
  /* dx_b^T (D,S) += dv_b (D,K) a_b^T (K,S); dv_b is stored as dv_b^T (K,D) */
  if (dx)
    BLAS("sgemm batched vlad_backward dx (per video)", S, D, K,
         cublasSgemmStridedBatched(yt_cuda_blas(), CUBLAS_OP_T, CUBLAS_OP_N, D, S, K, &one, dv, K,
                                   (long long)D * K, a, K, (long long)S * K, &one, dx, D, (long long)S * D, B));
  if (dc && c) LAUNCH(k_vlad_dc, blocks_for((size_t)D * K), THREADS, dc, dv, asum, B, D, K);
}

/* ---- intra-normalization: one thread per (video, cluster) column ----------------------------- */

__global__ static void k_l2norm_cols_forward(float *out, const float *x, int B, int D, int K) {
  FOR_EACH(i, (size_t)B * K) {
    size_t b = i / K, k = i % K, off = b * D * K + k;
    const float *r = x + off;
    float *o = out + off;
    double s = 0;
    for (int d = 0; d < D; d++) s += (double)r[(size_t)d * K] * r[(size_t)d * K];
    float inv = (float)(1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS));
    for (int d = 0; d < D; d++) o[(size_t)d * K] = r[(size_t)d * K] * inv; /* in place: s is complete */
  }
}

__global__ static void k_l2norm_cols_backward(float *dx, const float *dout, const float *x, int B, int D,
                                              int K) {
  FOR_EACH(i, (size_t)B * K) {
    size_t b = i / K, k = i % K, off = b * D * K + k;
    const float *r = x + off, *g = dout + off;
    float *o = dx + off;
    double s = 0, dot = 0;
    for (int d = 0; d < D; d++) {
      size_t j = (size_t)d * K;
      s += (double)r[j] * r[j];
      dot += (double)g[j] * r[j];
    }
    double inv = 1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS);
    float fi = (float)inv;
    float cf = s >= YT_L2NORM_EPS ? (float)(inv * inv * inv * dot) : 0.0f; /* none under the floor */
    for (int d = 0; d < D; d++) {
      size_t j = (size_t)d * K;
      o[j] += fi * g[j] - r[j] * cf;
    }
  }
}

// x, out (B,D,K)
extern "C" void yt_cuda_l2norm_cols_forward(float *out, const float *x, int B, int D, int K) {
  if (B > 0 && D > 0 && K > 0)
    LAUNCH(k_l2norm_cols_forward, blocks_for((size_t)B * K), THREADS, out, x, B, D, K);
}
// dout, x, dx (B,D,K)
extern "C" void yt_cuda_l2norm_cols_backward(float *dx, const float *dout, const float *x, int B, int D,
                                             int K) {
  if (B > 0 && D > 0 && K > 0)
    LAUNCH(k_l2norm_cols_backward, blocks_for((size_t)B * K), THREADS, dx, dout, x, B, D, K);
}

/* ---- gating ------------------------------------------------------------------------------------ */

__global__ static void k_gate_forward(float *out, const float *x, const float *g, size_t n) {
  FOR_EACH(i, n) out[i] = x[i] * g[i];
}

__global__ static void k_gate_backward(float *dx, float *dg, const float *dout, const float *x,
                                       const float *g, size_t n) {
  FOR_EACH(i, n) {
    if (dx) dx[i] += dout[i] * g[i];
    if (dg) dg[i] += dout[i] * x[i];
  }
}

// x, g, out (n)
extern "C" void yt_cuda_gate_forward(float *out, const float *x, const float *g, size_t n) {
  if (n) LAUNCH(k_gate_forward, blocks_for(n), THREADS, out, x, g, n);
}
// dout, x, g, dx, dg (n)
extern "C" void yt_cuda_gate_backward(float *dx, float *dg, const float *dout, const float *x, const float *g,
                                      size_t n) {
  if (n && (dx || dg)) LAUNCH(k_gate_backward, blocks_for(n), THREADS, dx, dg, dout, x, g, n);
}

__global__ static void k_remove_diag_forward(float *out, const float *x, const float *w, int N, int H) {
  FOR_EACH(i, (size_t)N * H) {
    size_t j = i % H;
    out[i] -= w[j * H + j] * x[i];
  }
}

__global__ static void k_remove_diag_dx(float *dx, const float *dout, const float *w, int N, int H) {
  FOR_EACH(i, (size_t)N * H) {
    size_t j = i % H;
    dx[i] -= dout[i] * w[j * H + j];
  }
}

/* dw[j,j] -= (float)(sum_n dout[n,j] x[n,j]) in double, n in order: one thread per j */
__global__ static void k_remove_diag_dw(float *dw, const float *dout, const float *x, int N, int H) {
  FOR_EACH(j, (size_t)H) {
    double acc = 0;
    for (int n = 0; n < N; n++) acc += (double)dout[(size_t)n * H + j] * x[(size_t)n * H + j];
    dw[j * H + j] -= (float)acc;
  }
}

// x, out (N,H)  w (H,H)
extern "C" void yt_cuda_remove_diag_forward(float *out, const float *x, const float *w, int N, int H) {
  if (N > 0 && H > 0) LAUNCH(k_remove_diag_forward, blocks_for((size_t)N * H), THREADS, out, x, w, N, H);
}
// dout, x, dx (N,H)  w, dw (H,H)
extern "C" void yt_cuda_remove_diag_backward(float *dx, float *dw, const float *dout, const float *x,
                                             const float *w, int N, int H) {
  if (N <= 0 || H <= 0) return;
  if (dx) LAUNCH(k_remove_diag_dx, blocks_for((size_t)N * H), THREADS, dx, dout, w, N, H);
  if (dw) LAUNCH(k_remove_diag_dw, blocks_for((size_t)H), THREADS, dw, dout, x, N, H);
}
