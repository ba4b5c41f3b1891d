/* loss.cu: loss.h's label losses as kernels. The batch loss is one block per
 * video (its sum over classes in double, into the scratch) and then one block
 * for the mean over the batch, written to loss[0] on the device: no host
 * synchronisation. Per-element terms in float as loss.c writes them. */
#include "backend/cuda/common.cuh"
#include "model/loss.h"

/* The softmax loss's row statistics (loss.c's softmax_row): ynorm =
 * 1/max(sum y, eps), the row's max and log-sum-exp of p. Block-wide. */
__device__ static void softmax_row(const float *pr, const float *yr, int C, float *ynorm, float *mx,
                                   double *lse) {
  double ys = 0;
  float m = pr[0];
  for (int c = threadIdx.x; c < C; c += THREADS) {
    ys += yr[c];
    if (pr[c] > m) m = pr[c];
  }
  ys = block_sum(ys);
  m = block_max(m);
  double s = 0;
  for (int c = threadIdx.x; c < C; c += THREADS) s += exp((double)pr[c] - m);
  s = block_sum(s);
  *ynorm = (float)(1.0 / (ys > YT_SOFTMAX_EPS ? ys : YT_SOFTMAX_EPS));
  *mx = m;
  *lse = log(s);
}

// p, y (B,C)  rows (B): each video's loss, summed over its classes
__global__ static void k_loss_rows(double *rows, int kind, const float *p, const float *y, int C) {
  const float *pr = p + (size_t)blockIdx.x * C, *yr = y + (size_t)blockIdx.x * C;
  double total = 0;
  if (kind == YT_LOSS_HINGE) {
    for (int c = threadIdx.x; c < C; c += THREADS) {
      float h = 1.0f - (2.0f * yr[c] - 1.0f) * pr[c];
      if (h > 0.0f) total += h;
    }
  } else if (kind == YT_LOSS_SOFTMAX) {
    float ynorm, mx;
    double lse;
    softmax_row(pr, yr, C, &ynorm, &mx, &lse);
    for (int c = threadIdx.x; c < C; c += THREADS)
      total -= (double)(yr[c] * ynorm) * ((double)pr[c] - mx - lse);
  } else {
    for (int c = threadIdx.x; c < C; c += THREADS)
      total -= yr[c] * logf(pr[c] + YT_CE_EPS) + (1.0f - yr[c]) * logf(1.0f - pr[c] + YT_CE_EPS);
  }
  total = block_sum(total);
  if (threadIdx.x == 0) rows[blockIdx.x] = total;
}

// rows (B)  loss (1): the mean over the batch
__global__ static void k_loss_mean(float *loss, const double *rows, int B) {
  double total = 0;
  for (int b = threadIdx.x; b < B; b += THREADS) total += rows[b];
  total = block_sum(total);
  if (threadIdx.x == 0) loss[0] = (float)(total / B);
}

// p, y (B,C)  loss (1)
extern "C" void yt_cuda_loss_forward(float *loss, int kind, const float *p, const float *y, int B, int C) {
  if (B <= 0 || C <= 0) { /* no video, or no class: 0 */
    CU(cudaMemsetAsync(loss, 0, sizeof *loss, yt_cuda_stream()));
    return;
  }
  double *rows = (double *)yt_cuda_scratch((size_t)B * sizeof(double));
  if (!rows) return; /* recorded */
  LAUNCH(k_loss_rows, B, THREADS, rows, kind, p, y, C);
  LAUNCH(k_loss_mean, 1, THREADS, loss, rows, B);
}

/* ---- gradients ------------------------------------------------------------------------------------ */

__global__ static void k_ce_backward(float *dp, const float *p, const float *y, size_t n, float inv) {
  FOR_EACH(i, n) dp[i] += inv * ((1.0f - y[i]) / (1.0f - p[i] + YT_CE_EPS) - y[i] / (p[i] + YT_CE_EPS));
}

__global__ static void k_hinge_backward(float *dp, const float *p, const float *y, size_t n, float inv) {
  FOR_EACH(i, n) {
    float sign = 2.0f * y[i] - 1.0f;
    if (1.0f - sign * p[i] > 0.0f) dp[i] -= inv * sign;
  }
}

// one block per video
__global__ static void k_softmax_loss_backward(float *dp, const float *p, const float *y, int C, float inv) {
  const float *pr = p + (size_t)blockIdx.x * C, *yr = y + (size_t)blockIdx.x * C;
  float *g = dp + (size_t)blockIdx.x * C;
  float ynorm, mx;
  double lse, ysum = 0;
  softmax_row(pr, yr, C, &ynorm, &mx, &lse);
  for (int c = threadIdx.x; c < C; c += THREADS) ysum += yr[c] * ynorm;
  float fys = (float)block_sum(ysum);
  /* d/dp_c of -sum_k y~_k (p_k - lse) = softmax_c sum_k y~_k - y~_c */
  for (int c = threadIdx.x; c < C; c += THREADS) {
    float s = (float)exp((double)pr[c] - mx - lse);
    g[c] += inv * (s * fys - yr[c] * ynorm);
  }
}

// p, y, dp (B,C)
extern "C" void yt_cuda_loss_backward(int kind, float *dp, const float *p, const float *y, int B, int C) {
  if (B <= 0 || C <= 0) return;
  float inv = 1.0f / (float)B;
  size_t n = (size_t)B * C;
  switch (kind) {
  case YT_LOSS_HINGE: LAUNCH(k_hinge_backward, blocks_for(n), THREADS, dp, p, y, n, inv); break;
  case YT_LOSS_SOFTMAX: LAUNCH(k_softmax_loss_backward, B, THREADS, dp, p, y, C, inv); break;
  default: LAUNCH(k_ce_backward, blocks_for(n), THREADS, dp, p, y, n, inv); break;
  }
}
