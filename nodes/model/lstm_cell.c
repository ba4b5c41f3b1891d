/* lstm_cell.c: the LSTM layers on the CPU (see lstm_cell.h): plain loops in
 * float; the reference the CUDA kernels mirror. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif
#include "model/lstm_cell.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static float sigmoidf(float x) {
  return 1.0f / (1.0f + expf(-x));
}

/* tanh within 3 ulp of the exact value (glibc's tanhf: 1 to 2), about 4x
 * faster: glibc's tanhf goes through its slow expm1f, which took a fifth of a
 * training step. |x| < 0.25: Taylor series to x^9 (the x^11 term is below
 * 1e-8 relative); else (1 - e)/(1 + e) with e = exp(-2|x|) <= 0.61, so the
 * difference loses no precision. */
static float tanh_f(float x) {
  float a = fabsf(x);
  if (a < 0.25f) {
    float z = x * x;
    return x + x * z * (-1.0f / 3 + z * (2.0f / 15 + z * (-17.0f / 315 + z * (62.0f / 2835))));
  }
  float e = expf(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), x);
}

static int running(const int32_t *num_frames, int b, int t) {
  return t < num_frames[b];
}

// x (B,F,D)  num_frames (B)  out (T,B,D)
void yt_time_major_forward(float *out, const float *x, const int32_t *num_frames, int B, int F, int T,
                           int D) {
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      float *o = out + ((size_t)t * B + b) * D;
      if (running(num_frames, b, t))
        memcpy(o, x + ((size_t)b * F + t) * D, (size_t)D * sizeof *o);
      else
        memset(o, 0, (size_t)D * sizeof *o);
    }
}

// xw, hw, act (B,4H)  c_prev, h_prev, c, h (B,H)  num_frames (B)
void yt_lstm_cell_forward(float *c, float *h, float *act, const float *xw, const float *hw,
                          const float *c_prev, const float *h_prev, const int32_t *num_frames, int t, int B,
                          int H) {
  size_t G = (size_t)4 * H;
  for (int b = 0; b < B; b++) {
    float *a = act + b * G, *cr = c + (size_t)b * H, *hr = h + (size_t)b * H;
    const float *cp = c_prev + (size_t)b * H;
    if (!running(num_frames, b, t)) {
      memcpy(cr, cp, (size_t)H * sizeof *cr);
      memcpy(hr, h_prev + (size_t)b * H, (size_t)H * sizeof *hr);
      memset(a, 0, G * sizeof *a);
      continue;
    }
    const float *xr = xw + b * G, *wr = hw + b * G;
    for (size_t k = 0; k < G; k++) a[k] = xr[k] + wr[k]; /* in place when act == xw: same index */
    float *si = a, *tj = a + H, *sf = a + 2 * H, *so = a + 3 * H;
    for (int k = 0; k < H; k++) {
      si[k] = sigmoidf(si[k]);
      tj[k] = tanh_f(tj[k]);
      sf[k] = sigmoidf(sf[k] + YT_LSTM_FORGET_BIAS);
      so[k] = sigmoidf(so[k]);
      cr[k] = cp[k] * sf[k] + si[k] * tj[k];
      hr[k] = tanh_f(cr[k]) * so[k];
    }
  }
}

// dpre, act (B,4H)  dc, dh, c, c_prev, dc_prev, dh_prev (B,H)  num_frames (B)
void yt_lstm_cell_backward(float *dpre, float *dc_prev, float *dh_prev, const float *dc, const float *dh,
                           const float *act, const float *c, const float *c_prev, const int32_t *num_frames,
                           int t, int B, int H) {
  size_t G = (size_t)4 * H;
  for (int b = 0; b < B; b++) {
    size_t r = (size_t)b * H;
    if (!running(num_frames, b, t)) { /* c = c_prev, h = h_prev: the gradients pass through */
      if (dc_prev)
        for (int k = 0; k < H; k++) dc_prev[r + k] += dc[r + k];
      if (dh_prev)
        for (int k = 0; k < H; k++) dh_prev[r + k] += dh[r + k];
      continue;
    }
    const float *si = act + b * G, *tj = si + H, *sf = si + 2 * H, *so = si + 3 * H;
    float *di = dpre + b * G, *dj = di + H, *df = di + 2 * H, *dout = di + 3 * H;
    for (int k = 0; k < H; k++) {
      float tc = tanh_f(c[r + k]), g = dh[r + k];
      float dct = dc[r + k] + g * so[k] * (1.0f - tc * tc);
      di[k] += dct * tj[k] * si[k] * (1.0f - si[k]);
      dj[k] += dct * si[k] * (1.0f - tj[k] * tj[k]);
      df[k] += dct * c_prev[r + k] * sf[k] * (1.0f - sf[k]);
      dout[k] += g * tc * so[k] * (1.0f - so[k]);
      if (dc_prev) dc_prev[r + k] += dct * sf[k];
    }
  }
}
