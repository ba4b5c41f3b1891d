/* steps.cu: the backend steps model.c and adam.c share (backend/cpu/ops.h's
 * twins): sum of squares, axpy, one tensor's Adam update, row gathers, frame
 * dequantization and the weights' moving average. Float operations in the twins' order (the library is
 * built with --fmad=false), sums in double. */
#include "backend/cuda/common.cuh"

enum { SUMSQ_BLOCKS = 1024 }; /* partial sums, then one block adds them */

__global__ static void k_sumsq_partial(double *part, const float *x, size_t n) {
  double s = 0;
  FOR_EACH(i, n) s += (double)x[i] * x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ static void k_sumsq_final(float *out, const double *part, int nparts) {
  double s = 0;
  for (int i = threadIdx.x; i < nparts; i += THREADS) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = (float)s;
}

// x (n)  out (1)
extern "C" void yt_cuda_sumsq(float *out, const float *x, size_t n) {
  if (!n) {
    CU(cudaMemsetAsync(out, 0, sizeof *out, yt_cuda_stream()));
    return;
  }
  unsigned blocks = blocks_for(n);
  if (blocks > SUMSQ_BLOCKS) blocks = SUMSQ_BLOCKS;
  double *part = (double *)yt_cuda_scratch(blocks * sizeof(double));
  if (!part) return; /* recorded */
  LAUNCH(k_sumsq_partial, blocks, THREADS, part, x, n);
  LAUNCH(k_sumsq_final, 1, THREADS, out, part, (int)blocks);
}

__global__ static void k_axpy(float *y, float a, const float *x, size_t n) {
  FOR_EACH(i, n) y[i] += a * x[i];
}

// x, y (n)
extern "C" void yt_cuda_axpy(float *y, float a, const float *x, size_t n) {
  if (n) LAUNCH(k_axpy, blocks_for(n), THREADS, y, a, x, n);
}

/* yt_l2_grad: the three kernels in the CPU twin's order (the device streams
 * memory fast enough that fusing them is not worth a fourth kernel) */
// g, w (n)  wsumsq, gsumsq (1)
extern "C" void yt_cuda_l2_grad(float *wsumsq, float *gsumsq, float *g, const float *w, float l2, size_t n) {
  yt_cuda_sumsq(wsumsq, w, n);
  yt_cuda_axpy(g, l2, w, n);
  yt_cuda_sumsq(gsumsq, g, n);
}

/* yt_adam_update: the clip factor from gsumsq (on the device: no host sync) */
__global__ static void k_adam(float *w, float *m, float *v, const float *g, const float *gsumsq, float clip,
                              size_t n, float lr_t, float b1, float b2, float eps) {
  const float one = 1.0f;
  float c1 = one - b1, c2 = one - b2;
  float num = 1.0f, denom = 1.0f;
  if (clip > 0.0f) {
    float norm = (float)sqrt((double)gsumsq[0]);
    num = clip;
    denom = norm > clip ? norm : clip;
  }
  FOR_EACH(i, n) {
    float gk = g[i] * num / denom;
    float mi = m[i] + (gk - m[i]) * c1;
    float vi = v[i] + (gk * gk - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    w[i] -= (mi * lr_t) / (sqrtf(vi) + eps);
  }
}

// w, m, v, g (n)  gsumsq (1)
extern "C" void yt_cuda_adam_update(float *w, float *m, float *v, const float *g, const float *gsumsq,
                                    float clip, size_t n, float lr_t, float b1, float b2, float eps) {
  if (n) LAUNCH(k_adam, blocks_for(n), THREADS, w, m, v, g, gsumsq, clip, n, lr_t, b1, b2, eps);
}

__global__ static void k_gather_rows(float *out, const float *x, const int32_t *idx, int N, int D) {
  FOR_EACH(i, (size_t)N * D) out[i] = x[(size_t)idx[i / D] * D + i % D];
}

// idx (N)  x (rows, D)  out (N, D)
extern "C" void yt_cuda_gather_rows(float *out, const float *x, const int32_t *idx, int N, int D) {
  if (N > 0 && D > 0) LAUNCH(k_gather_rows, blocks_for((size_t)N * D), THREADS, out, x, idx, N, D);
}

/* q scale + bias with two roundings (REFERENCE.md 1.6): __fmul_rn and
 * __fadd_rn are never fused, whatever the compiler flags */
__global__ static void k_dequantize_frames(float *out, const uint8_t *q, const int32_t *num_frames, int B,
                                           int F, int D, float scale, float bias) {
  FOR_EACH(i, (size_t)B * F * D) {
    int t = (int)(i / D % F), b = (int)(i / ((size_t)F * D));
    out[i] = t < frames_of(num_frames, b, F) ? __fadd_rn(__fmul_rn((float)q[i], scale), bias) : 0.0f;
  }
}

// q, out (B,F,D)  num_frames (B)
extern "C" void yt_cuda_dequantize_frames(float *out, const uint8_t *q, const int32_t *num_frames, int B,
                                          int F, int D, float scale, float bias) {
  if (B > 0 && F > 0 && D > 0)
    LAUNCH(k_dequantize_frames, blocks_for((size_t)B * F * D), THREADS, out, q, num_frames, B, F, D, scale,
           bias);
}

/* decay s + (1 - decay) w: two roundings per product and one for the sum, as
 * the CPU twin (__fmul_rn / __fadd_rn are never fused) */
__global__ static void k_ema_update(float *shadow, const float *w, float decay, size_t n) {
  const float one = 1.0f;
  float keep = decay, take = one - decay;
  FOR_EACH(i, n) shadow[i] = __fadd_rn(__fmul_rn(keep, shadow[i]), __fmul_rn(take, w[i]));
}

// shadow, w (n)
extern "C" void yt_cuda_ema_update(float *shadow, const float *w, float decay, size_t n) {
  if (n) LAUNCH(k_ema_update, blocks_for(n), THREADS, shadow, w, decay, n);
}
