/* layers.cu: layers.h's activations, softmax, batch norm, l2 normalization,
 * pooling over frames and the mixture-of-experts combine as kernels.
 * Each kernel does its CPU twin's float operations in the same order (the
 * library is built with --fmad=false, as the CPU with -ffp-contract=off);
 * reductions run in double where the twin's do, with a different summation
 * order. Shapes as in layers.h. Elementwise kernels are grid-stride loops;
 * row reductions take one block per row; column reductions a block of
 * COLS columns x ROWS row lanes. */
#include "backend/cuda/common.cuh"
#include "model/layers.h"

/* ---- activations ------------------------------------------------------------------------- */

__global__ static void k_sigmoid_forward(float *out, const float *x, size_t n) {
  FOR_EACH(i, n) out[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ static void k_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n) {
  FOR_EACH(i, n) dx[i] += dout[i] * out[i] * (1.0f - out[i]);
}

__global__ static void k_relu6_forward(float *out, const float *x, size_t n) {
  FOR_EACH(i, n) {
    float v = x[i];
    out[i] = v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
  }
}

__global__ static void k_relu6_backward(float *dx, const float *dout, const float *out, size_t n) {
  FOR_EACH(i, n) if (out[i] > 0.0f && out[i] < 6.0f) dx[i] += dout[i];
}

// x, out (n)
extern "C" void yt_cuda_sigmoid_forward(float *out, const float *x, size_t n) {
  if (n) LAUNCH(k_sigmoid_forward, blocks_for(n), THREADS, out, x, n);
}
// dout, out, dx (n)
extern "C" void yt_cuda_sigmoid_backward(float *dx, const float *dout, const float *out, size_t n) {
  if (n) LAUNCH(k_sigmoid_backward, blocks_for(n), THREADS, dx, dout, out, n);
}
// x, out (n)
extern "C" void yt_cuda_relu6_forward(float *out, const float *x, size_t n) {
  if (n) LAUNCH(k_relu6_forward, blocks_for(n), THREADS, out, x, n);
}
// dout, out, dx (n)
extern "C" void yt_cuda_relu6_backward(float *dx, const float *dout, const float *out, size_t n) {
  if (n) LAUNCH(k_relu6_backward, blocks_for(n), THREADS, dx, dout, out, n);
}

/* ---- softmax: one block per row ------------------------------------------------------------ */

__global__ static void k_softmax_forward(float *out, const float *x, int K) {
  const float *xr = x + (size_t)blockIdx.x * K;
  float *o = out + (size_t)blockIdx.x * K;
  float mx = xr[0];
  for (int k = threadIdx.x; k < K; k += THREADS)
    if (xr[k] > mx) mx = xr[k];
  mx = block_max(mx); /* every read of x is done: in place is safe from here */
  double sum = 0;
  for (int k = threadIdx.x; k < K; k += THREADS) {
    o[k] = expf(xr[k] - mx);
    sum += o[k];
  }
  float inv = (float)(1.0 / block_sum(sum));
  for (int k = threadIdx.x; k < K; k += THREADS) o[k] *= inv;
}

__global__ static void k_softmax_backward(float *dx, const float *dout, const float *out, int K) {
  const float *d = dout + (size_t)blockIdx.x * K, *o = out + (size_t)blockIdx.x * K;
  float *g = dx + (size_t)blockIdx.x * K;
  double dot = 0;
  for (int k = threadIdx.x; k < K; k += THREADS) dot += (double)d[k] * o[k];
  float fdot = (float)block_sum(dot);
  for (int k = threadIdx.x; k < K; k += THREADS) g[k] += o[k] * (d[k] - fdot);
}

// x, out (N,K)
extern "C" void yt_cuda_softmax_forward(float *out, const float *x, int N, int K) {
  if (N > 0 && K > 0) LAUNCH(k_softmax_forward, N, THREADS, out, x, K);
}
// dout, out, dx (N,K)
extern "C" void yt_cuda_softmax_backward(float *dx, const float *dout, const float *out, int N, int K) {
  if (N > 0 && K > 0) LAUNCH(k_softmax_backward, N, THREADS, dx, dout, out, K);
}

/* ---- batch norm: column statistics, then an elementwise pass ------------------------------------- */

/* The column statistics run in two kernels so that tall inputs fill the
 * device: input_bn at the winner's defaults is N = 160 x 300 = 48,000 rows of
 * C = 1,152, which one block per 32 columns would spread over 36 blocks. A
 * block of the first kernel sums COLS columns over one chunk of rows (partial
 * sums in double, one pair per chunk and column); the second adds the chunks
 * in order, one thread per column. The chunking depends on N alone, so the
 * results are the same on every run and device. */
enum { BN_CHUNK_ROWS = 1024 }; /* rows per block of the partial sums: a multiple of ROWS */

static inline int bn_rows_per_chunk(int N) { /* BN_CHUNK_ROWS, more when N needs > 65,535 chunks (grid.y) */
  long r = BN_CHUNK_ROWS, most = 65535;
  if ((N + r - 1) / r > most) r = ((N + most - 1) / most + ROWS - 1) / ROWS * ROWS;
  return (int)r;
}
static inline int bn_chunks(int N, int rows) { return N > 0 ? (N + rows - 1) / rows : 1; }

/* The two sums of column c over the chunks, in chunk order: part (chunks, 2, C) */
__device__ inline void chunk_sums(const double *part, int chunks, int C, int c, double *a, double *b) {
  double x = 0, y = 0;
  for (int k = 0; k < chunks; k++) {
    x += part[(size_t)k * 2 * C + c];
    y += part[(size_t)k * 2 * C + C + c];
  }
  *a = x, *b = y;
}

/* part (chunks, 2, C): sum x and sum x^2 of each column over the chunk's rows */
__global__ static void k_bn_stats_part(double *part, const float *x, int N, int C, int rows) {
  int c = blockIdx.x * COLS + threadIdx.x;
  int n0 = blockIdx.y * rows, n1 = N - n0 < rows ? N : n0 + rows;
  double s = 0, q = 0;
  if (c < C)
    for (int n = n0 + threadIdx.y; n < n1; n += ROWS) {
      double v = x[(size_t)n * C + c];
      s += v;
      q += v * v;
    }
  s = col_sum(s);
  q = col_sum(q);
  if (c >= C || threadIdx.y != 0) return;
  part[(size_t)blockIdx.y * 2 * C + c] = s;
  part[(size_t)blockIdx.y * 2 * C + C + c] = q;
}

/* training: mean, rstd and the moving averages of each column, from the chunks' sums */
__global__ static void k_bn_stats_finish(float *mean, float *rstd, float *moving_mean, float *moving_var,
                                         const double *part, int chunks, int N, int C, float momentum) {
  FOR_EACH(i, C) {
    int c = (int)i;
    double s, q;
    chunk_sums(part, chunks, C, c, &s, &q);
    double mu = N > 0 ? s / N : 0.0, var = N > 0 ? q / N - mu * mu : 0.0;
    if (var < 0) var = 0;
    double ssd = var * N; /* sum of squared deviations, for the unbiased variance */
    float m = (float)mu;
    mean[c] = m;
    rstd[c] = (float)(1.0 / sqrt(var + YT_BN_EPS));
    if (moving_mean) moving_mean[c] -= (moving_mean[c] - m) * momentum;
    if (moving_var) {
      float unbiased = (float)(N > 1 ? ssd / (N - 1) : var);
      moving_var[c] -= (moving_var[c] - unbiased) * momentum;
    }
  }
}

/* out = (x - shift) scale + beta; training: shift = mean, scale = rstd gamma;
 * inference: shift = moving_mean, scale = gamma / sqrt(moving_var + eps) */
__global__ static void k_bn_apply(float *out, const float *x, const float *shift, const float *rstd,
                                  const float *moving_var, const float *gamma, const float *beta, int N,
                                  int C, int training) {
  FOR_EACH(i, (size_t)N * C) {
    int c = (int)(i % C);
    float scale = training ? rstd[c] * gamma[c] : gamma[c] / sqrtf(moving_var[c] + YT_BN_EPS);
    out[i] = (x[i] - shift[c]) * scale + beta[c];
  }
}

// x, out (N,C)  gamma, beta, mean, rstd, moving_mean, moving_var (C)
extern "C" void yt_cuda_batchnorm_forward(float *out, float *mean, float *rstd, float *moving_mean,
                                          float *moving_var, const float *x, const float *gamma,
                                          const float *beta, int N, int C, int training, float decay) {
  if (C <= 0) return;
  const float momentum = (float)(1.0 - (double)decay); /* as layers.c */
  if (training) {
    int rows = bn_rows_per_chunk(N), chunks = bn_chunks(N, rows);
    double *part = (double *)yt_cuda_scratch((size_t)chunks * 2 * C * sizeof(double));
    if (!part) return; /* recorded */
    LAUNCH(k_bn_stats_part, dim3((C + COLS - 1) / COLS, chunks), dim3(COLS, ROWS), part, x, N, C, rows);
    LAUNCH(k_bn_stats_finish, blocks_for((size_t)C), THREADS, mean, rstd, moving_mean, moving_var, part, chunks,
           N, C, momentum);
  }
  if (N > 0)
    LAUNCH(k_bn_apply, blocks_for((size_t)N * C), THREADS, out, x, training ? mean : moving_mean, rstd,
           moving_var, gamma, beta, N, C, training);
}

/* part (chunks, 2, C): sum dout and sum dout xhat of each column over the chunk's rows */
__global__ static void k_bn_back_part(double *part, const float *dout, const float *x, const float *mean,
                                      const float *rstd, int N, int C, int rows) {
  int c = blockIdx.x * COLS + threadIdx.x;
  int n0 = blockIdx.y * rows, n1 = N - n0 < rows ? N : n0 + rows;
  double sdy = 0, sdyx = 0;
  if (c < C)
    for (int n = n0 + threadIdx.y; n < n1; n += ROWS) {
      size_t i = (size_t)n * C + c;
      float xhat = (x[i] - mean[c]) * rstd[c];
      sdy += dout[i];
      sdyx += (double)dout[i] * xhat;
    }
  sdy = col_sum(sdy);
  sdyx = col_sum(sdyx);
  if (c >= C || threadIdx.y != 0) return;
  part[(size_t)blockIdx.y * 2 * C + c] = sdy;
  part[(size_t)blockIdx.y * 2 * C + C + c] = sdyx;
}

/* dbeta += sum dout, dgamma += sum dout xhat (the chunks in order); m[c] =
 * sum dout / N and m[C + c] = sum dout xhat / N for the dx pass (m NULL: no dx) */
__global__ static void k_bn_back_finish(float *dgamma, float *dbeta, float *m, const double *part, int chunks,
                                        int N, int C) {
  FOR_EACH(i, C) {
    int c = (int)i;
    double sdy, sdyx;
    chunk_sums(part, chunks, C, c, &sdy, &sdyx);
    if (dbeta) dbeta[c] += (float)sdy;
    if (dgamma) dgamma[c] += (float)sdyx;
    if (m) {
      m[c] = (float)(sdy / N);
      m[C + c] = (float)(sdyx / N);
    }
  }
}

__global__ static void k_bn_back_dx(float *dx, const float *dout, const float *x, const float *mean,
                                    const float *rstd, const float *gamma, const float *m, int N, int C) {
  FOR_EACH(i, (size_t)N * C) {
    int c = (int)(i % C);
    float xhat = (x[i] - mean[c]) * rstd[c];
    float k = gamma[c] * rstd[c];
    dx[i] += k * (dout[i] - m[c] - xhat * m[C + c]);
  }
}

// dout, x, dx (N,C)  mean, rstd, gamma, dgamma, dbeta (C)
extern "C" void yt_cuda_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                                           const float *x, const float *mean, const float *rstd,
                                           const float *gamma, int N, int C) {
  if (N <= 0 || C <= 0) return;
  /* scratch: the chunks' sums (chunks, 2, C) in double, then m (2, C) for the dx pass */
  int rows = bn_rows_per_chunk(N), chunks = bn_chunks(N, rows);
  size_t part_bytes = (size_t)chunks * 2 * C * sizeof(double);
  char *scratch = (char *)yt_cuda_scratch(part_bytes + (dx ? 2 * (size_t)C * sizeof(float) : 0));
  if (!scratch) return; /* recorded */
  double *part = (double *)scratch;
  float *m = dx ? (float *)(scratch + part_bytes) : nullptr;
  LAUNCH(k_bn_back_part, dim3((C + COLS - 1) / COLS, chunks), dim3(COLS, ROWS), part, dout, x, mean, rstd, N, C,
         rows);
  LAUNCH(k_bn_back_finish, blocks_for((size_t)C), THREADS, dgamma, dbeta, m, part, chunks, N, C);
  if (dx) LAUNCH(k_bn_back_dx, blocks_for((size_t)N * C), THREADS, dx, dout, x, mean, rstd, gamma, m, N, C);
}

/* ---- l2 normalization: one block per row, or per chunk of a long row ------------------------------ */

__global__ static void k_l2norm_forward(float *out, const float *x, int D) {
  const float *r = x + (size_t)blockIdx.x * D;
  float *o = out + (size_t)blockIdx.x * D;
  double s = 0;
  for (int d = threadIdx.x; d < D; d += THREADS) s += (double)r[d] * r[d];
  s = block_sum(s);
  float inv = (float)(1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS));
  for (int d = threadIdx.x; d < D; d += THREADS) o[d] = r[d] * inv;
}

__global__ static void k_l2norm_backward(float *dx, const float *dout, const float *x, int D) {
  const float *r = x + (size_t)blockIdx.x * D, *g = dout + (size_t)blockIdx.x * D;
  float *o = dx + (size_t)blockIdx.x * D;
  double s = 0, dot = 0;
  for (int d = threadIdx.x; d < D; d += THREADS) {
    s += (double)r[d] * r[d];
    dot += (double)g[d] * r[d];
  }
  s = block_sum(s);
  dot = block_sum(dot);
  double inv = 1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS);
  float c = s >= YT_L2NORM_EPS ? (float)(inv * inv * inv * dot) : 0.0f; /* none under the floor */
  float fi = (float)inv;
  for (int d = threadIdx.x; d < D; d += THREADS) o[d] += fi * g[d] - r[d] * c;
}

/* Long rows, few of them (NetVLAD's global normalization: 160 rows of 262,144
 * at the winner's defaults, which one block per row would leave to 160
 * blocks): each row is split into chunks of L2_CHUNK values, one block each,
 * whose partial sums a second kernel adds in order per row; a third applies
 * the result elementwise. The chunking depends on D alone. */
enum { L2_CHUNK = 8192 };

/* part (N, chunks, 2): sum x^2 and (backward) sum dout x over each chunk of each row */
__global__ static void k_l2norm_part(double *part, const float *x, const float *dout, int D, int chunks) {
  size_t row = blockIdx.y;
  int d0 = blockIdx.x * L2_CHUNK, d1 = D - d0 < L2_CHUNK ? D : d0 + L2_CHUNK;
  const float *r = x + row * D, *g = dout ? dout + row * D : nullptr;
  double s = 0, dot = 0;
  for (int d = d0 + threadIdx.x; d < d1; d += THREADS) {
    s += (double)r[d] * r[d];
    if (g) dot += (double)g[d] * r[d];
  }
  s = block_sum(s);
  if (g) dot = block_sum(dot); /* g is the same for the whole block */
  if (threadIdx.x != 0) return;
  part[(row * chunks + blockIdx.x) * 2] = s;
  part[(row * chunks + blockIdx.x) * 2 + 1] = dot;
}

/* coef (N, 2): forward 1/|x|; backward the same and |x|^-3 sum(dout x) (none under the floor) */
__global__ static void k_l2norm_finish(float *coef, const double *part, int N, int chunks) {
  FOR_EACH(row, N) {
    double s = 0, dot = 0;
    for (int k = 0; k < chunks; k++) {
      s += part[(row * chunks + k) * 2];
      dot += part[(row * chunks + k) * 2 + 1];
    }
    double inv = 1.0 / sqrt(s > YT_L2NORM_EPS ? s : YT_L2NORM_EPS);
    coef[row * 2] = (float)inv;
    coef[row * 2 + 1] = s >= YT_L2NORM_EPS ? (float)(inv * inv * inv * dot) : 0.0f;
  }
}

__global__ static void k_l2norm_apply(float *out, const float *x, const float *coef, int N, int D) {
  FOR_EACH(i, (size_t)N * D) out[i] = x[i] * coef[i / D * 2];
}

__global__ static void k_l2norm_apply_backward(float *dx, const float *dout, const float *x, const float *coef,
                                               int N, int D) {
  FOR_EACH(i, (size_t)N * D) {
    size_t row = i / D;
    dx[i] += coef[row * 2] * dout[i] - x[i] * coef[row * 2 + 1];
  }
}

static int l2norm_chunked(int N, int D) { return D > L2_CHUNK && N <= 65535; /* grid.y = N */ }

/* The chunked path's first two kernels: coef (N, 2) in scratch, after the
 * partial sums (N, chunks, 2) in double; dout NULL for the forward. NULL when
 * the scratch failed (recorded). */
static float *l2norm_coef(const float *x, const float *dout, int N, int D) {
  int chunks = (D + L2_CHUNK - 1) / L2_CHUNK;
  size_t part_bytes = (size_t)N * chunks * 2 * sizeof(double);
  char *p = (char *)yt_cuda_scratch(part_bytes + (size_t)N * 2 * sizeof(float));
  if (!p) return nullptr;
  double *part = (double *)p;
  float *coef = (float *)(p + part_bytes);
  LAUNCH(k_l2norm_part, dim3(chunks, N), THREADS, part, x, dout, D, chunks);
  LAUNCH(k_l2norm_finish, blocks_for((size_t)N), THREADS, coef, part, N, chunks);
  return coef;
}

// x, out (N,D)
extern "C" void yt_cuda_l2norm_forward(float *out, const float *x, int N, int D) {
  if (N <= 0 || D <= 0) return;
  if (!l2norm_chunked(N, D)) {
    LAUNCH(k_l2norm_forward, N, THREADS, out, x, D);
  } else if (const float *coef = l2norm_coef(x, nullptr, N, D)) {
    LAUNCH(k_l2norm_apply, blocks_for((size_t)N * D), THREADS, out, x, coef, N, D);
  }
}
// dout, x, dx (N,D)
extern "C" void yt_cuda_l2norm_backward(float *dx, const float *dout, const float *x, int N, int D) {
  if (N <= 0 || D <= 0) return;
  if (!l2norm_chunked(N, D)) {
    LAUNCH(k_l2norm_backward, N, THREADS, dx, dout, x, D);
  } else if (const float *coef = l2norm_coef(x, dout, N, D)) {
    LAUNCH(k_l2norm_apply_backward, blocks_for((size_t)N * D), THREADS, dx, dout, x, coef, N, D);
  }
}

/* ---- pooling over frames: one thread per (video, column), frames in order ------------------------ */

__global__ static void k_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F,
                                          int D) {
  FOR_EACH(i, (size_t)B * D) {
    int b = (int)(i / D), d = (int)(i % D), n = frames_of(num_frames, b, F);
    float o = 0.0f;
    for (int t = 0; t < n; t++) o += x[((size_t)b * F + t) * D + d];
    out[i] = n ? o / (float)n : 0.0f;
  }
}

__global__ static void k_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B,
                                           int F, int D) {
  FOR_EACH(i, (size_t)B * F * D) {
    int d = (int)(i % D), t = (int)(i / D % F), b = (int)(i / ((size_t)F * D));
    int n = frames_of(num_frames, b, F);
    if (t < n) dx[i] += dout[(size_t)b * D + d] / (float)n;
  }
}

__global__ static void k_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F,
                                         int D) {
  FOR_EACH(i, (size_t)B * D) {
    int b = (int)(i / D), d = (int)(i % D), n = frames_of(num_frames, b, F);
    if (n == 0) {
      out[i] = 0.0f;
      continue;
    }
    float o = x[(size_t)b * F * D + d];
    for (int t = 1; t < n; t++) {
      float v = x[((size_t)b * F + t) * D + d];
      if (v > o) o = v;
    }
    out[i] = o;
  }
}

__global__ static void k_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                                          const int32_t *num_frames, int B, int F, int D) {
  FOR_EACH(i, (size_t)B * D) {
    int b = (int)(i / D), d = (int)(i % D), n = frames_of(num_frames, b, F);
    float o = out[i], g = dout[i];
    int cnt = 0;
    for (int t = 0; t < n; t++) cnt += x[((size_t)b * F + t) * D + d] == o;
    for (int t = 0; t < n; t++) {
      size_t j = ((size_t)b * F + t) * D + d;
      if (x[j] == o) dx[j] += (1.0f / (float)cnt) * g; /* ties share dout evenly */
    }
  }
}

// x (B,F,D)  num_frames (B)  out (B,D)
extern "C" void yt_cuda_meanpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F,
                                         int D) {
  if (B > 0 && D > 0)
    LAUNCH(k_meanpool_forward, blocks_for((size_t)B * D), THREADS, out, x, num_frames, B, F, D);
}
// dout (B,D)  dx (B,F,D)
extern "C" void yt_cuda_meanpool_backward(float *dx, const float *dout, const int32_t *num_frames, int B,
                                          int F, int D) {
  if (B > 0 && F > 0 && D > 0)
    LAUNCH(k_meanpool_backward, blocks_for((size_t)B * F * D), THREADS, dx, dout, num_frames, B, F, D);
}
// x (B,F,D)  num_frames (B)  out (B,D)
extern "C" void yt_cuda_maxpool_forward(float *out, const float *x, const int32_t *num_frames, int B, int F,
                                        int D) {
  if (B > 0 && D > 0)
    LAUNCH(k_maxpool_forward, blocks_for((size_t)B * D), THREADS, out, x, num_frames, B, F, D);
}
// dout (B,D)  x, dx (B,F,D)  out (B,D)
extern "C" void yt_cuda_maxpool_backward(float *dx, const float *dout, const float *x, const float *out,
                                         const int32_t *num_frames, int B, int F, int D) {
  if (B > 0 && D > 0)
    LAUNCH(k_maxpool_backward, blocks_for((size_t)B * D), THREADS, dx, dout, x, out, num_frames, B, F, D);
}

/* ---- mixture of experts: one thread per (video, class) row of M+1 gates ------------------------- */

__global__ static void k_moe_forward(float *p, float *gate_p, float *expert_p, const float *gate_logits,
                                     const float *expert_logits, size_t rows, int M) {
  FOR_EACH(i, rows) {
    const float *gl = gate_logits + i * (M + 1), *el = expert_logits + i * M;
    float *g = gate_p + i * (M + 1), *e = expert_p + i * M;
    /* softmax over the M+1 gates (yt_softmax_forward on one row) */
    float mx = gl[0];
    for (int k = 1; k <= M; k++)
      if (gl[k] > mx) mx = gl[k];
    double sum = 0;
    for (int k = 0; k <= M; k++) {
      g[k] = expf(gl[k] - mx);
      sum += g[k];
    }
    float inv = (float)(1.0 / sum);
    for (int k = 0; k <= M; k++) g[k] *= inv;
    for (int m = 0; m < M; m++) e[m] = 1.0f / (1.0f + expf(-el[m]));
    float s = 0.0f;
    for (int m = 0; m < M; m++) s += g[m] * e[m];
    p[i] = s;
  }
}

__global__ static void k_moe_backward(float *dgate_logits, float *dexpert_logits, const float *dp,
                                      const float *gate_p, const float *expert_p, size_t rows, int M) {
  FOR_EACH(i, rows) {
    const float *g = gate_p + i * (M + 1), *e = expert_p + i * M;
    float d = dp[i];
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

// gate_logits, gate_p (B, C(M+1))  expert_logits, expert_p (B, CM)  p (B,C)
extern "C" void yt_cuda_moe_combine_forward(float *p, float *gate_p, float *expert_p,
                                            const float *gate_logits, const float *expert_logits, int B,
                                            int C, int M) {
  size_t rows = (size_t)(B > 0 ? B : 0) * (size_t)(C > 0 ? C : 0);
  if (rows && M >= 0)
    LAUNCH(k_moe_forward, blocks_for(rows), THREADS, p, gate_p, expert_p, gate_logits, expert_logits, rows,
           M);
}
// dp (B,C)  gate_p, dgate_logits (B, C(M+1))  expert_p, dexpert_logits (B, CM)
extern "C" void yt_cuda_moe_combine_backward(float *dgate_logits, float *dexpert_logits, const float *dp,
                                             const float *gate_p, const float *expert_p, int B, int C,
                                             int M) {
  size_t rows = (size_t)(B > 0 ? B : 0) * (size_t)(C > 0 ? C : 0);
  if (rows && M >= 0)
    LAUNCH(k_moe_backward, blocks_for(rows), THREADS, dgate_logits, dexpert_logits, dp, gate_p, expert_p,
           rows, M);
}
