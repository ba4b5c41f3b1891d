/* lstm.cu: lstm_cell.h's layers (LstmModel) as kernels: the time-major frame
 * copy and the pointwise BasicLSTMCell step, forward and backward, one thread
 * per (video, cell) doing lstm_cell.c's float operations in its order (the
 * library is built with --fmad=false). sigmoid and tanh go through expf, so
 * results differ from the CPU's by the math libraries' ulps. The products
 * x W_x and h W_h are matmul.cu's. Shapes as in lstm_cell.h. */
#include "backend/cuda/common.cuh"
#include "model/lstm_cell.h"

__device__ static float sigmoidf(float x) {
  return 1.0f / (1.0f + expf(-x));
}

/* lstm_cell.c's tanh_f: a Taylor series below 0.25, else (1 - e)/(1 + e)
 * with e = exp(-2|x|); the same float operations */
__device__ static float tanh_f(float x) {
  float a = fabsf(x);
  if (a < 0.25f) {
    float z = x * x;
    return x + x * z * (-1.0f / 3 + z * (2.0f / 15 + z * (-17.0f / 315 + z * (62.0f / 2835))));
  }
  float e = expf(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), x);
}

// x (B,F,D)  num_frames (B)  out (T,B,D)
__global__ static void k_time_major(float *out, const float *x, const int32_t *num_frames, int B, int F,
                                    int T, int D) {
  FOR_EACH(i, (size_t)T * B * D) {
    size_t row = i / D, d = i % D; /* t B + b */
    int b = (int)(row % B), t = (int)(row / B);
    out[i] = t < num_frames[b] ? x[((size_t)b * F + t) * D + d] : 0.0f;
  }
}

extern "C" void yt_cuda_time_major_forward(float *out, const float *x, const int32_t *num_frames, int B,
                                           int F, int T, int D) {
  if (T > 0 && B > 0 && D > 0)
    LAUNCH(k_time_major, blocks_for((size_t)T * B * D), THREADS, out, x, num_frames, B, F, T, D);
}

/* one thread per (b, k): gate columns k, H+k, 2H+k, 3H+k of row b */
__global__ static void k_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                                           const float *c_prev, const float *h_prev,
                                           const int32_t *num_frames, int t, int B, int H) {
  FOR_EACH(i, (size_t)B * H) {
    size_t b = i / H, k = i % H, G = (size_t)4 * H;
    float *a = act + b * G + k;
    if (!(t < num_frames[b])) { /* frozen: the state passes through */
      c[i] = c_prev[i];
      h[i] = h_prev[i];
      a[0] = a[H] = a[2 * H] = a[3 * H] = 0.0f;
      continue;
    }
    const float *xr = xw + b * G + k, *wr = hw + b * G + k;
    /* each sum first, as the CPU (act may be xw: the same four indices) */
    float pi = xr[0] + wr[0], pj = xr[H] + wr[H], pf = xr[2 * H] + wr[2 * H], po = xr[3 * H] + wr[3 * H];
    float si = sigmoidf(pi), tj = tanh_f(pj), sf = sigmoidf(pf + YT_LSTM_FORGET_BIAS), so = sigmoidf(po);
    a[0] = si, a[H] = tj, a[2 * H] = sf, a[3 * H] = so;
    float cv = c_prev[i] * sf + si * tj;
    c[i] = cv;
    h[i] = tanh_f(cv) * so;
  }
}

// xw, hw, act (B,4H)  c_prev, h_prev, c, h (B,H)  num_frames (B)
extern "C" void yt_cuda_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                                          const float *c_prev, const float *h_prev, const int32_t *num_frames,
                                          int t, int B, int H) {
  if (B > 0 && H > 0)
    LAUNCH(k_lstm_cell_forward, blocks_for((size_t)B * H), THREADS, c, h, act, xw, hw, c_prev, h_prev,
           num_frames, t, B, H);
}

__global__ static void k_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc,
                                            const float *dh, const float *act, const float *c,
                                            const float *c_prev, const int32_t *num_frames, int t, int B,
                                            int H) {
  FOR_EACH(i, (size_t)B * H) {
    size_t b = i / H, k = i % H, G = (size_t)4 * H;
    if (!(t < num_frames[b])) { /* c = c_prev, h = h_prev: the gradients pass through */
      if (dc_prev) dc_prev[i] += dc[i];
      if (dh_prev) dh_prev[i] += dh[i];
      continue;
    }
    const float *a = act + b * G + k;
    float si = a[0], tj = a[H], sf = a[2 * H], so = a[3 * H];
    float *dp = dpre + b * G + k;
    float tc = tanh_f(c[i]), g = dh[i];
    float dct = dc[i] + g * so * (1.0f - tc * tc);
    dp[0] += dct * tj * si * (1.0f - si);
    dp[H] += dct * si * (1.0f - tj * tj);
    dp[2 * H] += dct * c_prev[i] * sf * (1.0f - sf);
    dp[3 * H] += g * tc * so * (1.0f - so);
    if (dc_prev) dc_prev[i] += dct * sf;
  }
}

// dpre, act (B,4H)  dc, dh, c, c_prev, dc_prev, dh_prev (B,H)  num_frames (B)
extern "C" void yt_cuda_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc,
                                           const float *dh, const float *act, const float *c,
                                           const float *c_prev, const int32_t *num_frames, int t, int B,
                                           int H) {
  if (B > 0 && H > 0)
    LAUNCH(k_lstm_cell_backward, blocks_for((size_t)B * H), THREADS, dpre, dc_prev, dh_prev, dc, dh, act, c,
           c_prev, num_frames, t, B, H);
}
